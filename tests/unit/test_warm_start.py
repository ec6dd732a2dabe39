"""Refits from the previous fit's chains (hibayes.model.warm_start): real NumPyro sampling, small settings.

Known answers: the group effects of simulated data (as in test_models.py); the same posterior as a
cold fit of the same data within Monte Carlo error; a model whose sites changed shape is fitted
cold; and the warm sampler is one compiled program for every refit of the same shapes."""

import numpy as np
import pytest

from hibayes.config import FitConfig, ModelSpec
from hibayes.model import fit_spec
from hibayes.model.warm_start import WarmStart

TRUE_EFFECTS = np.array([-1.2, -0.3, 0.4, 1.3, 0.0])


def _features(seed: int, groups: int = 4, trials: int = 400, more_trials: int = 0) -> dict:
    """`trials` per group, then `more_trials` more (a new log): seeds give the same first trials."""
    p = 1 / (1 + np.exp(-TRUE_EFFECTS[:groups]))
    obs = np.random.default_rng(seed).binomial(trials, p) + np.random.default_rng(seed + 100).binomial(more_trials, p)
    n_total = np.full(groups, trials + more_trials, dtype=np.int32)
    return {"obs": obs.astype(np.int32), "n_total": n_total, "group_index": np.arange(groups, dtype=np.int32), "num_group": groups}


# A model whose cold fits of these data do not diverge (the two-level model's funnel does, warm or cold).
SPEC = ModelSpec("simplified_group_binomial_exponential", fit=FitConfig(samples=500, warmup=300, chains=4, warm_start_warmup=100))


def _fit(features: dict, warm: WarmStart | None = None, spec: ModelSpec = SPEC):
    return fit_spec(spec, features, {}, {}, "parallel", warm)


@pytest.fixture(scope="module")
def first_fit():
    return _fit(_features(seed=1))


def _lenient(state: WarmStart) -> WarmStart:
    """Held to an analysis's `r_hat: {threshold: 1.05}`: this funnel-shaped model's largest R-hat
    over 4 x 1000 draws is 1.007-1.016, warm or cold, around the 1.01 default."""
    return state.limits(max_r_hat=1.05, max_divergences=0)


def test_a_refit_on_new_data_starts_from_the_previous_chains_and_agrees_with_a_cold_fit(first_fit):
    assert first_fit.warm_state is not None and not first_fit.warm_started
    assert first_fit.warm_state.chains == 4 and first_fit.warm_state.inverse_mass_matrix.shape[0] == 4
    changed = _features(seed=1, more_trials=40)
    warm = _fit(changed, _lenient(first_fit.warm_state))
    cold = _fit(changed)
    assert warm.warm_started and warm.warmup == 100 and not cold.warm_started and cold.warmup == 300
    draws = warm.inference_data.posterior["group_effects"]
    assert draws.sizes["draw"] == 500 and draws.sizes["chain"] == 4  # as many draws kept as a cold fit
    warm_means = draws.mean(("chain", "draw")).values
    cold_means = cold.inference_data.posterior["group_effects"].mean(("chain", "draw")).values
    # Posterior sd of each logit is about 0.1 (400 trials); 2000 draws give a Monte Carlo error of a
    # few thousandths; 0.05 between two independent fits is generous and still far from a bias.
    np.testing.assert_allclose(warm_means, cold_means, atol=0.05)
    np.testing.assert_allclose(warm_means, TRUE_EFFECTS[:4], atol=0.25)
    assert int(warm.inference_data.sample_stats["diverging"].sum()) == 0


def test_a_model_whose_sites_changed_shape_is_fitted_cold(first_fit):
    """A fifth group (a new model in the data) changes the group effects' shape: no warm start."""
    result = _fit(_features(seed=3, groups=5), first_fit.warm_state)
    assert not result.warm_started and result.warmup == 300
    assert result.inference_data.posterior["group_effects"].shape[-1] == 5


def test_a_state_made_for_another_spec_or_chain_count_is_not_used(first_fit):
    other_spec = ModelSpec("two_level_group_binomial", fit=SPEC.fit)
    assert not _fit(_features(seed=2), first_fit.warm_state, other_spec).warm_started
    off = ModelSpec(SPEC.name, fit=FitConfig(samples=500, warmup=300, chains=4, warm_start=False))
    assert not _fit(_features(seed=2), first_fit.warm_state, off).warm_started


