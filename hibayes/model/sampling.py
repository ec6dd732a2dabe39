"""Fitting a model with NumPyro NUTS into ArviZ InferenceData."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

from hibayes import idata as idata_api
from hibayes.config import INIT_STRATEGIES, FitConfig, ModelSpec
from hibayes.model.aggregate import RowGroups, group_identical_rows, weighted
from hibayes.model.pointwise import OBSERVED_SITE, weighted_log_likelihood
from hibayes.model.models import MODELS

log = logging.getLogger(__name__)



@dataclass
class FitResult:
    inference_data: Any
    seconds: float
    chain_method: str


def fit(
    model_fn: Any,
    features: dict[str, Any],
    fit_config: FitConfig,
    coords: dict[str, list[Any]] | None = None,
    dims: dict[str, list[str]] | None = None,
    chain_method: str = "parallel",
) -> FitResult:
    """NUTS (or HMC) on `features`. With `fit_config.aggregate_rows`, identical rows are sampled once with
    their log-likelihood weighted by their count (same posterior, less work; see
    `hibayes.model.aggregate`), and the row-shaped results are expanded back afterwards, except the
    pointwise log-likelihood, stored weighted (see `hibayes.model.pointwise`)."""
    import jax
    from numpyro import infer

    groups = group_identical_rows(model_fn, features) if fit_config.aggregate_rows else None
    sampled_model, sampled_features = (
        (weighted(model_fn, groups.counts), groups.grouped_features(features)) if groups else (model_fn, features)
    )

    data_as_arguments = False
    if not fit_config.progress_bar:
        model_over_arrays, arrays = _with_static_sizes(sampled_model, sampled_features)
        if _traces_on_abstract_data(model_over_arrays, arrays):
            sampled_model, sampled_features, data_as_arguments = model_over_arrays, arrays, True
    if fit_config.init_strategy not in INIT_STRATEGIES:
        raise ValueError(f"fit.init_strategy '{fit_config.init_strategy}' is not one of {INIT_STRATEGIES}")
    init = getattr(infer, f"init_to_{fit_config.init_strategy}")()
    if fit_config.method.upper() == "NUTS":
        kernel = infer.NUTS(
            sampled_model,
            target_accept_prob=fit_config.target_accept,
            max_tree_depth=fit_config.max_tree_depth,
            init_strategy=init,
        )
    elif fit_config.method.upper() == "HMC":
        kernel = infer.HMC(sampled_model, init_strategy=init)
    else:
        raise ValueError(f"fit.method '{fit_config.method}' is not NUTS or HMC")

    chain_method = _feasible_chain_method(chain_method, fit_config.chains, jax.local_device_count())
    mcmc = infer.MCMC(
        kernel,
        num_warmup=fit_config.warmup,
        num_samples=fit_config.samples,
        num_chains=fit_config.chains,
        chain_method=_pmap_with_data_as_arguments if data_as_arguments and chain_method == "parallel" else chain_method,
        progress_bar=fit_config.progress_bar,
        jit_model_args=data_as_arguments,
    )
    started = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(fit_config.seed), sampled_features, extra_fields=("potential_energy", "energy", "diverging"))
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
    return FitResult(inference_data, time.perf_counter() - started, chain_method)


def _weighted_pointwise(model_fn: Any, features: dict[str, Any], groups: RowGroups | None, inference_data: Any) -> Any:
    """The fit's weighted pointwise log-likelihood (see `hibayes.model.pointwise`), or None."""
    if OBSERVED_SITE not in idata_api.group_variables(inference_data, "log_likelihood"):
        return None
    row_log_likelihood = idata_api.values(inference_data, "log_likelihood", OBSERVED_SITE)
    draws = idata_api.flat_draws(inference_data)
    return weighted_log_likelihood(model_fn, features, groups, draws, row_log_likelihood)


def fit_spec(spec: ModelSpec, features: dict[str, Any], coords: dict, dims: dict, chain_method: str) -> FitResult:
    return fit(MODELS.build(spec.name, spec.kwargs), features, spec.fit, coords, dims, chain_method)


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


def _pmap_with_data_as_arguments(single_chain: functools.partial) -> Any:
    """NumPyro's "parallel" chains (a callable `chain_method` receives its per-chain function, a
    partial over the model's arguments), with those arguments passed to `pmap` as arguments."""
    import jax

    bound = dict(single_chain.keywords)
    args, kwargs = bound.pop("args"), bound.pop("kwargs")

    def one_chain(map_args: Any, args: Any, kwargs: Any) -> Any:
        return single_chain.func(map_args, args=args, kwargs=kwargs, **bound)

    return lambda map_args: jax.pmap(one_chain, in_axes=(0, None, None))(map_args, args, kwargs)


def _feasible_chain_method(requested: str, chains: int, devices: int) -> str:
    # NumPyro silently falls back to sequential chains (one recompile per chain) when there are
    # fewer devices than chains; vectorized chains on one device are the faster fallback.
    if requested == "parallel" and chains > devices:
        log.warning("%d chains but %d host devices: running chains vectorized", chains, devices)
        return "vectorized"
    return requested
