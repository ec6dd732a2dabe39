"""Stage 2: cost-accuracy and latency-accuracy frontiers, per benchmark.

Two frontiers are computed side by side; the flags say which is which:

- ``on_pareto_set``: the **Pareto set** -- the run is non-dominated: no other run has cost (or
  latency) <= and accuracy >= with at least one strict.
- ``on_convex_frontier``: the **convex-hull frontier** -- the run is a vertex of the upper convex
  hull of the (x, accuracy) points *and* non-dominated. This is what hal-analysis calls
  ``pareto_optimal`` (and the "AI Agents That Matter" convention: any point on a chord between two
  vertices is reachable by randomising between those two agents). Every convex-frontier run is in
  the Pareto set, not vice versa: a non-dominated run below a chord of the hull is on the Pareto set
  but not on the convex frontier, and hal-analysis labels it "not Pareto optimal".

The hull is built exactly as hal-analysis's ``identify_pareto_optimal``: points sorted by
(x, accuracy, position) ascending, then a monotone chain from the largest x to the smallest that
pops while ``cross(o, a, b) <= 0``. So collinear points and exact duplicates are not vertices
(of two identical runs, the first in input order is kept).

Distances and gaps (``included`` rows only; all 0 for frontier members):

- ``hull_distance``: hal-analysis's ``pareto_distance``: x and accuracy are min-max normalised
  over the benchmark's included points (a constant column normalises to 0), and the distance is
  the Euclidean distance to the nearest segment of the polyline through the convex-frontier points
  sorted by x. Departure from hal-analysis: when the convex frontier is a single point (one run is
  cheapest and most accurate), hal-analysis sets every distance to 0; here it is the distance to
  that point.
- ``pareto_set_distance``: the same normalised units, distance to the closest point that no
  Pareto-set run dominates (the staircase below the Pareto set): the smallest normalised
  (cost cut, accuracy gain) that makes the run non-dominated.
- ``hull_accuracy_gap``: convex-frontier accuracy at the run's x (linear interpolation between
  frontier vertices, flat beyond the last one) minus the run's accuracy, in raw accuracy units.
- ``pareto_accuracy_gap``: the best accuracy of any run with x <= the run's x, minus the run's
  accuracy (0 for the Pareto set; also 0 for a run that only ties a cheaper run's accuracy).

The gaps are in accuracy units and do not change when a run off the frontier is added or removed;
the normalised distances do (the normalisation depends on every point).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from hibayes.hal.errors import concat_errors, error_row, make_errors

FRONTIER_COLUMNS: tuple[str, ...] = (
    "axis",
    "per",
    "x",
    "y",
    "included",
    "x_norm",
    "y_norm",
    "on_pareto_set",
    "on_convex_frontier",
    "hull_distance",
    "pareto_set_distance",
    "hull_accuracy_gap",
    "pareto_accuracy_gap",
)

AXIS_COLUMNS = {"cost": "total_cost", "latency": "mean_latency"}


# --------------------------------------------------------------------------- primitives


def pareto_set_mask(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> np.ndarray:
    """True for points no other point dominates (x minimised, y maximised).

    For many draws of `y` against one `x`, `pareto_set_masks` gives the same answer per draw.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x_le = x[None, :] <= x[:, None]  # [i, j]: x_j <= x_i
    x_lt = x[None, :] < x[:, None]
    y_ge = y[None, :] >= y[:, None]
    y_gt = y[None, :] > y[:, None]
    dominated = (x_le & y_ge & (x_lt | y_gt)).any(axis=1)
    return ~dominated


def pareto_set_masks(x: Sequence[float] | np.ndarray, draws: np.ndarray) -> np.ndarray:
    """`pareto_set_mask` of every row of `draws` (draws x points, finite) against one finite `x`.

    Sorted by x once, point i is dominated exactly when a point of smaller x has y >= y_i or a
    point of the same x has y > y_i: a running maximum over the x-sorted columns, so the cost is
    draws x points instead of draws x points^2.
    """
    x = np.asarray(x, dtype=float)
    draws = np.asarray(draws, dtype=float)
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], draws[:, order]
    new_x = np.r_[True, xs[1:] != xs[:-1]]
    group = np.cumsum(new_x) - 1  # the tie group (same x) of each sorted column
    group_best = np.maximum.reduceat(ys, np.flatnonzero(new_x), axis=1)
    cheaper_best = np.maximum.accumulate(group_best, axis=1)[:, :-1]
    cheaper_best = np.concatenate([np.full((len(ys), 1), -np.inf), cheaper_best], axis=1)
    dominated = (cheaper_best[:, group] >= ys) | (group_best[:, group] > ys)
    mask = np.empty_like(dominated)
    mask[:, order] = ~dominated
    return mask


