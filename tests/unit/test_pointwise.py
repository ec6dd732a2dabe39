"""Binomial counts get one pointwise log-likelihood per trial: per row they sum to the binomial
log-likelihood less log C(n, k), and LOO over trials is reliable where LOO over a few group rows
is not."""

import numpy as np
from scipy.special import gammaln

from hibayes import idata as idata_api
from hibayes.config import FitConfig
from hibayes.model import MODELS
from hibayes.model.sampling import fit

SMALL = FitConfig(samples=400, warmup=400, chains=2)


def grouped_counts() -> dict:
    trials = np.array([60, 45, 60, 30])
    successes = np.array([48, 20, 33, 9])
    return {"obs": successes, "n_total": trials, "group_index": np.arange(4), "num_group": 4}


def test_per_trial_log_likelihood_sums_to_the_binomial_one_and_loo_is_reliable():
    from numpyro.infer import log_likelihood

    features = grouped_counts()
    model = MODELS.build("two_level_group_binomial", {"prior_sigma_group_scale": 1.0})
    idata = fit(model, features, SMALL).inference_data
    per_trial = idata.log_likelihood["obs"].values
    assert per_trial.shape == (2, 400, features["n_total"].sum())

    draws = idata_api.flat_draws(idata)
    binomial = np.asarray(log_likelihood(model, draws, features)["obs"]).reshape(2, 400, 4)
    n, k = features["n_total"], features["obs"]
    log_choose = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    sums = np.add.reduceat(per_trial, starts, axis=-1)
    np.testing.assert_allclose(sums, binomial - log_choose, rtol=1e-5, atol=1e-4)

    loo = idata_api.information_criterion(idata, "loo")
    assert loo.pareto_k.size == n.sum() and loo.pareto_k.max() < 0.7
    # Each trial's entry is log p or log(1 - p) of its row: only two distinct values per row.
    assert len(np.unique(per_trial[0, 0, : n[0]])) == 2


def test_bernoulli_rows_and_other_likelihoods_are_left_as_they_are():
    features = {**grouped_counts(), "n_total": np.ones(4, dtype=int), "obs": np.array([1, 0, 1, 1])}
    idata = fit(MODELS.build("two_level_group_binomial"), features, SMALL).inference_data
    assert idata.log_likelihood["obs"].shape == (2, 400, 4)
