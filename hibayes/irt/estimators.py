"""Estimators of a respondent's score on all N items from the n anchor items it answered.

Target: Z = (1/N) sum_i w~_i Y_i, the balance-weighted share correct (w~ has mean 1; all ones
without balancing), on the binarised responses.

- anchor:  Z_0 = sum_k w_k Y_k   (anchor weights; renormalised over the anchors actually answered)
- p-IRT:   Z_p = lambda * (1/n) sum_seen w~ Y + (1 - lambda) * (1/|U|) sum_unseen w~ p_i(theta^),
           lambda = n / N, theta^ the maximum-likelihood ability on the seen items (bounded to
           +-theta_bound so all-correct / all-wrong answers do not diverge; "map" adds a N(0, I)
           prior). Equivalently Z_p = (1/N)[sum_seen w~ Y + sum_unseen w~ p_i].
- gp-IRT:  Z_g = mu Z_0 + (1 - mu) Z_p, mu = b^2 / (b^2 + v): b the validation mean absolute error
           of the IRT part, v = sigma^2 / n (random sampling) or sigma^2 / (4 n) (anchors), sigma^2
           the mean over training respondents of the across-item variance of Y.

Intervals (new relative to tinyBenchmarks; level `interval`, default 90%):
- anchor: Z_0 +- z * se, se^2 = sum_c W_c^2 m_c (1 - m_c) / n_c: stratified sampling with n_c
  anchors in cluster c of weight W_c, where m_c is the respondent's predicted share correct in
  the cluster (mean of p_i(theta^) over its items), so m_c (1 - m_c) is the within-cluster
  variance of its 0/1 responses (normal approximation, clipped to [0, 1]). Random anchors: one
  cluster holding every item.
- p-IRT: posterior predictive of the finite-population score. theta is drawn from its posterior
  given the seen items under a N(0, I) prior (sampling-importance-resampling from a Student-t
  proposal around the MAP), paired with the IRT fit's posterior draws of the item parameters when
  present; the unseen items' sum is drawn as sum w~ Y_u, Y_u ~ Bernoulli(p_u) (normal approximation
  when more than 200 items are unseen). Quantiles of Z^(s) = (1/N)[sum_seen w~ Y + sum_unseen w~ Y^(s)].
  With gp-IRT inputs and `pirt_model_error` on (default), a model-error term
  N(0, ((1 - lambda) b sqrt(pi/2))^2) is added to every draw: b is the validation mean absolute
  error of the IRT part, so the interval also covers the IRT model being wrong, not only the
  uncertainty within it.
- gp-IRT: mu * anchor interval + (1 - mu) * p-IRT interval, endpoint by endpoint (conservative:
  the endpoints of a convex combination of two intervals).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import expit, log_expit

from hibayes.irt.anchors import AnchorPoints
from hibayes.irt.config import IRTConfig
from hibayes.irt.models import IRTFit, fit_irt
from hibayes.irt.responses import ResponseMatrix
from hibayes.irt.simulate import sigmoid

__all__ = [
    "ThetaFit",
    "GPParams",
    "fit_theta",
    "anchor_estimate",
    "pirt_estimate",
    "gp_lambda",
    "gpirt_estimate",
    "theta_posterior_draws",
    "gp_parameters",
    "estimate_performance",
    "anchor_standard_error",
]


@dataclass
class ThetaFit:
    """Ability of one respondent from its seen items."""

    theta: np.ndarray  # (D,)
    cov: np.ndarray  # (D, D) inverse observed information (+ prior precision for map)
    at_bound: bool  # True when the MLE hit +-bound (all seen answers right, or all wrong)
    method: str


@dataclass
class GPParams:
    """Inputs of gp-IRT's mu = b^2 / (b^2 + v)."""

    bias: float  # b: validation MAE of the IRT part
    sigma2: float  # mean over training respondents of the across-item variance of Y
    sampling: str = "anchor"  # "anchor" (v = sigma2 / 4n) or "random" (v = sigma2 / n)
    method: str = "given"  # how b was obtained: cv, in_sample, given
    n_validation: int = 0

    def mu(self, n: int) -> float:
        return gp_lambda(self.bias, self.sigma2, n, self.sampling)


