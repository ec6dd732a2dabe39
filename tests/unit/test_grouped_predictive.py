"""Predictive checks of identical rows drawn as counts of values (`hibayes.model.grouped_predictive`):
the same probabilities as the ordinal likelihood's own formula, counts that are exactly the
per-row draws' histograms, the checkers' statistics as on per-row draws within Monte Carlo error,
and stored arrays that grow with the distinct rows, not the rows.

No NUTS fit: the "posterior" is a set of prior draws (the checkers only need draws of the latent
sites), so each test costs a compiled `Predictive`, not a sampler."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from scipy.special import expit

from hibayes import idata as idata_api
from hibayes.analysis_state import ModelAnalysisState
from hibayes.check import run_checker
from hibayes.config import FitConfig, ModelSpec
from hibayes.model import grouped_predictive
from hibayes.model.aggregate import group_identical_rows
from tests.unit.test_aggregate import judge_features, ordinal_model

DRAWS = 200
CONFIG = FitConfig(samples=DRAWS, warmup=100, chains=2, seed=3)


@functools.cache
def parameter_draws(n_rows: int) -> idata_api.InferenceData:
    """DRAWS draws of the ordinal model's latent sites (its prior), as a one-chain posterior."""
    from numpyro.infer import Predictive
    import jax

    features = {**judge_features(n=n_rows), "obs": None}
    samples = Predictive(ordinal_model(), num_samples=DRAWS)(jax.random.PRNGKey(7), features)
    return idata_api.from_draws({"posterior": {n: np.asarray(v) for n, v in samples.items() if n != "obs"}}, {}, {})


def state(aggregate: bool, replicate: int = 1, n_rows: int = 400) -> ModelAnalysisState:
    base = judge_features(n=n_rows)
    features = {name: np.tile(value, replicate) if np.ndim(value) else value for name, value in base.items()}
    spec = ModelSpec("ordered_logistic_model", fit=dataclasses.replace(CONFIG, aggregate_rows=aggregate))
    return ModelAnalysisState(
        "m", ordinal_model(), spec, features, {}, {}, inference_data=parameter_draws(n_rows).copy(), is_fitted=True
    )


def test_value_probabilities_are_the_ordered_logistic_ones():
    features = judge_features()
    groups = group_identical_rows(ordinal_model(), features)
    grouped = {**groups.grouped_features(features), "obs": None}
    draws = idata_api.flat_draws(parameter_draws(400))
    values, probabilities = grouped_predictive.value_probabilities(ordinal_model(), grouped, groups.n_distinct, draws)
    np.testing.assert_array_equal(values, np.arange(5))
    # P(y = k) = sigmoid(c_k - eta) - sigmoid(c_{k-1} - eta), eta = intercept + grader effect.
    eta = draws["intercept"][:, None] + draws["grader_effects"][:, grouped["grader_index"]]
    cumulative = expit(draws["cutpoints"][:, None, :] - eta[..., None])
    bounds = np.concatenate([np.zeros(eta.shape + (1,)), cumulative, np.ones(eta.shape + (1,))], axis=-1)
    np.testing.assert_allclose(probabilities, np.diff(bounds, axis=-1), atol=2e-5)


