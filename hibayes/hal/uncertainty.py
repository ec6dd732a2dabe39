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

from collections.abc import Mapping
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
    return frontier_probabilities_by_axis({axis: points}, x_col=x_col, group_col=group_col, n_draws=n_draws,
                                          seed=seed, convex=convex)[axis]


def frontier_probabilities_by_axis(
    points_by_axis: Mapping[str, pd.DataFrame],
    *,
    x_col: str | None = None,
    group_col: str = "benchmark",
    n_draws: int = 2000,
    seed: int = 0,
    convex: bool = True,
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """`frontier_probabilities` for several axes (``{"cost": points, "latency": points}``), the same
    answers: a group whose points and accuracy counts are the same on two axes has the same draws
    on both (one generator seed per group), so they are drawn once, which halves the work of the
    cost and latency frontiers of one run table. Groups go one at a time, so memory holds one
    group's draws."""
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    axes = {axis: _AxisPoints.of(points, axis, x_col, group_col, n_draws, seed) for axis, points in points_by_axis.items()}
    keys = sorted({key for points in axes.values() for key in points.groups})
    for key in keys:
        drawn: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # k, n, draws of this group
        for points in axes.values():
            counts = points.group_counts(key)
            if counts is None:
                continue
            idx, k, n = counts
            if drawn is None or not (np.array_equal(drawn[0], k) and np.array_equal(drawn[1], n)):
                drawn = (k, n, draw_accuracies(k, n, n_draws, np.random.default_rng([seed, _stable_hash(str(key))])))
            points.fill(idx, drawn[2], convex)
    return {axis: points.result() for axis, points in axes.items()}


class _AxisPoints:
    """One axis's points and the probability columns filled group by group (as arrays, set as
    columns once: a .loc write per group cost more than the draws)."""

    def __init__(self, out: pd.DataFrame, usable: np.ndarray, groups: dict[Any, np.ndarray], x_col: str,
                 group_col: str, errs: list[dict[str, Any]]):
        self.out, self.usable, self.groups, self.x_col, self.group_col, self.errs = out, usable, groups, x_col, group_col, errs
        self.filled = {column: np.full(len(out), np.nan)
                       for column in ("p_pareto_set", "p_convex_frontier", "mc_se_pareto_set", "mc_se_convex_frontier")}

    @classmethod
    def of(cls, points: pd.DataFrame, axis: str, x_col: str | None, group_col: str, n_draws: int,
           seed: int) -> _AxisPoints:
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
        for column in ("p_pareto_set", "p_convex_frontier", "mc_se_pareto_set", "mc_se_convex_frontier"):
            out[column] = np.nan
        out["n_draws"] = n_draws
        out["seed"] = seed
        usable_xy = (np.isfinite(out["x"]) & (out["x"] >= 0) & np.isfinite(out["y"])).to_numpy()
        errs = [error_row(src, "error", x_col, f"{x_col} or accuracy missing or negative: no frontier probability",
                          benchmark=rec.get("benchmark"), model=rec.get("model"), scaffold=rec.get("scaffold"), count=1)
                for rec in out[~usable_xy].to_dict("records")]
        groups = {key: np.asarray(idx) for key, idx in out.groupby(group_col, sort=True).indices.items()}
        return cls(out, usable_xy, groups, x_col, group_col, errs)

    def group_counts(self, key: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The usable points of group `key` and their success and sample counts; None (with an
        info row when counts are missing) when the group has nothing to draw."""
        idx = self.groups.get(key)
        if idx is None:
            return None
        idx = idx[self.usable[idx]]
        if len(idx) == 0:
            return None
        n = self.out["n_scored"].to_numpy()[idx]
        k = self.out["successes"].to_numpy()[idx]
        lacking = ~np.isfinite(n) | ~np.isfinite(k)
        if lacking.any():
            self.errs.append(error_row(
                "uncertainty", "info", "n_scored",
                f"{int(lacking.sum())} of {len(idx)} points have no sample count or no [0, 1] success count "
                "(HAL CSV without n_tasks, or scores outside [0, 1]): frontier probabilities skipped for this group",
                benchmark=key, count=int(lacking.sum())))
            return None
        return idx, k, n

    def fill(self, idx: np.ndarray, draws: np.ndarray, convex: bool) -> None:
        n_draws = len(draws)
        x = self.out["x"].to_numpy()[idx]
        pareto = pareto_set_masks(x, draws)
        p_pareto = pareto.mean(axis=0)
        self.filled["p_pareto_set"][idx] = p_pareto
        self.filled["mc_se_pareto_set"][idx] = np.sqrt(p_pareto * (1 - p_pareto) / n_draws)
        if convex:
            p_convex = convex_frontier_masks(x, draws, pareto).mean(axis=0)
            self.filled["p_convex_frontier"][idx] = p_convex
            self.filled["mc_se_convex_frontier"][idx] = np.sqrt(p_convex * (1 - p_convex) / n_draws)

    def result(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        for column, values in self.filled.items():
            self.out[column] = values
        return self.out, make_errors(self.errs)


def _stable_hash(text: str) -> int:
    """A process-independent 32-bit hash (Python's ``hash`` of str is salted per process)."""
    value = 2166136261
    for byte in text.encode():
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value