def one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread. The per-respondent ability fits are tiny (D
    unknowns, n anchors): a second BLAS thread only adds hand-offs, which on a busy 2-core machine
    made each L-BFGS-B fit 20x slower (3.6 ms -> 69 ms, threads spinning for a core)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# -- theta ---------------------------------------------------------------------------------------
def _nll_and_grad(theta: np.ndarray, y: np.ndarray, m: np.ndarray, a: np.ndarray, b: np.ndarray,
                  prior: bool) -> tuple[float, np.ndarray]:
    eta = a @ theta - b
    nll = -np.sum(m * (y * log_expit(eta) + (1 - y) * log_expit(-eta)))
    p = sigmoid(eta)
    grad = -a.T @ (m * (y - p))
    if prior:
        nll += 0.5 * float(theta @ theta)
        grad = grad + theta
    return float(nll), grad


def fit_theta(y: np.ndarray, a: np.ndarray, b: np.ndarray, *, method: str = "mle",
              bound: float = 6.0, trials: np.ndarray | None = None) -> ThetaFit:
    """Ability theta (D,) from responses y (n,) (0/1, or shares k/m with `trials`) on items with
    parameters a (n, D), b (n,).

    "mle" is tinyBenchmarks' unpenalised maximum likelihood (L-BFGS-B from 0), bounded to
    [-bound, bound]; "map" adds a N(0, I) prior. NaN responses are ignored.
    """
    y = np.asarray(y, float)
    a = np.atleast_2d(np.asarray(a, float))
    b = np.asarray(b, float)
    m = np.ones_like(y) if trials is None else np.asarray(trials, float)
    ok = ~np.isnan(y) & (m > 0)
    y, a, b, m = y[ok], a[ok], b[ok], m[ok]
    D = a.shape[1]
    if method not in ("mle", "map"):
        raise ValueError(f"theta method: {method!r} is not one of mle, map")
    prior = method == "map"
    if len(y) == 0:
        return ThetaFit(np.zeros(D), np.eye(D), False, method)
    res = optimize.minimize(_nll_and_grad, np.zeros(D), args=(y, m, a, b, prior), jac=True,
                            method="L-BFGS-B", bounds=[(-bound, bound)] * D)
    theta = np.asarray(res.x, float)
    p = sigmoid(a @ theta - b)
    info = (a * (m * p * (1 - p))[:, None]).T @ a + (np.eye(D) if prior else 1e-6 * np.eye(D))
    cov = np.linalg.pinv(info)
    at_bound = bool(np.any(np.abs(theta) >= bound - 1e-6))
    return ThetaFit(theta, cov, at_bound, method)


def theta_posterior_draws(y: np.ndarray, a: np.ndarray, b: np.ndarray, n_draws: int, *,
                          seed: int = 0, trials: np.ndarray | None = None,
                          df: float = 5.0) -> tuple[np.ndarray, float]:
    """Draws (n_draws, D) from p(theta | seen y) with a N(0, I) prior, by sampling-importance-
    resampling from a Student-t(df) proposal centred on the MAP with 1.5x the Laplace scale.
    Returns (draws, effective sample size of the importance weights)."""
    y = np.asarray(y, float)
    a = np.atleast_2d(np.asarray(a, float))
    b = np.asarray(b, float)
    m = np.ones_like(y) if trials is None else np.asarray(trials, float)
    ok = ~np.isnan(y) & (m > 0)
    y, a, b, m = y[ok], a[ok], b[ok], m[ok]
    D = a.shape[1]
    rng = np.random.default_rng(seed)
    tf = fit_theta(y, a, b, method="map", bound=50.0, trials=m) if len(y) else ThetaFit(np.zeros(D), np.eye(D), False, "map")
    scale = np.linalg.cholesky(1.5**2 * tf.cov + 1e-9 * np.eye(D))
    M = max(4 * n_draws, 2000)
    z = rng.standard_normal((M, D))
    u = rng.chisquare(df, size=M) / df
    prop = tf.theta + (z @ scale.T) / np.sqrt(u)[:, None]
    # log proposal density (up to a constant shared by all draws)
    sol = np.linalg.solve(scale, (prop - tf.theta).T).T
    log_q = -0.5 * (df + D) * np.log1p(np.sum(sol**2, axis=1) / df)
    eta = prop @ a.T - b[None, :]
    loglik = np.sum(m * (y * log_expit(eta) + (1 - y) * log_expit(-eta)), axis=1) if len(y) else np.zeros(M)
    log_w = loglik - 0.5 * np.sum(prop**2, axis=1) - log_q
    log_w -= log_w.max()
    w = np.exp(log_w)
    w /= w.sum()
    ess = float(1.0 / np.sum(w**2))
    idx = rng.choice(M, size=n_draws, replace=True, p=w)
    return prop[idx], ess