def test_a_warm_start_that_would_fail_the_analysis_checks_is_redone_cold(first_fit, caplog):
    """An impossible R-hat limit (below 1): the warm run is made, rejected and redone cold."""
    strict = first_fit.warm_state.limits(max_r_hat=0.5, max_divergences=0)
    with caplog.at_level("WARNING", logger="hibayes"):
        result = _fit(_features(seed=1, more_trials=40), strict)
    assert not result.warm_started and result.warmup == 300
    assert "R-hat" in caplog.text and "fitting cold" in caplog.text


def test_without_limits_a_warm_start_may_be_no_worse_than_the_fit_it_continues():
    state = WarmStart("d", {}, np.ones(4), np.ones((4, 1)), divergences=2, r_hat=1.004)
    assert (state.max_r_hat, state.max_divergences) == (None, None)
    limited = state.limits(max_r_hat=1.05, max_divergences=0)
    assert (limited.max_r_hat, limited.max_divergences, limited.divergences) == (1.05, 0, 2)


def test_the_state_round_trips_and_an_unreadable_one_means_cold(first_fit, tmp_path):
    path = tmp_path / "model.warm.npz"
    first_fit.warm_state.save(path)
    loaded = WarmStart.load(path)
    assert loaded.spec_digest == first_fit.warm_state.spec_digest
    assert (loaded.divergences, loaded.r_hat) == (first_fit.warm_state.divergences, first_fit.warm_state.r_hat)
    np.testing.assert_array_equal(loaded.step_size, first_fit.warm_state.step_size)
    for name, value in first_fit.warm_state.positions.items():
        np.testing.assert_array_equal(loaded.positions[name], value)
    path.write_bytes(b"not an npz file")
    assert WarmStart.load(path) is None
    assert WarmStart.load(tmp_path / "missing.warm.npz") is None


def test_warm_refits_of_the_same_shapes_share_one_compiled_sampler(first_fit):
    """The step size and mass matrix are arguments of the compiled program, not constants: a
    second warm refit from another state finds its sampler in the compilation cache."""
    import jax

    second = _fit(_features(seed=1, more_trials=20), _lenient(first_fit.warm_state))
    events: list[str] = []

    def record(name: str, **_: object) -> None:
        events.append(name)

    jax.monitoring.register_event_listener(record)
    try:
        third = _fit(_features(seed=1, more_trials=60), _lenient(second.warm_state))
    finally:
        jax.monitoring.unregister_event_listener(record)
    assert second.warm_started and third.warm_started
    assert events.count("/jax/compilation_cache/cache_misses") == 0
    assert events.count("/jax/compilation_cache/cache_hits") >= 1


def test_a_cold_fit_leaves_the_sampler_of_its_first_refit_compiled(tmp_path, caplog):
    """The first new log after `make demo` must not wait for the warm sampler to compile: the cold
    fit compiles it (into the persistent cache) before it returns. In a fresh cache, the first warm
    refit then compiles no chains program of its own."""
    import jax
    from jax._src import compilation_cache  # the cache's folder is fixed once it is first used

    previous = jax.config.jax_compilation_cache_dir
    compilation_cache.reset_cache()
    jax.config.update("jax_compilation_cache_dir", str(tmp_path))
    small = ModelSpec(SPEC.name, fit=FitConfig(samples=100, warmup=100, chains=4, warm_start_warmup=50))
    try:
        first = _fit(_features(seed=1, groups=3), spec=small)
        with caplog.at_level("DEBUG", logger="jax._src.compiler"):
            # 100 draws: the point is the compile, not the draws' quality, so any R-hat is kept.
            warm = _fit(_features(seed=1, groups=3, more_trials=20), first.warm_state.limits(2.0, 100), small)
    finally:
        compilation_cache.reset_cache()
        jax.config.update("jax_compilation_cache_dir", previous)
    assert warm.warm_started
    misses = [r.getMessage() for r in caplog.records if "CACHE MISS" in r.getMessage()]
    hits = [r.getMessage() for r in caplog.records if "cache hit" in r.getMessage()]
    # JAX runs `pmap` as a jit of `_fun` (jax 0.10): that program is the chains' sampler. Without
    # the cold fit's compile it is a miss here (and the rest are tiny eager programs).
    assert not [m for m in misses if "'jit__fun'" in m], misses
    assert [h for h in hits if "'jit__fun'" in h], hits
