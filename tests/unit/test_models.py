"""Real NumPyro sampling on simulated data with known parameters (small settings, cached compiles)."""

import numpy as np
import pytest

from hibayes.analysis_state import ModelAnalysisState
from hibayes.check import run_checker
from hibayes.config import FitConfig, ModelSpec
from hibayes.model import MODELS, check_features, fit_spec
from hibayes.model.models import MissingFeatureError

TRUE_EFFECTS = np.array([-1.2, -0.3, 0.4, 1.3])  # logit accuracy of four groups
N_PER_GROUP = 400


def _simulated_features(seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    n_total = np.full(len(TRUE_EFFECTS), N_PER_GROUP, dtype=np.int32)
    obs = rng.binomial(n_total, 1 / (1 + np.exp(-TRUE_EFFECTS))).astype(np.int32)
    return {"obs": obs, "n_total": n_total, "group_index": np.arange(4, dtype=np.int32), "num_group": 4}


@pytest.mark.parametrize(
    "name, kwargs",
    [("simplified_group_binomial_exponential", {}), ("two_level_group_binomial", {"prior_sigma_group_scale": 1.0})],
)
def test_group_binomial_models_recover_known_group_effects(name, kwargs):
    spec = ModelSpec(name, kwargs=kwargs, fit=FitConfig(samples=500, warmup=500, chains=4, target_accept=0.95))
    result = fit_spec(spec, _simulated_features(), {"group": list("abcd")}, {"group_effects": ["group"]}, "parallel")
    posterior = result.inference_data.posterior["group_effects"]
    assert list(posterior.coords["group"].values) == list("abcd")
    means = posterior.mean(("chain", "draw")).values
    # With 400 trials per group the posterior sd of a logit is about 0.1; partial pooling pulls the
    # extremes in slightly. 0.25 is about 2.5 posterior sds.
    np.testing.assert_allclose(means, TRUE_EFFECTS, atol=0.25)
    assert np.all(np.diff(means) > 0), "group order must be recovered"
    assert "obs" in result.inference_data.log_likelihood


def test_missing_features_are_named():
    with pytest.raises(MissingFeatureError, match="missing features: num_group, group_index"):
        check_features({"obs": 1, "n_total": 2}, ["obs", "num_group", "group_index", "n_total"])
    model = MODELS.build("two_level_group_binomial")
    with pytest.raises(MissingFeatureError, match="group_index"):
        model({"obs": None, "n_total": 1, "num_group": 1})


def test_counts_above_their_totals_are_an_error_not_a_silent_bad_fit():
    """Summed 0..10 ratings in a binomial model: the likelihood is zero, which NUTS would only
    show as divergences; the model says what is wrong instead."""
    from numpyro import handlers

    features = {**_simulated_features(), "obs": np.array([3, 444, 5, 6], dtype=np.int32)}
    for name in ("two_level_group_binomial", "simplified_group_binomial_exponential"):
        with pytest.raises(ValueError, match=r"0 <= obs <= n_total; 1 of 4 rows .*row 1: obs 444, n_total 400"):
            handlers.seed(MODELS.build(name), 0)(features)
    handlers.seed(MODELS.build("two_level_group_binomial"), 0)({**features, "obs": None})  # prior predictive


def test_checkers_pass_a_good_fit_and_ignore_constant_sites():
    import numpyro
    import numpyro.distributions as dist

    def with_constant_site(features):
        numpyro.deterministic("reference_level", 0.0)  # a dummy-coded reference: constant, r_hat NaN
        mu = numpyro.sample("mu", dist.Normal(0, 1))
        numpyro.sample("obs", dist.Normal(mu, 1), obs=features["obs"])

    from hibayes.model import fit

    result = fit(with_constant_site, {"obs": np.random.default_rng(0).normal(0.5, 1, 50)}, FitConfig(samples=1500, warmup=500, chains=4))
    state = ModelAnalysisState("m", with_constant_site, None, {}, inference_data=result.inference_data, is_fitted=True)
    outcomes = {name: run_checker(name, {}, state) for name in ("r_hat", "ess_bulk", "divergences", "bfmi")}
    assert outcomes["r_hat"].status == "pass" and outcomes["r_hat"].value < 1.01
    assert outcomes["divergences"].status == "pass" and outcomes["divergences"].value == 0
    assert outcomes["bfmi"].status == "pass" and outcomes["bfmi"].value > 0.2  # really computed, not NA
    assert outcomes["ess_bulk"].value > 300
    strict = run_checker("ess_bulk", {"threshold": 1e9}, state)
    assert strict.status == "fail" and "min ess_bulk" in strict.message


def test_new_data_of_the_same_shapes_reuses_the_compiled_sampler():
    """A new log changes the data, not its shapes: the sampler must come from the compilation
    cache (data passed to the compiled program as arguments, not baked in as constants)."""
    import jax

    events: list[str] = []

    def record(name: str, **_: object) -> None:
        events.append(name)

    spec = ModelSpec("two_level_group_binomial", fit=FitConfig(samples=50, warmup=50, chains=4))
    fit_spec(spec, _simulated_features(seed=1), {}, {}, "parallel")
    jax.monitoring.register_event_listener(record)
    try:
        fit_spec(spec, _simulated_features(seed=2), {}, {}, "parallel")
    finally:
        jax.monitoring.unregister_event_listener(record)
    assert events.count("/jax/compilation_cache/cache_misses") == 0
    assert events.count("/jax/compilation_cache/cache_hits") >= 1
