"""Binomial counts get one pointwise log-likelihood per trial: per row they sum to the binomial
log-likelihood less log C(n, k), and LOO over trials is reliable where LOO over a few group rows
is not. The trials are stored as weighted columns (a success and a failure column per row), and
LOO, WAIC and compare on them give what ArviZ gives on the per-trial matrix."""

import dataclasses
import warnings

import arviz as az
import numpy as np
import pytest
from scipy.special import gammaln

from hibayes import idata as idata_api
from hibayes.config import FitConfig
from hibayes.model import MODELS
from hibayes.model.sampling import fit

SMALL = FitConfig(samples=400, warmup=400, chains=2)
EXACT = 1e-9


def grouped_counts() -> dict:
    trials = np.array([60, 45, 60, 30])
    successes = np.array([48, 20, 33, 9])
    return {"obs": successes, "n_total": trials, "group_index": np.arange(4), "num_group": 4}


def repeated_counts() -> dict:
    """Each group's count twice: identical rows, which the fit samples once."""
    features = grouped_counts()
    return {**{name: np.repeat(features[name], 2) for name in ("obs", "n_total", "group_index")}, "num_group": 4}


def group_model(scale: float):
    return MODELS.build("two_level_group_binomial", {"prior_sigma_group_scale": scale})


@pytest.fixture(scope="module")
def counts_fit():
    return fit(group_model(1.0), grouped_counts(), SMALL).inference_data


@pytest.fixture(scope="module")
def two_fits():
    """The same repeated counts fitted with grouped rows (4 distinct rows) and without (8 rows):
    different columns over the same trials."""
    grouped = fit(group_model(1.0), repeated_counts(), SMALL).inference_data
    whole = fit(group_model(0.1), repeated_counts(), dataclasses.replace(SMALL, aggregate_rows=False)).inference_data
    return {"grouped": grouped, "rows": whole}


