"""Identical rows sampled once with count weights: the same posterior and the same pointwise
log-likelihood per original row as the plain fit, and no grouping where it would not be exact."""

import dataclasses
import warnings

import arviz as az
import numpy as np
import pytest

from hibayes import idata as idata_api
from hibayes.config import FitConfig
from hibayes.model import MODELS
from hibayes.model.aggregate import group_identical_rows
from hibayes.model.sampling import fit

SMALL = FitConfig(samples=500, warmup=500, chains=2)


def judge_features(seed: int = 0, n: int = 400) -> dict:
    """Two graders scoring 0-4, the second one point of latent scale more generous."""
    rng = np.random.default_rng(seed)
    grader = rng.integers(0, 2, n)
    cutpoints = np.array([-1.5, -0.5, 0.5, 1.5])
    latent = np.where(grader == 1, 1.0, 0.0) + rng.logistic(size=n)
    return {"obs": np.searchsorted(cutpoints, latent), "grader_index": grader, "num_grader": 2}


def ordinal_model():
    return MODELS.build("ordered_logistic_model", {"main_effects": ["grader"], "num_classes": 5, "prior_first_cutpoint_scale": 1.0})


def test_rows_group_to_their_distinct_values():
    features = judge_features()
    groups = group_identical_rows(ordinal_model(), features)
    assert groups is not None and groups.n_distinct <= 10 and groups.n_rows == 400
    assert groups.counts.sum() == 400
    grouped = groups.grouped_features(features)
    # Every original row is its distinct row.
    np.testing.assert_array_equal(grouped["obs"][groups.inverse], features["obs"])
    np.testing.assert_array_equal(grouped["grader_index"][groups.inverse], features["grader_index"])
    assert grouped["num_grader"] == 2


def test_weighted_fit_matches_plain_fit_and_keeps_pointwise_log_likelihood():
    features = judge_features()
    plain = fit(ordinal_model(), features, dataclasses.replace(SMALL, aggregate_rows=False)).inference_data
    grouped = fit(ordinal_model(), features, SMALL).inference_data
    for name in ("grader_effects", "cutpoints"):
        a, b = plain.posterior[name], grouped.posterior[name]
        sd = a.std(("chain", "draw")).values
        # Means agree within Monte Carlo error (about sd / sqrt(ESS ~ 500) = 0.045 sd); 0.2 sd is generous.
        assert np.all(np.abs(a.mean(("chain", "draw")).values - b.mean(("chain", "draw")).values) < 0.2 * sd + 1e-3)
    # The grouped fit stores one log-likelihood column per distinct row, weighted by its count.
    assert grouped.log_likelihood["obs"].shape[:2] == (2, 500) and grouped.log_likelihood["obs"].shape[2] <= 10
    assert idata_api.trial_groups(grouped).weights.sum() == 400
    per_row = idata_api.expanded_log_likelihood(grouped)
    assert per_row.log_likelihood["obs"].shape == plain.log_likelihood["obs"].shape == (2, 500, 400)
    np.testing.assert_array_equal(grouped.observed_data["obs"].values, features["obs"])
    # Identical rows have identical pointwise log-likelihoods, each evaluated at that row's value.
    same = np.flatnonzero((features["obs"] == features["obs"][0]) & (features["grader_index"] == features["grader_index"][0]))
    values = per_row.log_likelihood["obs"].values[..., same]
    assert np.all(values == values[..., :1])
    elpd = [float(d.log_likelihood["obs"].mean()) for d in (plain, per_row)]
    assert elpd[0] == pytest.approx(elpd[1], abs=0.02)

    # LOO of the weighted columns is ArviZ's of the per-row matrix, and the grouped fit compares
    # with the plain one (whose entries are rows) as ArviZ compares the per-row matrices.
    criteria = {"plain": idata_api.information_criterion(plain), "grouped": idata_api.information_criterion(grouped)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # ArviZ computes in the dtype it is given (the sampler's float32); hibayes in float64.
        plain64 = plain.copy()
        plain64.log_likelihood["obs"] = plain64.log_likelihood["obs"].astype(np.float64)
        expected = {"plain": az.loo(plain64, pointwise=True), "grouped": az.loo(per_row, pointwise=True)}
        expected_table = az.compare(expected, method="pseudo-BMA")
    ic = criteria["grouped"]
    assert (ic.elpd, ic.se, ic.p) == pytest.approx((expected["grouped"]["elpd_loo"], expected["grouped"]["se"], expected["grouped"]["p_loo"]), abs=1e-9)
    table = idata_api.compare(criteria, method="pseudo-BMA")
    columns = ["elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse"]
    np.testing.assert_allclose(table.loc[expected_table.index, columns], expected_table[columns].astype(float), rtol=0, atol=1e-9)


def test_per_row_deterministic_sites_are_expanded():
    import numpyro
    import numpyro.distributions as dist

    def model(features):
        mu = numpyro.sample("mu", dist.Normal(0, 1))
        p = numpyro.deterministic("p", 1 / (1 + np.exp(0)) + 0 * mu + 0 * features["x"])
        numpyro.sample("obs", dist.Bernoulli(logits=mu + features["x"]), obs=features["obs"])
        return p

    features = {"x": np.tile([0.0, 1.0], 50), "obs": np.tile([0, 1], 50)}
    groups = group_identical_rows(model, features)
    assert groups is not None and groups.row_sites == {"obs": 0, "p": 0}
    idata = fit(model, features, FitConfig(samples=100, warmup=100, chains=2)).inference_data
    assert idata.posterior["p"].shape == (2, 100, 100)


def test_no_grouping_for_per_row_latents_or_distinct_rows():
    import numpyro
    import numpyro.distributions as dist

    def per_row_effect(features):
        z = numpyro.sample("z", dist.Normal(0, 1).expand([len(features["obs"])]))
        numpyro.sample("obs", dist.Bernoulli(logits=z), obs=features["obs"])

    assert group_identical_rows(per_row_effect, {"obs": np.tile([0, 1], 50)}) is None
    distinct = {"obs": np.arange(20) % 2, "x": np.linspace(0, 1, 20)}
    assert group_identical_rows(ordinal_model(), distinct) is None