# -- the estimators ------------------------------------------------------------------------------
def anchor_estimate(y_anchor: np.ndarray, weights: np.ndarray) -> float:
    """Z_0 = sum_k w_k Y_k over answered anchors, weights renormalised to sum to 1."""
    y = np.asarray(y_anchor, float)
    w = np.asarray(weights, float)
    ok = ~np.isnan(y)
    if not ok.any():
        return float("nan")
    return float(np.sum(w[ok] * y[ok]) / np.sum(w[ok]))


def pirt_estimate(y_seen: np.ndarray, p_unseen: np.ndarray, *, w_seen: np.ndarray | None = None,
                  w_unseen: np.ndarray | None = None) -> float:
    """Z_p = lambda * mean_seen(w~ Y) + (1 - lambda) * mean_unseen(w~ p^), lambda = n / N."""
    y = np.asarray(y_seen, float)
    p = np.asarray(p_unseen, float)
    ws = np.ones_like(y) if w_seen is None else np.asarray(w_seen, float)
    wu = np.ones_like(p) if w_unseen is None else np.asarray(w_unseen, float)
    n, u = len(y), len(p)
    N = n + u
    if N == 0:
        return float("nan")
    lam = n / N
    seen_part = float(np.mean(ws * y)) if n else 0.0
    unseen_part = float(np.mean(wu * p)) if u else 0.0
    return lam * seen_part + (1 - lam) * unseen_part


def gp_lambda(bias: float, sigma2: float, n: int, sampling: str = "anchor") -> float:
    """mu* = b^2 / (b^2 + v) with v = sigma2 / n ("random") or sigma2 / (4 n) ("anchor").
    b = 0 gives 0 (trust p-IRT); v = 0 gives 1 (trust the anchors)."""
    if sampling not in ("anchor", "random"):
        raise ValueError(f"sampling: {sampling!r} is not one of anchor, random")
    if n <= 0:
        raise ValueError("n must be positive")
    v = sigma2 / n / (4.0 if sampling == "anchor" else 1.0)
    b2 = float(bias) ** 2
    if b2 == 0.0:
        return 0.0
    return float(b2 / (b2 + v))


def gpirt_estimate(anchor: float, pirt: float, mu: float) -> float:
    """Z_g = mu * Z_0 + (1 - mu) * Z_p."""
    return float(mu * anchor + (1 - mu) * pirt)


