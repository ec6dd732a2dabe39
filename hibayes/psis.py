"""Pareto-smoothed importance sampling (PSIS) and WAIC's terms for many observations at once.

ArviZ's `psislw` (Vehtari, Simpson, Gelman, Yao & Gabry 2024, "Pareto smoothed importance
sampling", JMLR 25; the generalized Pareto fit of Zhang & Stephens 2009) smooths one observation at
a time in a Python loop: 10,000 log-likelihood columns of 4,000 draws take ArviZ about 5 s. This is
the same algorithm, step for step, on a block of observations at once (`psis_log_weights`), with
ArviZ's own function for the few observations it cannot take in a block: a tie at the tail's
cutoff, or a tail cut at the smallest positive float (then the tail's length differs from one
observation to another). Its results equal ArviZ's to rounding (tested to 1e-12).

For each observation (a row of log importance ratios r_s, s = 1..S) with relative efficiency
r_eff: the M = ceil(min(S / 5, 3 sqrt(S / r_eff))) largest ratios are the tail; a generalized
Pareto distribution is fitted to exp(tail) - exp(cutoff) (cutoff: the largest ratio below the
tail), with the weakly informative prior on its shape k of Vehtari et al.; the tail is replaced by
the fitted quantiles at (i - 1/2) / M, no smoothed weight exceeds the largest raw one, and the
weights are normalised. k is the observation's Pareto shape (infinite when the tail is too short).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hibayes.threads import map_on_cores

ROWS_PER_BLOCK = 1_000  # observations smoothed together (a block of 4,000 draws: 32 MB)
_CUTOFF_MIN = float(np.log(np.finfo(float).tiny))
_EPS = float(np.finfo(float).eps)
_PRIOR_SHAPE_STRENGTH = 10  # the shape prior's weight: k_hat = (n k + 10 * 0.5) / (n + 10)
_PRIOR_SCALE = 3


def psis_log_weights(log_ratios: np.ndarray, reff: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed, normalised log weights (same shape as `log_ratios`: observations x draws) and each
    observation's Pareto shape k, as `arviz.psislw(log_ratios, reff)` returns them."""
    log_ratios = np.asarray(log_ratios, dtype=float)
    tail_length = _tail_length(log_ratios.shape[-1], reff)
    weights, shapes = np.empty_like(log_ratios), np.empty(log_ratios.shape[0])

    def smooth(rows: slice) -> None:
        weights[rows], shapes[rows] = _smooth_block(log_ratios[rows], tail_length, reff)

    _in_blocks(len(log_ratios), smooth)
    return weights, shapes


