"""Stage 4 (beyond hal-analysis): how sure is each frontier position, given accuracy's sampling noise?

Model: each point's true accuracy has the Beta(1 + k, 1 + n - k) posterior of a binomial
proportion under a uniform prior, with n = ``n_scored`` (scored samples, or HAL tasks) and
k = ``successes`` (sum of per-sample scores; fractional for partial credit). Points are
independent; cost and latency are treated as known (they are measured, not sampled, and their
run-to-run noise is not modelled). For each of `n_draws` joint draws of every point's accuracy the
Pareto set and the convex-hull frontier are recomputed (`hibayes.hal.frontier`); the probabilities
are the fractions of draws in which a point is a member.

A point with probability near 1 is on the frontier whatever the noise; one near 0.5 is there by
luck of the sample. The Monte Carlo standard error of each probability is sqrt(p(1-p)/n_draws).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hibayes.hal.errors import error_row, make_errors
from hibayes.hal.frontier import AXIS_COLUMNS, convex_frontier_masks, pareto_set_masks

PROBABILITY_COLUMNS: tuple[str, ...] = (
    "axis",
    "x",
    "y",
    "n_scored",
    "successes",
    "p_pareto_set",
    "p_convex_frontier",
    "mc_se_pareto_set",
    "mc_se_convex_frontier",
    "n_draws",
    "seed",
)


def draw_accuracies(successes: np.ndarray, n: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_draws, points)`` draws from each point's Beta(1 + k, 1 + n - k) posterior."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("successes must lie in [0, n]")
    return rng.beta(1.0 + k, 1.0 + n - k, size=(n_draws, len(k)))


def frontier_probabilities(
    points: pd.DataFrame,
    *,
    axis: str = "cost",
    x_col: str | None = None,
    group_col: str = "benchmark",
    n_draws: int = 2000,
    seed: int = 0,
    convex: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """P(on Pareto set) and P(on convex frontier) of every point, per `group_col`.

    `points` is a ``run_metrics`` table, a `best_run_per_model` table or a frontier table; it needs
    ``accuracy``, ``n_scored``, ``successes`` and the x column (``total_cost`` for
    ``axis="cost"``, ``mean_latency`` for ``axis="latency"``, or `x_col`).

    Returns ``(probabilities, errors)``: every input row and column plus `PROBABILITY_COLUMNS`:
    ``x`` / ``y`` (x value and observed accuracy), ``n_scored`` and ``successes`` as used,
    ``p_pareto_set``, ``p_convex_frontier`` (NaN when skipped, or when ``convex=False``),
    their Monte Carlo standard errors, ``n_draws`` and ``seed``.

    Skipped with an ``info``/``error`` row, never guessed: a whole group when any of its points
    lacks a sample count (e.g. HAL CSV input without ``n_tasks``) or an accuracy interval model
    (scores outside [0, 1]); single points whose x or accuracy is missing or x is negative.
    Each group draws from its own generator seeded by (`seed`, the group name), so results are
    reproducible and a group's probabilities do not depend on which other groups are present.
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    x_col = x_col or AXIS_COLUMNS.get(axis)
    if x_col is None:
        raise ValueError(f"axis must be one of {sorted(AXIS_COLUMNS)} or x_col given, got {axis!r}")
    src = "uncertainty"
    for column in (x_col, "accuracy", "n_scored", "successes", group_col):
        if column not in points.columns:
            raise ValueError(f"{src}: points lack column {column!r}")
    out = points.reset_index(drop=True).copy()
    out["axis"] = axis
    out["x"] = pd.to_numeric(out[x_col], errors="coerce").astype(float)
    out["y"] = pd.to_numeric(out["accuracy"], errors="coerce").astype(float)
    out["n_scored"] = pd.to_numeric(out["n_scored"], errors="coerce").astype(float)
    out["successes"] = pd.to_numeric(out["successes"], errors="coerce").astype(float)
    # Filled group by group as arrays and set as columns once (a .loc write per group cost more than the draws).
    filled = {column: np.full(len(out), np.nan)
              for column in ("p_pareto_set", "p_convex_frontier", "mc_se_pareto_set", "mc_se_convex_frontier")}
    for column in filled:
        out[column] = np.nan
    out["n_draws"] = n_draws
    out["seed"] = seed
    errs: list[dict[str, Any]] = []

    usable_xy = np.isfinite(out["x"]) & (out["x"] >= 0) & np.isfinite(out["y"])
    for rec in out[~usable_xy].to_dict("records"):
        errs.append(error_row(src, "error", x_col, f"{x_col} or accuracy missing or negative: no frontier probability",
                              benchmark=rec.get("benchmark"), model=rec.get("model"),
                              scaffold=rec.get("scaffold"), count=1))
    for key, idx in sorted(out.groupby(group_col, sort=True).indices.items()):
        idx = np.asarray(idx)
        idx = idx[usable_xy.to_numpy()[idx]]
        if len(idx) == 0:
            continue
        n = out["n_scored"].to_numpy()[idx]
        k = out["successes"].to_numpy()[idx]
        lacking = ~np.isfinite(n) | ~np.isfinite(k)
        if lacking.any():
            errs.append(error_row(
                src, "info", "n_scored",
                f"{int(lacking.sum())} of {len(idx)} points have no sample count or no [0, 1] success count "
                "(HAL CSV without n_tasks, or scores outside [0, 1]): frontier probabilities skipped for this group",
                benchmark=key, count=int(lacking.sum())))
            continue
        rng = np.random.default_rng([seed, _stable_hash(str(key))])
        draws = draw_accuracies(k, n, n_draws, rng)
        x = out["x"].to_numpy()[idx]
        pareto = pareto_set_masks(x, draws)
        p_pareto = pareto.mean(axis=0)
        filled["p_pareto_set"][idx] = p_pareto
        filled["mc_se_pareto_set"][idx] = np.sqrt(p_pareto * (1 - p_pareto) / n_draws)
        if convex:
            p_convex = convex_frontier_masks(x, draws, pareto).mean(axis=0)
            filled["p_convex_frontier"][idx] = p_convex
            filled["mc_se_convex_frontier"][idx] = np.sqrt(p_convex * (1 - p_convex) / n_draws)
    for column, values in filled.items():
        out[column] = values
    return out, make_errors(errs)


def _stable_hash(text: str) -> int:
    """A process-independent 32-bit hash (Python's ``hash`` of str is salted per process)."""
    value = 2166136261
    for byte in text.encode():
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value