def anchor_standard_error(anchors: AnchorPoints, p_all: np.ndarray, weights: np.ndarray | None = None,
                          *, answered: np.ndarray | None = None) -> float:
    """Standard error of the anchor estimate for one respondent with predicted P(correct) p_all
    (N,): sqrt(sum_k w_k^2 m_c(k) (1 - m_c(k))), m_c the weighted mean of p over cluster c."""
    p = np.asarray(p_all, float)
    w = np.ones(len(p)) if weights is None else np.asarray(weights, float)
    labels = np.zeros(len(p), int) if anchors.method == "random" else anchors.labels
    clusters = np.zeros(anchors.n, int) if anchors.method == "random" else anchors.cluster_of_anchor
    C = int(labels.max()) + 1
    m_c = np.bincount(labels, weights=w * p, minlength=C) / np.maximum(np.bincount(labels, weights=w, minlength=C), 1e-300)
    v = m_c[clusters] * (1 - m_c[clusters])
    ok = np.ones(anchors.n, bool) if answered is None else np.asarray(answered, bool)
    aw = anchors.weights[ok] / anchors.weights[ok].sum()
    return float(np.sqrt(np.sum(aw**2 * v[ok])))


# -- gp-IRT inputs -------------------------------------------------------------------------------
def _irt_part_error(fit_a: np.ndarray, fit_b: np.ndarray, y_row: np.ndarray, anchor_idx: np.ndarray,
                    w: np.ndarray, method: str, bound: float) -> float:
    """|mean_U w~ p^ - mean_U w~ Y| for one respondent, theta fitted on the anchors."""
    answered = ~np.isnan(y_row)
    seen = np.zeros(len(y_row), bool)
    seen[anchor_idx] = True
    seen &= answered
    unseen = answered & ~seen
    if not seen.any() or not unseen.any():
        return float("nan")
    tf = fit_theta(y_row[seen], fit_a[seen], fit_b[seen], method=method, bound=bound)
    p = sigmoid(fit_a[unseen] @ tf.theta - fit_b[unseen])
    return abs(float(np.mean(w[unseen] * p) - np.mean(w[unseen] * y_row[unseen])))


def gp_parameters(train: ResponseMatrix, fit: IRTFit, anchors: AnchorPoints,
                  config: IRTConfig | None = None, *, weights: np.ndarray | None = None,
                  method: str | None = None, sampling: str = "anchor") -> GPParams:
    """b and sigma^2 for gp-IRT from the training respondents.

    method "cv": respondents are split into `gp_folds` folds (at most one per respondent); each
    fold is held out, the IRT model refitted on the rest, and the held-out respondents' IRT-part
    error measured with theta fitted on the anchors. "in_sample" uses `fit` itself (cheap,
    optimistic when there are few respondents).
    """
    cfg = config or IRTConfig()
    method = method or cfg.gp_bias
    J, N = train.shape
    w = np.ones(N) if weights is None else np.asarray(weights, float)
    y = train.y
    sigma2 = float(np.nanmean(np.nanvar(y, axis=1)))
    errors: list[float] = []
    if method == "cv" and J < 3:
        warnings.warn(f"gp_bias cv needs >= 3 training respondents (got {J}); using in_sample",
                      stacklevel=2)
        method = "in_sample"
    if method == "in_sample":
        with one_blas_thread():
            errors.extend(_irt_part_error(fit.a, fit.b, y[j], anchors.index, w, cfg.theta_method, cfg.theta_bound)
                          for j in range(J))
    elif method == "cv":
        F = min(cfg.gp_folds, J)
        rng = np.random.default_rng(cfg.seed)
        fold = np.empty(J, dtype=int)
        fold[rng.permutation(J)] = np.arange(J) % F
        for f in range(F):
            held = np.nonzero(fold == f)[0]
            rest = np.nonzero(fold != f)[0]
            sub_fit = fit_irt(train.subset(rest), cfg, model=fit.model, dims=fit.dims, method=
                              "map" if fit.method == "nuts" else fit.method, num_draws=0)
            with one_blas_thread():
                errors.extend(_irt_part_error(sub_fit.a, sub_fit.b, y[j], anchors.index, w, cfg.theta_method,
                                              cfg.theta_bound) for j in held)
    else:
        raise ValueError(f"gp_bias: {method!r} is not one of cv, in_sample")
    errs = np.array(errors, float)
    errs = errs[~np.isnan(errs)]
    bias = float(errs.mean()) if len(errs) else 0.0
    return GPParams(bias=bias, sigma2=sigma2, sampling=sampling, method=method, n_validation=len(errs))