def psis_loo(log_likelihood: np.ndarray, reff: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per observation, from a (draws, observations) log-likelihood: the PSIS-LOO log predictive
    density log sum_s w_s p(y_i | theta_s) (w: `psis_log_weights` of -log p, ArviZ's `loo_i` on the
    log scale), the log pointwise predictive density log mean_s p(y_i | theta_s), and the Pareto
    shape k. Observations go through in blocks: nothing of the size of the whole matrix is made."""
    n_samples, n_points = log_likelihood.shape
    tail_length = _tail_length(n_samples, reff)
    loo, lppd, shapes = np.empty(n_points), np.empty(n_points), np.empty(n_points)

    def block_loo(points: slice) -> None:
        block = np.ascontiguousarray(log_likelihood[:, points].T, dtype=float)
        weights, shapes[points] = _smooth_block(-block, tail_length, reff)
        weights += block
        loo[points] = log_sum_exp(weights, axis=1)
        lppd[points] = log_sum_exp(block, axis=1) - np.log(n_samples)

    _in_blocks(n_points, block_loo)
    return loo, lppd, shapes


def waic_terms(log_likelihood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per observation, from a (draws, observations) log-likelihood: the lppd, log mean_s
    p(y_i | theta_s), and the posterior variance of log p(y_i | theta) (WAIC's penalty), in blocks."""
    n_samples, n_points = log_likelihood.shape
    lppd, variance = np.empty(n_points), np.empty(n_points)

    def block_terms(points: slice) -> None:
        block = np.ascontiguousarray(log_likelihood[:, points].T, dtype=float)
        lppd[points] = log_sum_exp(block, axis=1) - np.log(n_samples)
        variance[points] = block.var(axis=1)

    _in_blocks(n_points, block_terms)
    return lppd, variance


def _in_blocks(n_points: int, work: Callable[[slice], None]) -> None:
    """`work` on each block of `ROWS_PER_BLOCK` observations (each writes its own slice), on every
    core."""
    map_on_cores(work, [slice(start, start + ROWS_PER_BLOCK) for start in range(0, n_points, ROWS_PER_BLOCK)])


def _tail_length(n_samples: int, reff: float) -> int:
    return int(np.ceil(min(n_samples / 5.0, 3 * (n_samples / reff) ** 0.5)))


def _smooth_block(log_ratios: np.ndarray, tail_length: int, reff: float) -> tuple[np.ndarray, np.ndarray]:
    x = log_ratios - log_ratios.max(axis=1, keepdims=True)
    n_samples = x.shape[1]
    # The tail and the value below it, in ascending order, with their positions.
    top = np.argpartition(x, n_samples - tail_length - 1, axis=1)[:, n_samples - tail_length - 1 :]
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(x, top, axis=1), axis=1), axis=1)
    top_values = np.take_along_axis(x, top, axis=1)
    cutoff, tail, tail_at = top_values[:, 0], top_values[:, 1:], top[:, 1:]
    in_block = (cutoff > _CUTOFF_MIN) & (cutoff < tail[:, 0])
    shapes = np.full(len(x), np.inf)
    if tail_length > 4 and in_block.any():
        rows = np.flatnonzero(in_block)
        exp_cutoff = np.exp(cutoff[rows])
        k, sigma = _gpd_fit(np.exp(tail[rows]) - exp_cutoff[:, None])
        smoothed = np.log(_gpd_quantiles(np.arange(0.5, tail_length) / tail_length, k, sigma) + exp_cutoff[:, None])
        fitted = np.isfinite(k)
        x[rows[fitted, None], tail_at[rows[fitted]]] = smoothed[fitted]
        x[rows[fitted]] = np.minimum(x[rows[fitted]], 0.0)  # no weight above the largest raw one
        shapes[rows] = k
    x -= log_sum_exp(x, axis=1)[:, None]
    others = np.flatnonzero(~in_block)
    if len(others):  # ArviZ's own smoothing, one observation at a time
        import arviz as az

        x[others], shapes[others] = az.psislw(log_ratios[others], reff)
    return x, shapes


def _gpd_fit(tail: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zhang & Stephens (2009) posterior-mean estimates (k, sigma) of a generalized Pareto
    distribution for each row of ascending exceedances, with the prior on k of Vehtari et al.:
    ArviZ's `_gpdfit` on each row."""
    n = tail.shape[1]
    grid_size = 30 + int(n**0.5)
    b = 1 - np.sqrt(grid_size / (np.arange(1, grid_size + 1, dtype=float) - 0.5))
    b = b[None, :] / (_PRIOR_SCALE * tail[:, int(n / 4 + 0.5) - 1 : int(n / 4 + 0.5)]) + 1 / tail[:, -1:]
    k_grid = np.log1p(-b[:, :, None] * tail[:, None, :]).mean(axis=2)
    log_likelihood = n * (np.log(-(b / k_grid)) - k_grid - 1)
    weights = 1 / np.exp(log_likelihood[:, None, :] - log_likelihood[:, :, None]).sum(axis=2)
    weights = np.where(weights >= 10 * _EPS, weights, 0.0)  # negligible weights dropped
    weights /= weights.sum(axis=1, keepdims=True)
    b_post = np.sum(b * weights, axis=1)
    k_post = np.log1p(-b_post[:, None] * tail).mean(axis=1)
    sigma = -k_post / b_post
    return (n * k_post + _PRIOR_SHAPE_STRENGTH * 0.5) / (n + _PRIOR_SHAPE_STRENGTH), sigma


def _gpd_quantiles(probabilities: np.ndarray, k: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Generalized Pareto quantiles at `probabilities` (all in (0, 1)) for each row's (k, sigma);
    NaN where sigma <= 0, as ArviZ's `_gpinv`."""
    tiny_shape = np.abs(k) < _EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        general = np.expm1(-k[:, None] * np.log1p(-probabilities)[None, :]) / k[:, None]
    quantiles = np.where(tiny_shape[:, None], -np.log1p(-probabilities)[None, :], general) * sigma[:, None]
    return np.where(sigma[:, None] > 0, quantiles, np.nan)


def log_sum_exp(x: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(x))) along `axis`, shifted by the maximum (ArviZ's formula; scipy's
    `logsumexp` takes about 20 times as long on a (4,000, 10,000) array)."""
    top = x.max(axis=axis, keepdims=True)
    return np.log(np.exp(x - top).sum(axis=axis)) + np.squeeze(top, axis=axis)