def _cross(o: tuple[float, float, int], a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def upper_hull_indices(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> list[int]:
    """Positions of the upper convex hull's vertices, from the largest x to the smallest.

    hal-analysis's algorithm (see the module docstring), including its tie-breaking.
    """
    points = sorted(zip((float(v) for v in x), (float(v) for v in y), range(len(x))))
    points.reverse()
    hull: list[tuple[float, float, int]] = []
    for p in points:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) <= 0:
            hull.pop()
        hull.append(p)
    return [p[2] for p in hull]


def convex_frontier_mask(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> np.ndarray:
    """True for non-dominated vertices of the upper convex hull (hal-analysis's ``pareto_optimal``)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    mask = np.zeros(len(x), dtype=bool)
    if len(x) <= 1:
        mask[:] = True
        return mask
    vertices = upper_hull_indices(x, y)
    pareto = pareto_set_mask(x, y)
    for i in vertices:
        mask[i] = pareto[i]
    return mask


_MAX_SLOPE_CELLS = 4_000_000  # floats per chunk of the (draws x members x members) slope arrays


def convex_frontier_masks(x: Sequence[float] | np.ndarray, draws: np.ndarray, pareto: np.ndarray) -> np.ndarray:
    """`convex_frontier_mask` of every row of `draws` against one `x`, given `pareto` =
    `pareto_set_masks(x, draws)`.

    A draw whose y values are all distinct (continuous draws: every one, almost surely) needs only
    its Pareto set: no dominated point is on or above the upper hull between the cheapest Pareto
    point and the most accurate one, so the convex frontier is the set of upper-hull vertices of
    the Pareto points alone. Those, sorted by x, rise strictly in x and y, and point i is a vertex
    exactly when every slope into it from the left exceeds every slope out of it to the right
    (the end points always are). That test runs on all draws at once, with the Pareto points of
    each draw packed into the first columns. A draw with tied y values (where hal-analysis's
    tie-breaking decides) goes through `convex_frontier_mask` itself.
    """
    x = np.asarray(x, dtype=float)
    draws = np.asarray(draws, dtype=float)
    pareto = np.asarray(pareto, dtype=bool)
    mask = np.zeros(draws.shape, dtype=bool)
    if draws.shape[1] == 0:
        return mask
    sorted_y = np.sort(draws, axis=1)
    tied = (sorted_y[:, 1:] == sorted_y[:, :-1]).any(axis=1)
    for d in np.flatnonzero(tied):
        mask[d] = convex_frontier_mask(x, draws[d])
    order = np.argsort(x, kind="stable")
    xs = x[order]
    free = np.flatnonzero(~tied)
    members = pareto[free][:, order]
    width = int(members.sum(axis=1).max()) if len(free) else 0
    chunk = max(1, _MAX_SLOPE_CELLS // max(1, width * width))
    for start in range(0, len(free), chunk):
        rows = free[start:start + chunk]
        inside = members[start:start + chunk]
        count = inside.sum(axis=1)
        # Each draw's Pareto columns first, in x order (a stable sort of "not a member").
        column = np.argsort(~inside, axis=1, kind="stable")[:, :width]
        valid = np.arange(width)[None, :] < count[:, None]
        px = xs[column]
        py = np.take_along_axis(draws[rows][:, order], column, axis=1)
        pair = valid[:, :, None] & valid[:, None, :] & np.triu(np.ones((width, width), dtype=bool), k=1)[None]
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (py[:, None, :] - py[:, :, None]) / (px[:, None, :] - px[:, :, None])  # [d, a, c]
        into = np.where(pair, slope, np.inf).min(axis=1)  # [d, i]: smallest slope from a point left of i
        out_of = np.where(pair, slope, -np.inf).max(axis=2)  # [d, i]: largest slope to a point right of i
        vertex = valid & (into > out_of)
        sorted_mask = np.zeros((len(rows), len(xs)), dtype=bool)
        np.put_along_axis(sorted_mask, column, vertex, axis=1)
        mask[rows[:, None], order[None, :]] = sorted_mask
    return mask


def minmax(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """(v - min) / (max - min); all zeros when max == min."""
    v = np.asarray(values, dtype=float)
    lo, hi = v.min(), v.max()
    if hi == lo:
        return np.zeros_like(v)
    return (v - lo) / (hi - lo)


def hull_distances(x_norm: np.ndarray, y_norm: np.ndarray, on_frontier: np.ndarray) -> np.ndarray:
    """Euclidean distance of each point to the polyline through the frontier points (sorted by x).

    hal-analysis's ``calculate_pareto_distance`` on already-normalised coordinates; frontier points
    get exactly 0. With a single frontier point the distance is to that point.
    """
    x_norm = np.asarray(x_norm, dtype=float)
    y_norm = np.asarray(y_norm, dtype=float)
    on_frontier = np.asarray(on_frontier, dtype=bool)
    dist = np.zeros(len(x_norm))
    if not on_frontier.any() or on_frontier.all():
        return dist
    order = np.argsort(x_norm[on_frontier], kind="stable")
    fx, fy = x_norm[on_frontier][order], y_norm[on_frontier][order]
    px, py = x_norm[~on_frontier], y_norm[~on_frontier]
    if len(fx) == 1:
        dist[~on_frontier] = np.hypot(px - fx[0], py - fy[0])
        return dist
    ax, ay = fx[:-1][None, :], fy[:-1][None, :]
    abx, aby = (fx[1:] - fx[:-1])[None, :], (fy[1:] - fy[:-1])[None, :]
    apx, apy = px[:, None] - ax, py[:, None] - ay
    t = np.clip((apx * abx + apy * aby) / (abx * abx + aby * aby), 0.0, 1.0)
    dx = px[:, None] - (ax + t * abx)
    dy = py[:, None] - (ay + t * aby)
    dist[~on_frontier] = np.sqrt(dx * dx + dy * dy).min(axis=1)
    return dist


def pareto_set_distances(x_norm: np.ndarray, y_norm: np.ndarray, on_pareto: np.ndarray) -> np.ndarray:
    """Distance of each point to the region no Pareto-set point dominates (0 on the Pareto set).

    With the Pareto points q_1..q_k sorted by x (so also by y), the non-dominated region is the
    union of the quadrants {x < x_q1}, {x < x_q(i+1), y > y_qi} and {y > y_qk}; the distance is the
    smallest distance to one of them.
    """
    x_norm = np.asarray(x_norm, dtype=float)
    y_norm = np.asarray(y_norm, dtype=float)
    on_pareto = np.asarray(on_pareto, dtype=bool)
    dist = np.zeros(len(x_norm))
    if not on_pareto.any() or on_pareto.all():
        return dist
    order = np.lexsort((y_norm[on_pareto], x_norm[on_pareto]))
    qx, qy = x_norm[on_pareto][order], y_norm[on_pareto][order]
    px, py = x_norm[~on_pareto], y_norm[~on_pareto]
    candidates = [np.maximum(0.0, px - qx[0]), np.maximum(0.0, qy[-1] - py)]
    for i in range(len(qx) - 1):
        dx = np.maximum(0.0, px - qx[i + 1])
        dy = np.maximum(0.0, qy[i] - py)
        candidates.append(np.hypot(dx, dy))
    dist[~on_pareto] = np.min(np.vstack(candidates), axis=0)
    return dist


def accuracy_gaps(
    x: np.ndarray, y: np.ndarray, on_convex: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(hull_accuracy_gap, pareto_accuracy_gap) in raw y units; see the module docstring."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    on_convex = np.asarray(on_convex, dtype=bool)
    order = np.argsort(x[on_convex], kind="stable")
    fx, fy = x[on_convex][order], y[on_convex][order]
    hull_gap = np.interp(x, fx, fy) - y
    hull_gap[on_convex] = 0.0
    best_cheaper = np.array([y[x <= xi].max() for xi in x])
    return hull_gap, best_cheaper - y


# --------------------------------------------------------------------------- stage functions


def best_run_per_model(runs: pd.DataFrame, *, source: str = "best_run_per_model") -> tuple[pd.DataFrame, pd.DataFrame]:
    """hal-analysis's max-accuracy table: per (benchmark, model), the run with the highest accuracy.

    Ties go to the first such run in `runs`' row order (pandas ``idxmax``, as hal-analysis). The
    chosen run's own cost and latency come with it. Runs with NaN accuracy are not candidates
    (an error row each). Returns ``(table, errors)``: the table has the run columns of `runs`
    (``scaffold`` is the best scaffold) plus ``n_runs`` (runs with an accuracy for that model on
    that benchmark), sorted by benchmark then model.
    """
    errs = []
    nan_acc = runs["accuracy"].isna()
    for rec in runs[nan_acc].to_dict("records"):
        errs.append(error_row(source, "error", "accuracy", "run has no accuracy; not a max-accuracy candidate",
                              benchmark=rec["benchmark"], model=rec["model"], scaffold=rec.get("scaffold"),
                              count=1))
    valid = runs[~nan_acc].reset_index(drop=True)
    if valid.empty:
        return valid.assign(n_runs=pd.Series(dtype="Int64")), make_errors(errs)
    grouped = valid.groupby(["benchmark", "model"], sort=True)["accuracy"]
    best = valid.loc[grouped.idxmax().to_numpy()].copy()
    best["n_runs"] = grouped.size().to_numpy()
    best = best.sort_values(["benchmark", "model"], kind="stable").reset_index(drop=True)
    return best, make_errors(errs)


def compute_frontier(
    points: pd.DataFrame,
    x_col: str,
    *,
    y_col: str = "accuracy",
    group_col: str | None = "benchmark",
    source: str = "frontier",
    axis: str | None = None,
    per: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frontiers of `y_col` (maximised) against `x_col` (minimised), within each `group_col`.

    Returns ``(frontier, errors)``. ``frontier`` has every input row and column, in input order,
    plus `FRONTIER_COLUMNS`:

    - ``axis`` / ``per``: labels passed through (e.g. ``cost`` / ``run``);
    - ``x`` / ``y``: copies of `x_col` / `y_col`;
    - ``included``: False when x or y is NaN or x is negative (an error row each); such rows have
      NA flags and NaN distances;
    - ``x_norm`` / ``y_norm``: min-max normalised within the group (HAL's normalisation);
    - ``on_pareto_set``, ``on_convex_frontier``, ``hull_distance``, ``pareto_set_distance``,
      ``hull_accuracy_gap``, ``pareto_accuracy_gap``: see the module docstring.

    Input order matters only for exact ties (see `upper_hull_indices`).
    """
    for column in (x_col, y_col) + ((group_col,) if group_col else ()):
        if column not in points.columns:
            raise ValueError(f"{source}: points lack column {column!r}")
    out = points.reset_index(drop=True).copy()
    out["axis"] = axis
    out["per"] = per
    out["x"] = pd.to_numeric(out[x_col], errors="coerce").astype(float)
    out["y"] = pd.to_numeric(out[y_col], errors="coerce").astype(float)
    errs = []
    bad_x_nan = ~np.isfinite(out["x"])
    bad_x_neg = out["x"] < 0
    bad_y = ~np.isfinite(out["y"])
    for mask, field, message in (
        (bad_x_nan, x_col, f"{x_col} is missing; left out of the frontier"),
        (bad_x_neg, x_col, f"{x_col} is negative; left out of the frontier"),
        (bad_y, y_col, f"{y_col} is missing; left out of the frontier"),
    ):
        for rec in out[mask].to_dict("records"):
            errs.append(error_row(source, "error", field, message,
                                  benchmark=rec.get("benchmark"), model=rec.get("model"),
                                  scaffold=rec.get("scaffold"), count=1))
    out["included"] = ~(bad_x_nan | bad_x_neg | bad_y)
    float_cols = ("x_norm", "y_norm", "hull_distance", "pareto_set_distance", "hull_accuracy_gap",
                  "pareto_accuracy_gap")
    for column in float_cols:
        out[column] = np.nan
    # Filled group by group as arrays and set as columns once (a .loc write per group is slow at many groups).
    filled = {column: np.full(len(out), np.nan) for column in float_cols}
    on_pareto = np.zeros(len(out), dtype=object)
    on_convex = np.zeros(len(out), dtype=object)
    on_pareto[:] = pd.NA
    on_convex[:] = pd.NA

    groups = out.groupby(group_col, sort=False).indices if group_col else {None: np.arange(len(out))}
    included = out["included"].to_numpy()
    for _, idx in groups.items():
        idx = np.asarray(idx)
        idx = idx[included[idx]]
        if len(idx) == 0:
            continue
        x = out["x"].to_numpy()[idx]
        y = out["y"].to_numpy()[idx]
        pareto = pareto_set_mask(x, y)
        convex = convex_frontier_mask(x, y)
        xn, yn = minmax(x), minmax(y)
        hull_gap, pareto_gap = accuracy_gaps(x, y, convex)
        values = {
            "x_norm": xn,
            "y_norm": yn,
            "hull_distance": hull_distances(xn, yn, convex),
            "pareto_set_distance": pareto_set_distances(xn, yn, pareto),
            "hull_accuracy_gap": hull_gap,
            "pareto_accuracy_gap": pareto_gap,
        }
        for column, value in values.items():
            filled[column][idx] = value
        on_pareto[idx] = pareto
        on_convex[idx] = convex
    for column, value in filled.items():
        out[column] = value
    out["on_pareto_set"] = pd.array(on_pareto, dtype="boolean")
    out["on_convex_frontier"] = pd.array(on_convex, dtype="boolean")
    return out, make_errors(errs)


def _axis_frontier(
    runs: pd.DataFrame, axis: Literal["cost", "latency"], per: Literal["run", "model"]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if per not in ("run", "model"):
        raise ValueError(f"per must be 'run' or 'model', got {per!r}")
    source = f"{axis}_frontier"
    if per == "model":
        points, errs = best_run_per_model(runs, source=source)
    else:
        points, errs = runs, make_errors()
    frontier, errs2 = compute_frontier(points, AXIS_COLUMNS[axis], source=source, axis=axis, per=per)
    return frontier, concat_errors(errs, errs2)


def cost_frontier(runs: pd.DataFrame, *, per: Literal["run", "model"] = "run") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cost (``total_cost``, USD) versus accuracy frontiers per benchmark; see `compute_frontier`.

    ``per="run"``: every run (model x scaffold) is a point -- "which model and scaffold gives the
    best accuracy for its cost". ``per="model"``: one point per model, its best-accuracy run
    (`best_run_per_model`): hal-analysis's ``pareto_distances.csv`` table and the input of the
    distance win rate.
    """
    return _axis_frontier(runs, "cost", per)


def latency_frontier(runs: pd.DataFrame, *, per: Literal["run", "model"] = "run") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Latency (``mean_latency``, seconds) versus accuracy frontiers per benchmark; see `cost_frontier`."""
    return _axis_frontier(runs, "latency", per)


def frontier_summary(frontier: pd.DataFrame, group_col: str = "benchmark") -> pd.DataFrame:
    """Per group: counts of included points, Pareto-set and convex-frontier members, and of runs on
    the Pareto set but not the convex frontier (the ones hal-analysis labels dominated)."""
    inc = frontier[frontier["included"]]
    rows: list[dict[str, Any]] = []
    for key, part in inc.groupby(group_col, sort=True):
        pareto = part["on_pareto_set"].astype(bool)
        convex = part["on_convex_frontier"].astype(bool)
        rows.append({group_col: key, "n_points": len(part), "n_pareto_set": int(pareto.sum()),
                     "n_convex_frontier": int(convex.sum()),
                     "n_pareto_not_convex": int((pareto & ~convex).sum())})
    return pd.DataFrame(rows, columns=[group_col, "n_points", "n_pareto_set", "n_convex_frontier",
                                       "n_pareto_not_convex"])
