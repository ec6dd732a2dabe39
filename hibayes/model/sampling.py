"""Fitting a model with NumPyro NUTS into ArviZ InferenceData."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from hibayes import idata as idata_api
from hibayes.config import FitConfig, ModelSpec
from hibayes.model.aggregate import group_identical_rows, weighted
from hibayes.model.pointwise import per_trial_log_likelihood
from hibayes.model.models import MODELS

log = logging.getLogger(__name__)

INIT_STRATEGIES = ("median", "mean", "uniform")


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
    `hibayes.model.aggregate`), and the row-shaped results are expanded back afterwards."""
    import jax
    from numpyro import infer

    groups = group_identical_rows(model_fn, features) if fit_config.aggregate_rows else None
    sampled_model, sampled_features = (
        (weighted(model_fn, groups.counts), groups.grouped_features(features)) if groups else (model_fn, features)
    )

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
        chain_method=chain_method,
        progress_bar=fit_config.progress_bar,
    )
    started = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(fit_config.seed), sampled_features, extra_fields=("potential_energy", "energy", "diverging"))
    # A model's own dims win: the three-level models' effects live on nested levels that the
    # analysis-wide dims (shared with, say, a linear model of the same columns) cannot describe.
    dims = {**(dims or {}), **getattr(model_fn, "dims", {})}
    inference_data = idata_api.from_numpyro(mcmc, coords or {}, dims)
    if groups:
        inference_data = idata_api.expand_rows(inference_data, groups.row_sites, groups.inverse)
        log.info("sampled %d distinct rows standing for %d", groups.n_distinct, groups.n_rows)
    per_trial = per_trial_log_likelihood(
        model_fn, features, idata_api.flat_draws(inference_data), fit_config.chains
    )
    if per_trial is not None:
        inference_data = idata_api.replace_log_likelihood(inference_data, "obs", per_trial, "trial")
    return FitResult(inference_data, time.perf_counter() - started, chain_method)


def fit_spec(spec: ModelSpec, features: dict[str, Any], coords: dict, dims: dict, chain_method: str) -> FitResult:
    return fit(MODELS.build(spec.name, spec.kwargs), features, spec.fit, coords, dims, chain_method)


def _feasible_chain_method(requested: str, chains: int, devices: int) -> str:
    # NumPyro silently falls back to sequential chains (one recompile per chain) when there are
    # fewer devices than chains; vectorized chains on one device are the faster fallback.
    if requested == "parallel" and chains > devices:
        log.warning("%d chains but %d host devices: running chains vectorized", chains, devices)
        return "vectorized"
    return requested
