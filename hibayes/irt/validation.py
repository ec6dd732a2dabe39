"""Leave-one-model-out validation of the estimators: how far to trust them on your own data.

For each training respondent h (or each fold of them, when there are more respondents than
`validation_folds`): refit the IRT model without h, choose anchors on that fit,
measure gp-IRT's inputs on the remaining respondents, estimate h's score from its answers to the
anchors only, and compare with h's true score on all items. A stratified-random sample of the same
size (plain mean) is reported as the baseline tinyBenchmarks compares against, and `train_mean`
(the mean score of the other respondents, using no data of h at all) shows how much of the
accuracy comes from the respondents simply being alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from hibayes.irt.anchors import random_anchors, select_anchors
from hibayes.irt.config import IRTConfig
from hibayes.irt.estimators import anchor_estimate, estimate_performance, gp_parameters
from hibayes.irt.models import fit_irt
from hibayes.irt.responses import ResponseMatrix

__all__ = ["leave_one_model_out", "summarise_validation", "ESTIMATORS"]

ESTIMATORS = ("anchor", "pirt", "gpirt", "random", "train_mean")


def leave_one_model_out(
    responses: ResponseMatrix,
    config: IRTConfig | None = None,
    *,
    holdout: list[str] | None = None,
    weights: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row per held-out respondent (in the order of `holdout`): true_score; anchor, pirt,
    gpirt, random estimates; their absolute errors (`err_<estimator>`), interval bounds and whether
    the interval covers the truth (`covered_<estimator>`); gp_mu, gp_bias; fold, n_train, timing.

    The held-out respondents are dealt into `config.validation_folds` folds (one each when there
    are no more respondents than folds: leave-one-out); per fold the IRT model is refitted without
    the fold, and the fold's respondents are estimated together from that fit. A respondent is
    never in the data its estimate comes from, and the cost is one fit per fold.

    Args:
        responses: the training respondents (J >= 3) x N items; a held-out respondent needs a
            response to every item for its true score.
        config: IRTConfig (n_anchors, anchor_space, model, dims, fit settings, gp_bias,
            validation_folds, seed...).
        holdout: respondents to hold out (default: all).
        weights: balance weights (N,) or None.
        groups: strata for the random baseline (e.g. task), or None.
        progress: optional callback receiving one line per fold.
    """
    cfg = config or IRTConfig()
    J, N = responses.shape
    if J < 3:
        raise ValueError(f"leave-one-model-out needs at least 3 respondents, got {J}")
    n = min(cfg.n_anchors, N)
    names = list(responses.respondents) if holdout is None else list(holdout)
    for h in names:
        if h not in responses.respondents:
            raise ValueError(f"holdout: unknown respondent {h!r}")
    y = responses.y
    rows: dict[str, dict] = {}
    for f, fold in enumerate(_folds(names, cfg.validation_folds, cfg.seed)):
        t0 = time.perf_counter()
        held = set(fold)
        train = responses.subset([r for r in responses.respondents if r not in held])
        fit = fit_irt(train, cfg)
        anchors = select_anchors(train, n, fit=fit, space=cfg.anchor_space, weights=weights,
                                 seed=cfg.seed, restarts=cfg.kmeans_restarts)
        gp = gp_parameters(train, fit, anchors, cfg, weights=weights)
        estimates = estimate_performance(fit, anchors, responses.subset(fold), gp=gp, config=cfg, weights=weights)
        train_mean = float(np.nanmean(train.accuracy(weights)))
        elapsed = time.perf_counter() - t0
        for h, est in zip(fold, estimates.to_dict("records")):
            rows[h] = _validation_row(est, y[responses.respondents.index(h)], train, responses.respondents.index(h),
                                      n, N, cfg, weights, groups, train_mean)
            rows[h].update(gp_bias=gp.bias, gp_sigma2=gp.sigma2, n_clusters=anchors.n_clusters,
                           fit_final_loss=fit.diagnostics.get("final_loss"), fold=f,
                           n_train=len(train.respondents), elapsed_s=elapsed)
        if progress is not None:
            progress(f"fold {f + 1} ({len(fold)} held out, {len(train.respondents)} in the fit, {elapsed:.1f}s): " + "; ".join(
                f"{h}: true {rows[h]['true_score']:.4f} anchor {rows[h]['anchor']:.4f} pirt {rows[h]['pirt']:.4f} "
                f"gpirt {rows[h]['gpirt']:.4f} random {rows[h]['random']:.4f}" for h in fold[:3])
                + ("; ..." if len(fold) > 3 else ""))
    return pd.DataFrame([rows[h] for h in names])