# p-IRT draws without item draws are computed in blocks of about this many (draw, item) cells
PIRT_BLOCK = 2_000_000


# -- all together --------------------------------------------------------------------------------
def _pirt_draws(fit: IRTFit, thetas: np.ndarray, unseen: np.ndarray, w: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Draws of sum_unseen w~ Y^(s), given theta draws (S, D).

    Each theta draw is paired with a random posterior draw of the item parameters (when the fit
    has draws). Draws are computed in groups sharing one item draw, over all N items with the
    seen items' weights set to 0: no per-respondent copy of the (draws, N, D) item draws and no
    (S, N, D) gather, float32 working arrays of at most (S / draws, N) or PIRT_BLOCK cells."""
    S = thetas.shape[0]
    U = int(unseen.sum())
    if U == 0:
        return np.zeros(S)
    n_item_draws = fit.n_draws()
    wu = np.where(unseen, w, 0.0).astype(np.float32)
    wu2 = wu**2
    out = np.empty(S)
    th = thetas.astype(np.float32)
    if n_item_draws > 1:
        a_draws, b_draws = fit.flat_draws("a"), fit.flat_draws("b")
        pick = rng.integers(0, n_item_draws, size=S)
        groups = [(np.nonzero(pick == k)[0], a_draws[k], b_draws[k]) for k in np.unique(pick)]
    else:
        step = max(1, PIRT_BLOCK // len(wu))
        groups = [(np.arange(start, min(S, start + step)), fit.a, fit.b) for start in range(0, S, step)]
    for rows, a, b in groups:
        p = expit(th[rows] @ a.T.astype(np.float32, copy=False) - b.astype(np.float32, copy=False))
        if U > 200:
            mean = p @ wu
            sd = np.sqrt(np.maximum((p * (1 - p)) @ wu2, 0.0))
            out[rows] = mean + sd * rng.standard_normal(len(rows))
        else:
            out[rows] = ((rng.random(p.shape) < p) * wu).sum(axis=1)
    return out


def estimate_performance(
    fit: IRTFit,
    anchors: AnchorPoints,
    responses: ResponseMatrix,
    *,
    gp: GPParams | None = None,
    config: IRTConfig | None = None,
    weights: np.ndarray | None = None,
    roles: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Anchor, p-IRT and gp-IRT estimates with intervals for every respondent of `responses`.

    Each respondent is treated as having answered only the anchors (its other responses, when
    present, give `true_score` and are not used by the estimators).

    Args:
        fit: IRT fit on the same N items, in the same order, as `responses`.
        anchors: the anchor points (positions into those N items).
        responses: respondents to estimate (rows) x the N items.
        gp: gp-IRT inputs (see gp_parameters); without it gp-IRT columns are NaN.
        config: level of the intervals, draws, theta method and bound, seed.
        weights: balance weights w~ (N,), mean 1; None = all ones.
        roles: optional respondent -> "train" / "new" label, copied into a `role` column.

    Returns:
        One row per respondent: respondent, role, n_seen, n_items, n_answered, true_score (NaN
        unless every item was answered), anchor / pirt / gpirt with _lo and _hi, anchor_se, gp_mu,
        theta_1..theta_D, theta_at_bound.
    """
    cfg = config or IRTConfig()
    if list(responses.items) != list(fit.items):
        raise ValueError("responses and fit must have the same items in the same order")
    N = len(fit.items)
    w = np.ones(N) if weights is None else np.asarray(weights, float)
    w = w * N / w.sum()
    rng = np.random.default_rng(cfg.seed)
    y_all = responses.y
    with one_blas_thread():
        rows = [_estimate_row(fit, anchors, responses, j, y_all[j], w, gp, cfg, roles, rng)
                for j in range(len(responses.respondents))]
    cols = ["respondent", "role", "n_seen", "n_items", "n_answered", "true_score", "anchor", "anchor_lo",
            "anchor_hi", "anchor_se", "pirt", "pirt_lo", "pirt_hi", "gpirt", "gpirt_lo", "gpirt_hi", "gp_mu"]
    out = pd.DataFrame(rows)
    for c in cols:
        if c not in out.columns:
            out[c] = np.nan
    extra = [c for c in out.columns if c not in cols]
    return out[cols + extra]


def _estimate_row(fit: IRTFit, anchors: AnchorPoints, responses: ResponseMatrix, j: int, y: np.ndarray,
                  w: np.ndarray, gp: GPParams | None, cfg: IRTConfig, roles: dict[str, str] | None,
                  rng: np.random.Generator) -> dict:
    """One respondent's row of `estimate_performance`."""
    N = len(fit.items)
    alpha = 1 - cfg.interval
    z = stats.norm.ppf(1 - alpha / 2)
    q = [alpha / 2, 1 - alpha / 2]
    resp = responses.respondents[j]
    seen = np.zeros(N, bool)
    seen[anchors.index] = True
    seen &= ~np.isnan(y)
    n = int(seen.sum())
    answered = int((~np.isnan(y)).sum())
    true = float(np.sum(w * y) / N) if answered == N else float("nan")
    row = {"respondent": resp, "role": (roles or {}).get(resp, ""), "n_seen": n, "n_items": N,
           "n_answered": answered, "true_score": true}
    if n == 0:
        warnings.warn(f"{resp}: answered none of the anchors; no estimate", stacklevel=2)
        return row
    a_mask = ~np.isnan(y[anchors.index])
    aw = anchors.weights[a_mask] / anchors.weights[a_mask].sum()
    z0 = float(np.sum(aw * y[anchors.index][a_mask]))
    m_seen = responses.trials[j][seen]
    tf = fit_theta(y[seen], fit.a[seen], fit.b[seen], method=cfg.theta_method, bound=cfg.theta_bound,
                   trials=m_seen)
    se0 = anchor_standard_error(anchors, sigmoid(fit.a @ tf.theta - fit.b), w, answered=a_mask)
    unseen = ~seen
    p_unseen = sigmoid(fit.a[unseen] @ tf.theta - fit.b[unseen])
    zp = pirt_estimate(y[seen], p_unseen, w_seen=w[seen], w_unseen=w[unseen])
    th_draws, _ = theta_posterior_draws(y[seen], fit.a[seen], fit.b[seen], cfg.n_interval_draws,
                                        seed=int(rng.integers(2**31)), trials=m_seen)
    sums = _pirt_draws(fit, th_draws, unseen, w, rng)
    zp_draws = (np.sum(w[seen] * y[seen]) + sums) / N
    if gp is not None and cfg.pirt_model_error and gp.bias > 0:
        # model error calibrated on validation respondents: b is a mean absolute error, so
        # its normal sd is b * sqrt(pi / 2); it applies to the unseen share (1 - lambda)
        sd_model = (1 - n / N) * gp.bias * np.sqrt(np.pi / 2)
        zp_draws = zp_draws + sd_model * rng.standard_normal(len(zp_draws))
    zp_lo, zp_hi = np.quantile(zp_draws, q)
    a_lo, a_hi = max(0.0, z0 - z * se0), min(1.0, z0 + z * se0)
    row.update(anchor=z0, anchor_lo=a_lo, anchor_hi=a_hi, anchor_se=se0,
               pirt=zp, pirt_lo=float(zp_lo), pirt_hi=float(zp_hi))
    if gp is not None:
        mu = gp.mu(n)
        row.update(gpirt=gpirt_estimate(z0, zp, mu), gpirt_lo=mu * a_lo + (1 - mu) * float(zp_lo),
                   gpirt_hi=mu * a_hi + (1 - mu) * float(zp_hi), gp_mu=mu)
    for d in range(fit.dims):
        row[f"theta_{d + 1}"] = float(tf.theta[d])
    row["theta_at_bound"] = tf.at_bound
    return row
