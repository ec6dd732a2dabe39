"""Anchor points and the anchor / p-IRT / gp-IRT estimators, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from hibayes.irt.anchors import AnchorPoints, random_anchors, select_anchors
from hibayes.irt.config import IRTConfig
from hibayes.irt.estimators import (
    GPParams,
    anchor_estimate,
    estimate_performance,
    fit_theta,
    gp_lambda,
    gpirt_estimate,
    pirt_estimate,
    theta_posterior_draws,
)
from hibayes.irt.models import IRTFit
from hibayes.irt.responses import response_matrix_from_arrays
from hibayes.irt.simulate import sigmoid, simulate_irt


def _true_fit(sim, respondents=None):
    J = sim.theta.shape[0]
    return IRTFit("2pl", sim.a.shape[1], "map", respondents or [f"m{j}" for j in range(J)],
                  [f"task::{i}" for i in range(len(sim.b))], sim.theta, sim.a, sim.b)


# -- hand-computed values on a tiny case ---------------------------------------------------------
def test_estimators_by_hand():
    # anchors: items 0 and 3 with weights 0.25 / 0.75; answers 1 and 0
    assert anchor_estimate(np.array([1.0, 0.0]), np.array([0.25, 0.75])) == pytest.approx(0.25)
    # a missing anchor answer: weights renormalised over the answered ones
    assert anchor_estimate(np.array([1.0, np.nan]), np.array([0.25, 0.75])) == pytest.approx(1.0)
    # p-IRT: n = 2 seen (mean 0.5), 4 unseen with p = .9 .8 .7 .6 (mean .75): 1/3 * .5 + 2/3 * .75
    assert pirt_estimate(np.array([1.0, 0.0]), np.array([0.9, 0.8, 0.7, 0.6])) == pytest.approx(2 / 3)
    # gp-IRT weight: b = .03, sigma2 = .24, n = 100: v = .24 / 400 = .0006 -> .0009 / .0015 = .6
    assert gp_lambda(0.03, 0.24, 100, "anchor") == pytest.approx(0.6)
    assert gp_lambda(0.03, 0.24, 100, "random") == pytest.approx(0.0009 / (0.0009 + 0.0024))
    assert gp_lambda(0.0, 0.24, 100) == 0.0 and gp_lambda(0.1, 0.0, 100) == 1.0
    assert gpirt_estimate(0.25, 2 / 3, 0.6) == pytest.approx(0.6 * 0.25 + 0.4 * 2 / 3)


def test_theta_mle_by_hand():
    # Rasch items with a = 1, b = 0: 3 of 4 correct -> theta = logit(3/4) = log 3
    a, b = np.ones((4, 1)), np.zeros(4)
    tf = fit_theta(np.array([1.0, 1.0, 1.0, 0.0]), a, b, method="mle")
    assert tf.theta[0] == pytest.approx(np.log(3.0), abs=1e-4)
    assert tf.cov[0, 0] == pytest.approx(1 / (4 * 0.75 * 0.25), rel=1e-3)  # inverse Fisher information
    # all correct: the MLE diverges; it stops at the bound and says so
    tf = fit_theta(np.ones(4), a, b, method="mle", bound=6.0)
    assert tf.at_bound and tf.theta[0] == pytest.approx(6.0)
    # MAP with a N(0,1) prior stays finite and below the MLE
    tf = fit_theta(np.array([1.0, 1.0, 1.0, 0.0]), a, b, method="map")
    assert 0 < tf.theta[0] < np.log(3.0)


def test_theta_posterior_draws_match_a_conjugate_shape():
    # many items: the posterior is close to normal around the MAP with the Laplace sd
    rng = np.random.default_rng(0)
    a, b = np.ones((400, 1)), rng.normal(size=400)
    y = (rng.random(400) < sigmoid(0.7 - b)).astype(float)
    draws, ess = theta_posterior_draws(y, a, b, 4000, seed=1)
    tf = fit_theta(y, a, b, method="map")
    assert draws.mean() == pytest.approx(tf.theta[0], abs=0.03)
    assert draws.std() == pytest.approx(np.sqrt(tf.cov[0, 0]), rel=0.1)
    assert ess > 1000


def test_estimators_on_a_tiny_matrix_end_to_end():
    # 1-D items with a = 1 and b = 0: p = sigmoid(theta); respondent answers anchors 0, 2 (1, 0)
    N = 6
    fit = IRTFit("2pl", 1, "map", ["r"], [f"t::{i}" for i in range(N)], np.zeros((1, 1)),
                 np.ones((N, 1)), np.zeros(N))
    y = np.array([[1.0, 1.0, 0.0, 1.0, 0.0, 1.0]])
    rm = response_matrix_from_arrays(y, items=fit.items, validate=False)
    anchors = AnchorPoints(items=["t::0", "t::2"], index=np.array([0, 2]), weights=np.array([0.5, 0.5]),
                           train_variance=np.zeros(2), cluster_of_anchor=np.array([0, 1]),
                           labels=np.array([0, 0, 1, 0, 1, 0]), embedding=None, method="kmeans-irt",
                           n_clusters=2, all_items=fit.items)
    out = estimate_performance(fit, anchors, rm, gp=GPParams(bias=0.03, sigma2=0.24), config=IRTConfig(seed=0))
    row = out.iloc[0]
    assert row.true_score == pytest.approx(4 / 6)
    assert row.anchor == pytest.approx(0.5)
    # MLE theta from (1, 0) on identical items is 0, so p = 0.5 on the 4 unseen items
    assert row.theta_1 == pytest.approx(0.0, abs=1e-6)
    assert row.pirt == pytest.approx(2 / 6 * 0.5 + 4 / 6 * 0.5)
    mu = gp_lambda(0.03, 0.24, 2)
    assert row.gp_mu == pytest.approx(mu)
    assert row.gpirt == pytest.approx(mu * 0.5 + (1 - mu) * 0.5)
    for e in ("anchor", "pirt", "gpirt"):
        assert row[f"{e}_lo"] <= row[e] <= row[f"{e}_hi"]


def test_pirt_is_exact_when_the_probabilities_are():
    rng = np.random.default_rng(3)
    y = (rng.random(50) < 0.6).astype(float)
    seen = np.zeros(50, bool)
    seen[rng.choice(50, 10, replace=False)] = True
    # exact probabilities (degenerate: p = Y on the unseen items) give exactly the true mean
    assert pirt_estimate(y[seen], y[~seen]) == pytest.approx(y.mean(), abs=1e-12)
    # true IRT probabilities: p-IRT is unbiased for the true score (notes §5.5: |mean| < 3 SE)
    sim = simulate_irt(400, 300, seed=11)
    p = sim.p
    anchors = np.arange(0, 300, 10)
    unseen = np.setdiff1d(np.arange(300), anchors)
    diffs = np.array([pirt_estimate(sim.y[j, anchors], p[j, unseen]) - sim.y[j].mean() for j in range(400)])
    assert abs(diffs.mean()) < 3 * diffs.std(ddof=1) / np.sqrt(len(diffs))


def test_all_anchors_means_all_estimators_are_exact():
    sim = simulate_irt(8, 40, seed=4)
    rm = response_matrix_from_arrays(sim.y)
    fit = _true_fit(sim)
    anchors = select_anchors(rm, 40, fit=fit, space="irt", seed=0)
    assert sorted(anchors.index.tolist()) == list(range(40))
    out = estimate_performance(fit, anchors, rm, gp=GPParams(0.02, 0.2), config=IRTConfig(n_interval_draws=100))
    np.testing.assert_allclose(out["anchor"], out["true_score"], atol=1e-12)
    np.testing.assert_allclose(out["pirt"], out["true_score"], atol=1e-12)
    np.testing.assert_allclose(out["gpirt"], out["true_score"], atol=1e-12)


# -- anchors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["irt", "correctness"])
def test_anchor_weights_sum_to_one_and_anchors_are_unique(space):
    sim = simulate_irt(30, 300, seed=7)
    rm = response_matrix_from_arrays(sim.y)
    groups = np.repeat(["x", "y", "z"], [50, 100, 150])
    from hibayes.irt.responses import balance_weights

    w = balance_weights(groups)
    anchors = select_anchors(rm, 25, fit=_true_fit(sim), space=space, weights=w, seed=0, restarts=3)
    assert anchors.n == 25 and len(set(anchors.index)) == 25
    assert anchors.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (anchors.weights > 0).all() and anchors.index.max() < 300
    # each anchor sits in its own cluster; cluster weight = share of balance-weighted items
    for k, c in zip(anchors.index, anchors.cluster_of_anchor):
        assert anchors.labels[k] == c
    c0 = anchors.cluster_of_anchor[0]
    assert anchors.weights[0] == pytest.approx(w[anchors.labels == c0].sum() / w.sum())
    frame = anchors.to_frame()
    assert list(frame.columns[:4]) == ["item", "position", "weight", "cluster"]


def test_fewer_distinct_items_than_anchors_still_gives_n_anchors():
    # 3 respondents: at most 8 distinct correctness vectors, but 20 anchors are asked for
    rng = np.random.default_rng(0)
    y = (rng.random((3, 200)) < 0.5).astype(float)
    rm = response_matrix_from_arrays(y)
    anchors = select_anchors(rm, 20, space="correctness", seed=0)
    assert anchors.n == 20 and len(set(anchors.index)) == 20 and anchors.n_clusters <= 8
    assert anchors.weights.sum() == pytest.approx(1.0)
    # a cluster's weight is split equally among its anchors
    for c in np.unique(anchors.cluster_of_anchor):
        sel = anchors.cluster_of_anchor == c
        assert anchors.weights[sel].sum() == pytest.approx(np.mean(anchors.labels == c))


def test_random_anchors_are_stratified():
    rm = response_matrix_from_arrays(np.tile([[1.0, 0.0]], (3, 30)))
    groups = np.repeat(["a", "b", "c"], 20)
    ra = random_anchors(rm, 9, groups=groups, seed=1)
    assert ra.n == 9 and ra.weights.sum() == pytest.approx(1.0)
    assert sorted(np.bincount(ra.index // 20).tolist()) == [3, 3, 3]


def test_pirt_draws_match_the_moments_of_the_posterior_predictive():
    """The grouped p-IRT draws (theta draw paired with a random item draw, seen items weighted 0)
    against the exact first two moments of sum_unseen w Y, computed independently over every
    (theta draw, item draw) pair: the normal approximation's mean and variance within 4 Monte
    Carlo standard errors."""
    from hibayes.irt.estimators import _pirt_draws

    rng = np.random.default_rng(5)
    N, D, K, S = 200, 2, 8, 4_000
    a = np.exp(rng.normal(0, 0.3, size=(K, N, D))).astype(np.float32)
    b = rng.normal(0, 1, size=(K, N)).astype(np.float32)
    fit = IRTFit("mirt", D, "svi", ["m0"], [f"task::{i}" for i in range(N)], np.zeros((1, D)), a.mean(0), b.mean(0),
                 draws={"a": a[None], "b": b[None], "theta": np.zeros((1, K, 1, D))})
    thetas = rng.normal(0.3, 0.5, size=(S, D))
    unseen = np.ones(N, bool)
    unseen[:10] = False
    w = rng.uniform(0.5, 1.5, size=N)
    sums = _pirt_draws(fit, thetas, unseen, w, np.random.default_rng(0))
    # exact moments: the pick is uniform over the K item draws, independent of theta
    p = sigmoid(np.einsum("sd,kid->ksi", thetas, a.astype(float)) - b[:, None, :])  # (K, S, N)
    mean_sum = (p * (w * unseen)).sum(-1)
    mean = mean_sum.mean()
    var = mean_sum.var() + ((p * (1 - p)) * (w * unseen) ** 2).sum(-1).mean()
    assert sums.mean() == pytest.approx(mean, abs=4 * np.sqrt(var / S))
    assert sums.var() == pytest.approx(var, rel=4 * np.sqrt(2 / S))


def test_one_blas_thread_is_a_scoped_limit():
    from threadpoolctl import threadpool_info

    from hibayes.irt.estimators import one_blas_thread

    before = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    with one_blas_thread():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info() if pool["user_api"] == "blas")
    assert [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"] == before