def _folds(names: list[str], n_folds: int, seed: int) -> list[list[str]]:
    """`names` dealt into min(n_folds, len(names)) folds: in order, one each, when they fit
    (leave-one-out), else at random (seeded), sizes differing by at most one."""
    if len(names) <= n_folds:
        return [[h] for h in names]
    fold = np.empty(len(names), dtype=int)
    fold[np.random.default_rng(seed).permutation(len(names))] = np.arange(len(names)) % n_folds
    return [[h for h, g in zip(names, fold) if g == f] for f in range(n_folds)]


def _validation_row(est: dict, y: np.ndarray, train: ResponseMatrix, j: int, n: int, N: int, cfg: IRTConfig,
                    weights: np.ndarray | None, groups: np.ndarray | None, train_mean: float) -> dict:
    """One held-out respondent's row: its estimates plus the random-sample and train-mean
    baselines, absolute errors and interval coverage."""
    row = dict(est)
    ra = random_anchors(train, n, groups=groups, weights=weights, seed=cfg.seed + 7919 * (j + 1))
    row["random"] = anchor_estimate(y[ra.index], ra.weights)
    # binomial standard error of a sample mean, with the finite-population correction
    se = np.sqrt(row["random"] * (1 - row["random"]) / n * (1 - n / N))
    zq = stats.norm.ppf(0.5 + cfg.interval / 2)
    row["random_lo"] = max(0.0, row["random"] - zq * se)
    row["random_hi"] = min(1.0, row["random"] + zq * se)
    # trivial baseline: the mean true score of the training respondents (no data from the held-out one)
    row["train_mean"] = train_mean
    row["train_mean_lo"] = row["train_mean_hi"] = np.nan
    truth = row["true_score"]
    for e in ESTIMATORS:
        row[f"err_{e}"] = abs(row[e] - truth) if np.isfinite(truth) else np.nan
        ok = np.isfinite(truth) and np.isfinite(row[f"{e}_lo"])
        row[f"covered_{e}"] = bool(row[f"{e}_lo"] <= truth <= row[f"{e}_hi"]) if ok else None
    return row


def summarise_validation(results: pd.DataFrame) -> pd.DataFrame:
    """One row per estimator: n, mae, sd of the absolute error, max error, rmse, mean signed error
    (bias) and interval coverage."""
    out = []
    for e in ESTIMATORS:
        if e not in results.columns:
            continue
        err = results[e] - results["true_score"]
        ok = err.notna()
        err = err[ok]
        cov = (results.loc[ok, f"covered_{e}"].dropna().astype(float) if f"covered_{e}" in results
               else pd.Series(dtype=float))
        out.append({
            "estimator": e,
            "n": int(ok.sum()),
            "mae": float(err.abs().mean()) if len(err) else np.nan,
            "sd_abs_error": float(err.abs().std(ddof=1)) if len(err) > 1 else np.nan,
            "max_abs_error": float(err.abs().max()) if len(err) else np.nan,
            "rmse": float(np.sqrt((err**2).mean())) if len(err) else np.nan,
            "mean_error": float(err.mean()) if len(err) else np.nan,
            "coverage": float(cov.mean()) if len(cov) else np.nan,
        })
    return pd.DataFrame(out)
