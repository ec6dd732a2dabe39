"""Fitting a model with NumPyro NUTS into ArviZ InferenceData."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from hibayes import idata as idata_api
from hibayes.config import INIT_STRATEGIES, FitConfig, ModelSpec
from hibayes.model.aggregate import RowGroups, group_identical_rows, weighted
from hibayes.model.pointwise import OBSERVED_SITE, weighted_log_likelihood
from hibayes.model import warm_start
from hibayes.model.models import MODELS
from hibayes.model.warm_start import WarmStart

log = logging.getLogger(__name__)



@dataclass
class FitResult:
    inference_data: Any
    seconds: float
    chain_method: str
    warm_state: WarmStart | None = None  # where this fit's chains ended, for the next refit
    warm_started: bool = False
    warmup: int = 0


def fit(
    model_fn: Any,
    features: dict[str, Any],
    fit_config: FitConfig,
    coords: dict[str, list[Any]] | None = None,
    dims: dict[str, list[str]] | None = None,
    chain_method: str = "parallel",
    warm: WarmStart | None = None,
    spec_digest: str = "",
    device_type: str = "cpu",
) -> FitResult:
    """NUTS (or HMC) on `features`. With `fit_config.aggregate_rows`, identical rows are sampled once with
    their log-likelihood weighted by their count (same posterior, less work; see
    `hibayes.model.aggregate`), and the row-shaped results are expanded back afterwards, except the
    pointwise log-likelihood, stored weighted (see `hibayes.model.pointwise`). With `warm` (the
    previous fit's chains, see `hibayes.model.warm_start`) and `fit_config.warm_start`, the chains
    start where those ended, after a short warmup; `spec_digest` labels the state returned for
    the next refit. The chains run on `device_type` devices (`platform.device_type`)."""
    import jax

    from hibayes.model.platform import pinned_devices

    pinned = pinned_devices(device_type)
    with contextlib.nullcontext() if pinned is None else jax.default_device(pinned[0]):
        return _fit_on(model_fn, features, fit_config, coords, dims, chain_method, warm, spec_digest, pinned)


def _fit_on(
    model_fn: Any, features: dict[str, Any], fit_config: FitConfig, coords: dict[str, list[Any]] | None,
    dims: dict[str, list[str]] | None, chain_method: str, warm: WarmStart | None, spec_digest: str, pinned: list | None,
) -> FitResult:
    import jax

    groups = group_identical_rows(model_fn, features) if fit_config.aggregate_rows else None
    sampled_model, sampled_features = (
        (weighted(model_fn, groups.counts), groups.grouped_features(features)) if groups else (model_fn, features)
    )

    data_as_arguments = False
    if not fit_config.progress_bar:
        model_over_arrays, arrays = _with_static_sizes(sampled_model, sampled_features)
        if _traces_on_abstract_data(model_over_arrays, arrays):
            sampled_model, sampled_features, data_as_arguments = model_over_arrays, arrays, True
    chain_method = _feasible_chain_method(chain_method, fit_config.chains, len(pinned) if pinned else jax.local_device_count())
    mcmc_chain_method: Any = chain_method
    if chain_method == "parallel" and (data_as_arguments or pinned):
        devices = pinned[: fit_config.chains] if pinned else None
        mcmc_chain_method = functools.partial(_pmap_chains, data_as_arguments=data_as_arguments, devices=devices)
    started = time.perf_counter()
    mcmc, run_health = None, None
    if warm is not None and _can_warm_start(warm, fit_config, chain_method):
        mcmc, run_health = _warm_run(sampled_model, sampled_features, fit_config, mcmc_chain_method, data_as_arguments, warm)
    warm_started = mcmc is not None
    if mcmc is None:
        mcmc = _make_mcmc(sampled_model, fit_config, mcmc_chain_method, data_as_arguments, fit_config.warmup)
        mcmc.run(jax.random.PRNGKey(fit_config.seed), sampled_features, extra_fields=EXTRA_FIELDS)
    # A model's own dims win: the three-level models' effects live on nested levels that the
    # analysis-wide dims (shared with, say, a linear model of the same columns) cannot describe.
    dims = {**(dims or {}), **getattr(model_fn, "dims", {})}
    inference_data = idata_api.from_numpyro(mcmc, coords or {}, dims)
    pointwise = _weighted_pointwise(model_fn, features, groups, inference_data)
    if groups:
        # A weighted log-likelihood already stands for every original row: only the other
        # row-shaped groups (observed data, per-row sites) are expanded back.
        expanded = tuple(g for g in idata_api.ROW_GROUPS if not (pointwise and g == "log_likelihood"))
        inference_data = idata_api.expand_rows(inference_data, groups.row_sites, groups.inverse, expanded)
        log.info("sampled %d distinct rows standing for %d", groups.n_distinct, groups.n_rows)
    if pointwise is not None:
        inference_data = idata_api.set_weighted_log_likelihood(inference_data, OBSERVED_SITE, *pointwise)
    next_warm = warm_start.from_mcmc(mcmc, spec_digest, run_health) if spec_digest else None
    pmapped = isinstance(mcmc_chain_method, functools.partial) and mcmc_chain_method.func is _pmap_chains
    if next_warm is not None and not warm_started and fit_config.warm_start and pmapped:
        _compile_warm_sampler(sampled_model, sampled_features, fit_config, next_warm, mcmc_chain_method)
    warmup = mcmc.num_warmup
    return FitResult(inference_data, time.perf_counter() - started, chain_method, next_warm, warm_started, warmup)


EXTRA_FIELDS = ("potential_energy", "energy", "diverging")


def _make_mcmc(model_fn: Any, fit_config: FitConfig, chain_method: Any, data_as_arguments: bool, num_warmup: int, warm: bool = False) -> Any:
    from numpyro import infer

    if fit_config.init_strategy not in INIT_STRATEGIES:
        raise ValueError(f"fit.init_strategy '{fit_config.init_strategy}' is not one of {INIT_STRATEGIES}")
    init = getattr(infer, f"init_to_{fit_config.init_strategy}")()
    method = fit_config.method.upper()
    if method not in ("NUTS", "HMC"):
        raise ValueError(f"fit.method '{fit_config.method}' is not NUTS or HMC")
    kernel_class = getattr(infer, method)
    options = {"target_accept_prob": fit_config.target_accept, "max_tree_depth": fit_config.max_tree_depth} if method == "NUTS" else {}
    if warm:
        kernel_class, options = warm_start.warm_nuts(kernel_class), {**options, "adapt_mass_matrix": False}
    kernel = kernel_class(model_fn, init_strategy=init, **options)
    return infer.MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=fit_config.samples,
        num_chains=fit_config.chains,
        chain_method=chain_method,
        progress_bar=fit_config.progress_bar,
        jit_model_args=data_as_arguments,
    )


def _can_warm_start(warm: WarmStart, fit_config: FitConfig, chain_method: str) -> bool:
    # Vectorized chains initialise all chains in one vmapped call that the warm kernel cannot feed.
    return fit_config.warm_start and warm.chains == fit_config.chains and chain_method in ("parallel", "sequential")


def _warm_run(
    model_fn: Any, features: dict[str, Any], fit_config: FitConfig, chain_method: Any, data_as_arguments: bool, warm: WarmStart
) -> tuple[Any, tuple[int, float] | None]:
    """The MCMC run started from `warm` with a short warmup and its `warm_start.health`, or
    (None, None) when the model no longer has the stored chains' shapes, or its draws are not as
    good as a cold fit's should be."""
    import jax

    num_warmup = min(fit_config.warmup, fit_config.warm_start_warmup)
    mcmc = _make_mcmc(model_fn, fit_config, chain_method, data_as_arguments, num_warmup, warm=True)
    try:
        mcmc.run(jax.random.PRNGKey(fit_config.seed), features, extra_fields=EXTRA_FIELDS, init_params=warm.chain_arguments())
    except warm_start.WarmStartMismatch as err:
        log.info("no warm start: %s", err)
        return None, None
    run_health = warm_start.health(mcmc)
    problem = warm_start.rejection(run_health, warm)
    if problem:
        log.warning("a warm start from the previous fit %s; fitting cold", problem)
        return None, None
    return mcmc, run_health


def _weighted_pointwise(model_fn: Any, features: dict[str, Any], groups: RowGroups | None, inference_data: Any) -> Any:
    """The fit's weighted pointwise log-likelihood (see `hibayes.model.pointwise`), or None."""
    if OBSERVED_SITE not in idata_api.group_variables(inference_data, "log_likelihood"):
        return None
    row_log_likelihood = idata_api.values(inference_data, "log_likelihood", OBSERVED_SITE)
    draws = idata_api.flat_draws(inference_data)
    return weighted_log_likelihood(model_fn, features, groups, draws, row_log_likelihood)


def fit_spec(
    spec: ModelSpec, features: dict[str, Any], coords: dict, dims: dict, chain_method: str, warm: WarmStart | None = None,
    device_type: str = "cpu",
) -> FitResult:
    """Fit `spec`; from `warm` (the previous fit's chains) when it was made for the same spec."""
    digest = spec.digest()
    usable = warm if warm is not None and warm.spec_digest == digest else None
    return fit(MODELS.build(spec.name, spec.kwargs), features, spec.fit, coords, dims, chain_method, usable, digest, device_type)


# Data passed into the compiled sampler as arguments, not closed over: closed-over arrays become
# constants of the XLA program, so the persistent compilation cache would miss whenever the data
# changes, even when its shapes do not (a new log would recompile every model: 5-10 s each).
# NumPyro does this itself for sequential and vectorized chains (`jit_model_args`), not for
# parallel ones, whose pmap closes over the arguments.


def _with_static_sizes(model_fn: Any, features: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """`model_fn` over the array features only, the plain-Python ones (level counts such as
    `num_group`, which size plates and must stay static) bound in; and those array features."""
    arrays = {name: value for name, value in features.items() if getattr(value, "ndim", 0) > 0}
    sizes = {name: value for name, value in features.items() if name not in arrays}

    def model_with_sizes(array_features: dict[str, Any]) -> None:
        model_fn({name: array_features[name] if name in array_features else sizes[name] for name in features})

    model_with_sizes.__name__ = getattr(model_fn, "__name__", "model")
    return model_with_sizes, arrays


def _traces_on_abstract_data(model_fn: Any, arrays: dict[str, Any]) -> bool:
    """Whether the model runs on data known only by its shapes. A model that reads values to
    build its structure (a three-level model deriving its nesting from plain index arrays) cannot,
    and gets its data as constants instead; its own errors, if any, surface when it is sampled."""
    import jax
    from numpyro import handlers

    try:
        jax.eval_shape(lambda data: handlers.seed(model_fn, 0)(data), arrays)
    except Exception:  # noqa: BLE001 - any failure here means: sample with the data as constants
        return False
    return True


def _pmap_chains(single_chain: functools.partial, data_as_arguments: bool, devices: list | None) -> Any:
    """NumPyro's "parallel" chains (a callable `chain_method` receives its per-chain function, a
    partial over the model's arguments), on `devices` (None: JAX's default ones), with the model's
    arguments passed to `pmap` as arguments when `data_as_arguments`."""
    chains, extra = _chains_over_pmap(single_chain, data_as_arguments, devices)
    return lambda map_args: chains(map_args, *extra)


def _compile_only(single_chain: functools.partial, data_as_arguments: bool, devices: list | None) -> Any:
    """`_pmap_chains` that compiles the chains' program (into the persistent cache) and stops the
    run there, by raising `_SamplerCompiled`."""
    chains, extra = _chains_over_pmap(single_chain, data_as_arguments, devices)

    def compile_and_stop(map_args: Any) -> Any:
        chains.lower(map_args, *extra).compile()
        raise _SamplerCompiled

    return compile_and_stop


class _SamplerCompiled(Exception):
    """Raised by `_compile_only` once the sampler is compiled: nothing is sampled."""


def _chains_over_pmap(single_chain: functools.partial, data_as_arguments: bool, devices: list | None) -> tuple[Any, tuple]:
    """The pmapped chains and the arguments that follow the per-chain ones."""
    import jax

    if not data_as_arguments:
        return jax.pmap(single_chain, devices=devices), ()
    bound = dict(single_chain.keywords)
    args, kwargs = bound.pop("args"), bound.pop("kwargs")

    def one_chain(map_args: Any, args: Any, kwargs: Any) -> Any:
        return single_chain.func(map_args, args=args, kwargs=kwargs, **bound)

    return jax.pmap(one_chain, in_axes=(0, None, None), devices=devices), (args, kwargs)


def _compile_warm_sampler(model_fn: Any, features: dict[str, Any], fit_config: FitConfig, warm: WarmStart, chain_method: Any) -> None:
    """Compile the sampler that the next refit from `warm` will run, without sampling: a cold fit
    pays its compile now, so that the first refit after it (a new log, minutes later) does not.
    `chain_method` is the fit's `_pmap_chains` partial."""
    import jax

    num_warmup = min(fit_config.warmup, fit_config.warm_start_warmup)
    compile_only = functools.partial(_compile_only, **chain_method.keywords)
    mcmc = _make_mcmc(model_fn, fit_config, compile_only, chain_method.keywords["data_as_arguments"], num_warmup, warm=True)
    try:
        mcmc.run(jax.random.PRNGKey(fit_config.seed), features, extra_fields=EXTRA_FIELDS, init_params=warm.chain_arguments())
    except _SamplerCompiled:
        pass


def _feasible_chain_method(requested: str, chains: int, devices: int) -> str:
    # NumPyro silently falls back to sequential chains (one recompile per chain) when there are
    # fewer devices than chains; vectorized chains on one device are the faster fallback.
    if requested == "parallel" and chains > devices:
        log.warning("%d chains but %d host devices: running chains vectorized", chains, devices)
        return "vectorized"
    return requested