def test_per_row_view_of_counts_is_the_counts_and_gives_the_same_statistics(tmp_path, monkeypatch):
    groups = group_identical_rows(ordinal_model(), judge_features())
    probabilities = np.random.default_rng(0).dirichlet(np.ones(5), size=(30, groups.n_distinct))
    counts = grouped_predictive.value_counts(probabilities, groups, 1)
    assert counts.shape == (30, groups.n_distinct, 5)
    np.testing.assert_array_equal(counts.sum(axis=-1), np.broadcast_to(groups.counts, (30, groups.n_distinct)))
    counted = idata_api.ValueCounts(np.arange(5, dtype=np.int32), counts[None], groups.inverse)
    idata = idata_api.from_value_counts("posterior_predictive", "obs", counted, 5, {}, {})
    obs = idata.posterior_predictive["obs"]
    assert not obs.variable._in_memory  # nothing (draws x rows) until read
    rows = obs.values[0]
    assert rows.shape == (30, 400)
    for draw in (0, 17):
        for j in range(groups.n_distinct):
            np.testing.assert_array_equal(np.bincount(rows[draw, groups.inverse == j], minlength=5), counts[draw, j])
    # Many distinct rows are shuffled by one sort instead of one by one: the same counts.
    monkeypatch.setattr(idata_api, "MAX_SHUFFLED_RUNS", 0)
    sorted_rows = idata_api.from_value_counts("posterior_predictive", "obs", counted, 5, {}, {}).posterior_predictive["obs"].values[0]
    for j in range(groups.n_distinct):
        np.testing.assert_array_equal(np.sort(sorted_rows[:, groups.inverse == j]), np.sort(rows[:, groups.inverse == j]))
    monkeypatch.undo()
    # A slice reads the same values as the whole; the order within identical rows varies by draw.
    np.testing.assert_array_equal(obs.isel(draw=17, obs_dim_0=slice(100, 200)).values[0], rows[17, 100:200])
    assert not all(np.array_equal(rows[0, groups.inverse == j], rows[1, groups.inverse == j]) for j in range(groups.n_distinct))
    np.testing.assert_allclose(counted.draw_means()[0], rows.mean(axis=1), rtol=1e-12)
    q = np.array([0.05, 0.37, 0.5, 0.95])
    np.testing.assert_allclose(counted.quantiles(q), np.quantile(rows, q), rtol=1e-12)
    divisor = 1.0 + groups.inverse % 3  # per-row trials, the same for identical rows: proportions
    np.testing.assert_allclose(counted.draw_means(divisor)[0], (rows / divisor).mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(counted.quantiles(q, divisor), np.quantile(rows / divisor, q), rtol=1e-12)
    # Stored as counts, read back with the same per-row view.
    idata.add_groups(posterior={"x": np.zeros((1, 30))})
    idata_api.save(idata, tmp_path / "fit.nc", {})
    import xarray as xr

    with xr.open_dataset(tmp_path / "fit.nc", group="posterior_predictive") as stored:
        assert set(stored.data_vars) == {"obs_value_counts", "obs_row_to_distinct"}
    assert "obs" in idata.posterior_predictive  # the caller's object keeps its view
    np.testing.assert_array_equal(idata_api.load(tmp_path / "fit.nc").posterior_predictive["obs"].values[0], rows)


def test_grouped_predictive_checks_match_per_row_ones():
    grouped, rows = state(aggregate=True), state(aggregate=False)
    for s in (grouped, rows):
        run_checker("prior_predictive_check", {"num_samples": DRAWS}, s)
        run_checker("prior_predictive_plot", {"interactive": False}, s)
        run_checker("posterior_predictive_plot", {"num_samples": DRAWS, "interactive": False}, s)
    a, b = grouped.inference_data, rows.inference_data
    # The same key draws the same latent sites whether the rows are grouped or not.
    for name in idata_api.group_variables(b, "prior"):
        np.testing.assert_array_equal(idata_api.values(a, "prior", name), idata_api.values(b, "prior", name))
    # Pooled value frequencies over 200 draws x 400 rows: Monte Carlo sd of a difference about
    # sqrt(2 * 0.25 / 80,000) = 0.0025; 0.015 is six of them.
    for group in ("prior_predictive", "posterior_predictive"):
        counts = idata_api.value_counts(a, group, "obs")
        per_row = idata_api.values(b, group, "obs")
        share_grouped = counts.counts.sum(axis=(0, 1, 2)) / per_row.size
        share_rows = np.bincount(per_row.ravel(), minlength=5) / per_row.size
        np.testing.assert_allclose(share_grouped, share_rows, atol=0.015)
        # The per-row view custom code reads is those counts, row by row.
        kept = idata_api.values(a, group, "obs")[0]
        for j in range(counts.counts.shape[2]):
            np.testing.assert_array_equal(np.bincount(kept[:, counts.distinct_row == j].ravel(), minlength=5).astype(np.int64),
                                          counts.counts[0, :, j].sum(axis=0))
    # Each draw's mean over 400 rows: the same posterior draws, sampling sd of a draw's mean about
    # 1.3 / sqrt(400) = 0.065, so a paired difference has sd 0.09 and its average over 200 draws 0.007.
    means_grouped = idata_api.value_counts(a, "posterior_predictive", "obs").draw_means().ravel()
    means_rows = idata_api.values(b, "posterior_predictive", "obs").reshape(DRAWS, -1).mean(axis=1)
    assert abs((means_grouped - means_rows).mean()) < 0.035
    assert np.std(means_grouped - means_rows) < 0.15
    p_grouped, p_rows = grouped.checks["posterior_predictive_plot"].value, rows.checks["posterior_predictive_plot"].value
    assert abs(p_grouped - p_rows) < 0.1  # about 0.03 sd: few draws' means sit within 0.1 of the data's
    assert {"obs_prior_predictive", "posterior_predictive_plot"} <= set(grouped.plots)


def test_stored_predictive_arrays_grow_with_distinct_rows_not_rows():
    large = state(aggregate=True, replicate=50)  # 20,000 rows, the same distinct ones as 400
    run_checker("prior_predictive_check", {"num_samples": DRAWS}, large)
    run_checker("prior_predictive_plot", {"interactive": False}, large)
    run_checker("posterior_predictive_plot", {"num_samples": DRAWS, "interactive": False}, large)
    n_distinct = group_identical_rows(ordinal_model(), judge_features()).n_distinct
    idata = large.inference_data
    for group in ("prior_predictive", "posterior_predictive"):
        counts = idata_api.value_counts(idata, group, "obs")
        assert counts.counts.shape == (1, DRAWS, n_distinct, 5) and counts.distinct_row.shape == (20_000,)
        # Every array held is at most (draws x distinct rows x values) or one entry per row; the
        # per-row view of the draws is not held (the checkers never read it).
        for name, data in idata[group].data_vars.items():
            assert data.variable._in_memory == (name != "obs")
            assert data.size <= max(DRAWS * n_distinct * 5, 20_000) or name == "obs"
        assert idata[group]["obs"].shape == (1, DRAWS, 20_000)
    for name in idata_api.group_variables(idata, "prior"):
        assert idata_api.values(idata, "prior", name).size <= DRAWS * 5
    assert {"obs_prior_predictive", "posterior_predictive_plot"} <= set(large.plots)
    assert 0 <= large.checks["posterior_predictive_plot"].value <= 1


@pytest.mark.parametrize("kind", ["kde", "cumulative"])
def test_count_plot_draws_each_draws_histogram(kind):
    counts = np.zeros((1, 3, 2, 3), dtype=np.int32)
    counts[0, :, 0] = [[2, 0, 0], [1, 1, 0], [0, 0, 2]]
    counts[0, :, 1] = [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    counted = idata_api.ValueCounts(np.array([0, 1, 2]), counts, np.array([0, 1, 0]))
    fig = idata_api.plot_ppc_counts(counted, np.array([0, 2, 1]), "obs", "posterior", kind)
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()}
    # The mean line is the histogram of all 3 draws x 3 rows pooled; the observed line the data's.
    pooled = np.array([4, 2, 3]) / 9
    observed = np.array([1, 1, 1]) / 3
    expected_mean = np.cumsum(pooled) if kind == "cumulative" else pooled
    np.testing.assert_allclose(lines["Posterior predictive mean"], expected_mean)
    np.testing.assert_allclose(lines["Observed obs"], np.cumsum(observed) if kind == "cumulative" else observed)