def arviz_ic(idata, kind: str, scale: str = "log"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (az.loo if kind == "loo" else az.waic)(idata_api.expanded_log_likelihood(idata), pointwise=True, scale=scale)


def test_per_trial_log_likelihood_sums_to_the_binomial_one_and_loo_is_reliable(counts_fit):
    from numpyro.infer import log_likelihood

    features = grouped_counts()
    model = group_model(1.0)
    n, k = features["n_total"], features["obs"]
    # Stored: a success and a failure column per row, weighted by their trials.
    assert counts_fit.log_likelihood["obs"].shape == (2, 400, 8)
    assert idata_api.trial_groups(counts_fit).weights.tolist() == np.column_stack([k, n - k]).ravel().tolist()
    per_trial = idata_api.expanded_log_likelihood(counts_fit).log_likelihood["obs"].values
    assert per_trial.shape == (2, 400, n.sum())

    draws = idata_api.flat_draws(counts_fit)
    binomial = np.asarray(log_likelihood(model, draws, features)["obs"]).reshape(2, 400, 4)
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    sums = np.add.reduceat(per_trial, starts, axis=-1)
    np.testing.assert_allclose(sums, binomial - log_choose, rtol=1e-5, atol=1e-4)

    loo = idata_api.information_criterion(counts_fit, "loo")
    assert loo.n_observations == n.sum() and loo.pareto_k.size == 8 and loo.pareto_k.max() < 0.7
    # Each trial's entry is log p or log(1 - p) of its row: only two distinct values per row.
    assert len(np.unique(per_trial[0, 0, : n[0]])) == 2


@pytest.mark.parametrize("scale", ["log", "deviance"])
@pytest.mark.parametrize("kind", ["loo", "waic"])
def test_weighted_criteria_equal_arviz_on_the_per_trial_matrix(counts_fit, kind, scale):
    weighted = idata_api.information_criterion(counts_fit, kind, scale)
    expected = arviz_ic(counts_fit, kind, scale)
    assert weighted.elpd == pytest.approx(expected[f"elpd_{kind}"], abs=EXACT)
    assert weighted.se == pytest.approx(expected["se"], abs=EXACT)
    assert weighted.p == pytest.approx(expected[f"p_{kind}"], abs=EXACT)
    assert weighted.warning == expected["warning"]
    assert weighted.raw["n_data_points"] == expected["n_data_points"] == 195
    pointwise, pareto_k = weighted.expanded()
    np.testing.assert_allclose(pointwise, expected[f"{kind}_i"].values, rtol=0, atol=EXACT)
    if kind == "loo":
        np.testing.assert_allclose(pareto_k, expected["pareto_k"].values, rtol=0, atol=EXACT)


def test_grouped_rows_are_weighted_columns_not_expanded(two_fits):
    grouped, whole = two_fits["grouped"], two_fits["rows"]
    assert grouped.log_likelihood["obs"].shape == (2, 400, 8)  # 4 distinct rows x (success, failure)
    assert whole.log_likelihood["obs"].shape == (2, 400, 16)
    assert idata_api.trial_groups(grouped).weights.sum() == idata_api.trial_groups(whole).weights.sum() == 390
    assert grouped.observed_data["obs"].shape == (8,)  # other row-shaped groups are still expanded back
    loo = idata_api.information_criterion(grouped, "loo")
    expected = arviz_ic(grouped, "loo")
    assert (loo.elpd, loo.se, loo.p) == pytest.approx((expected["elpd_loo"], expected["se"], expected["p_loo"]), abs=EXACT)


@pytest.mark.parametrize("method", ["stacking", "pseudo-BMA"])
@pytest.mark.parametrize("kind", ["loo", "waic"])
def test_compare_equals_arviz_on_the_per_trial_matrices(two_fits, kind, method):
    # The two fits' columns differ (rows grouped or not): compare aligns them on the finer one.
    criteria = {name: idata_api.information_criterion(idata, kind) for name, idata in two_fits.items()}
    table = idata_api.compare(criteria, method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = az.compare({name: arviz_ic(idata, kind) for name, idata in two_fits.items()}, ic=kind, method=method)
    assert list(table.index) == list(expected.index) and list(table.columns) == list(expected.columns)
    exact = [f"elpd_{kind}", f"p_{kind}", "elpd_diff", "se", "dse"]
    np.testing.assert_allclose(table[exact].to_numpy(float), expected[exact].to_numpy(float), rtol=0, atol=EXACT)
    # Stacking optimises the same objective: equal to the optimiser's tolerance.
    np.testing.assert_allclose(table["weight"], expected["weight"], atol=EXACT if method == "pseudo-BMA" else 1e-6)
    assert table["rank"].tolist() == expected["rank"].tolist() and table["warning"].tolist() == expected["warning"].tolist()
    assert table["dse"].iloc[1] > 0


def test_compare_aligns_a_stored_per_trial_fit_with_a_weighted_one(two_fits):
    # Fits stored before weighting hold one entry per trial (row by row, successes first): a
    # refitted model compares with them trial by trial.
    per_trial = idata_api.expanded_log_likelihood(two_fits["rows"])
    criteria = {"grouped": idata_api.information_criterion(two_fits["grouped"]), "rows": idata_api.information_criterion(per_trial)}
    assert criteria["rows"].groups is None and criteria["rows"].pointwise.size == 390
    table = idata_api.compare(criteria, method="pseudo-BMA")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = az.compare({"grouped": arviz_ic(two_fits["grouped"], "loo"), "rows": arviz_ic(per_trial, "loo")}, method="pseudo-BMA")
    columns = ["elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse"]
    np.testing.assert_allclose(table.loc[expected.index, columns], expected[columns].astype(float), rtol=0, atol=EXACT)


def test_compare_bayesian_bootstrap_weights_are_arviz_in_distribution(two_fits):
    criteria = {name: idata_api.information_criterion(idata, "loo") for name, idata in two_fits.items()}
    table = idata_api.compare(criteria, method="BB-pseudo-BMA", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = az.compare({n: arviz_ic(d, "loo") for n, d in two_fits.items()}, method="BB-pseudo-BMA", seed=0)
    assert table["weight"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(table["weight"], expected["weight"], atol=0.05)
    np.testing.assert_allclose(table["se"], expected["se"], rtol=0.1)


def test_compare_refuses_models_of_different_observations(counts_fit, two_fits):
    criteria = {"counts": idata_api.information_criterion(counts_fit), "repeated": idata_api.information_criterion(two_fits["rows"])}
    with pytest.raises(ValueError, match=r"'repeated' with 'counts'.*cover different observations \(390 trials.*vs 195"):
        idata_api.compare(criteria)


def test_bernoulli_rows_and_other_likelihoods_are_left_as_they_are():
    features = {**grouped_counts(), "n_total": np.ones(4, dtype=int), "obs": np.array([1, 0, 1, 1])}
    idata = fit(MODELS.build("two_level_group_binomial"), features, SMALL).inference_data
    assert idata.log_likelihood["obs"].shape == (2, 400, 4)
    assert idata_api.trial_groups(idata) is None


@pytest.mark.slow  # a real 4 x 500 fit of 200 cells: about 10 s
def test_a_million_trials_in_200_cells_store_400_columns(tmp_path):
    """4 chains x 500 draws of 1,000,000 trials: nothing stored, nor the criteria's arrays, is
    trials-sized; LOO still counts every trial."""
    rng = np.random.default_rng(0)
    cells = 200
    trials = rng.multinomial(1_000_000 - cells, np.full(cells, 1 / cells)) + 1
    groups = np.arange(cells) % 20
    successes = rng.binomial(trials, 1 / (1 + np.exp(-(groups - 10) / 5)))
    features = {"obs": successes, "n_total": trials, "group_index": groups, "num_group": 20}
    idata = fit(group_model(1.0), features, FitConfig(samples=500, warmup=150, chains=4)).inference_data
    assert idata.log_likelihood["obs"].shape == (4, 500, 2 * cells)
    for group in idata.groups():
        for name, variable in idata[group].data_vars.items():
            assert max(variable.shape, default=0) < 10_000, (group, name, variable.shape)
    idata_api.save(idata, tmp_path / "fit.nc", {})
    assert (tmp_path / "fit.nc").stat().st_size < 20_000_000  # 1M x 2000 float64 would be 16 GB
    loo = idata_api.information_criterion(idata_api.load(tmp_path / "fit.nc"), "loo")
    assert loo.n_observations == 1_000_000 and loo.pointwise.shape == loo.pareto_k.shape == (2 * cells,)
    assert loo.raw["n_data_points"] == 1_000_000 and np.isfinite(loo.se) and loo.se > 0


def test_checker_and_export_count_trials_and_name_their_cells(counts_fit, tmp_path):
    import pandas as pd

    from hibayes.analysis_state import AnalysisState, ModelAnalysisState
    from hibayes.check import run_checker
    from hibayes.communicate import COMMUNICATORS
    from hibayes.state_io import save_state

    coords = {"group": ["alpha", "beta", "gamma", "delta"]}
    model = ModelAnalysisState("counts", group_model(1.0), None, grouped_counts(), coords, {}, inference_data=counts_fit, is_fitted=True)
    outcome = run_checker("loo", {}, model)
    assert outcome.status == "pass" and "0 of 195 observations" in outcome.message
    assert model.diagnostics["pointwise_weight"].sum() == 195 and model.diagnostics["loo_i"].shape == (8,)

    state = AnalysisState(data=pd.DataFrame({"x": [1]}), models=[model])
    state, result = COMMUNICATORS.build("pointwise_ic_table", {"ic": "loo"})(state, None)
    assert result == "pass"
    save_state(state, tmp_path, plots=False)
    table = pd.read_csv(tmp_path / "tables" / "pointwise_loo.csv")
    assert len(table) == 8 and table["weight"].sum() == 195
    assert table[["group", "outcome", "weight"]].head(2).values.tolist() == [["alpha", 1, 48], ["alpha", 0, 12]]
    assert (table["weight"] * table["loo_i"]).sum() == pytest.approx(model.get_ic("loo").elpd, abs=EXACT)
    assert {"n_total", "pareto_k", "row", "model", "label"} <= set(table.columns)


def test_a_fits_criterion_is_computed_once_and_served_to_its_stored_copy(counts_fit, tmp_path):
    """The `loo` checker sees the fitted object, the comparison and report stages the same fit loaded
    from its file: one computation serves both, and equals a fresh one; another fit is not served."""
    from hibayes.idata import _information_criterion, information_criterion

    path = tmp_path / "fit.nc"
    idata_api.save(counts_fit, path, {"hibayes_input_hash": "h1"})
    first = information_criterion(counts_fit, "loo")
    loaded = idata_api.load(path)
    assert information_criterion(loaded, "loo") is first
    fresh = _information_criterion(loaded, "loo", "log")
    assert fresh.elpd == first.elpd and np.array_equal(fresh.pointwise, first.pointwise)
    assert information_criterion(loaded, "waic") is not first  # each kind (and scale) its own
    other = az.from_dict(posterior={"mu": np.zeros((2, 10))}, log_likelihood={"obs": np.full((2, 10, 3), -1.0)})
    other.posterior.attrs["created_at"] = counts_fit.posterior.attrs["created_at"]  # another inputs' hash and shape
    assert information_criterion(other, "loo").elpd == pytest.approx(-3.0)
