"""Stage 3: pairwise win rates of models within benchmarks, aggregated per model.

Group-level rule (hal-analysis ``calculate_win_rates``): within a group of models M, model a
*wins* against b when its value is strictly better; every other model counts as one comparison,
so ``comparisons = |M| - 1`` and ``win_rate = wins / comparisons`` (NaN when a model is alone).

**Ties** (``ties="hal"``, the default): a tie counts as a comparison and as a win for neither side,
exactly as hal-analysis counts it, so tied models both lose half a point relative to ``"half"``.
``ties="half"`` adds half a win per tie. The ``ties`` column always records the number of ties.

Group kinds (``kind`` column of `win_rate_table`):

- ``max_accuracy``: groups = benchmarks; a model's value is its best accuracy over scaffolds
  (hal-analysis ``calculate_max_win_rates``). ``scaffold`` is the scaffold that achieved it.
- ``per_scaffold``: groups = (benchmark, scaffold); a model's value is its run's accuracy; when a
  model has several runs in one group the first in input order is used (as hal-analysis; an info
  row says so). Aggregated per model over all groups, and per scaffold type (generalist,
  task-specific).
- ``frontier_distance_cost`` / ``frontier_distance_latency``: groups = benchmarks; the value is the
  model's ``hull_distance`` (hal-analysis's ``pareto_distance``) on **its own benchmark's**
  max-accuracy frontier (`hibayes.hal.frontier.cost_frontier` with ``per="model"``); lower wins.
  hal-analysis's ``calculate_pareto_win_rates`` looks distances up by model only, so every
  benchmark reuses the first benchmark's (assistantbench's) distances; that bug is not copied.

Aggregation per model (hal-analysis ``aggregate_win_rates``): ``win_rate_mean``, ``win_rate_std``
(sample sd, ddof 1) and ``win_rate_count`` over groups with a win rate; ``wins_sum`` and
``comparisons_sum``; ``overall_win_rate = wins_sum / comparisons_sum`` (the number HAL plots).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from hibayes.hal.errors import concat_errors, error_row, make_errors
from hibayes.hal.frontier import cost_frontier, latency_frontier

Ties = Literal["hal", "half"]

GROUP_COLUMNS: tuple[str, ...] = (
    "kind",
    "benchmark",
    "scaffold",
    "scaffold_type",
    "model",
    "value",
    "higher_is_better",
    "wins",
    "ties",
    "losses",
    "comparisons",
    "win_points",
    "win_rate",
    "ties_policy",
)

AGG_COLUMNS: tuple[str, ...] = (
    "win_rate_mean",
    "win_rate_std",
    "win_rate_count",
    "wins_sum",
    "ties_sum",
    "comparisons_sum",
    "overall_win_rate",
)


def pairwise_wins(values: np.ndarray, *, higher_is_better: bool = True, ties: Ties = "hal") -> pd.DataFrame:
    """Wins, ties, losses, comparisons, win points and win rate of each entry against all others."""
    if ties not in ("hal", "half"):
        raise ValueError(f"ties must be 'hal' or 'half', got {ties!r}")
    v = np.asarray(values, dtype=float)
    if np.isnan(v).any():
        raise ValueError("pairwise_wins: values contain NaN")
    better = v[:, None] > v[None, :] if higher_is_better else v[:, None] < v[None, :]
    equal = v[:, None] == v[None, :]
    np.fill_diagonal(equal, False)
    wins = better.sum(axis=1)
    tie_count = equal.sum(axis=1)
    comparisons = np.full(len(v), len(v) - 1)
    points = wins + (0.5 * tie_count if ties == "half" else 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(comparisons > 0, points / np.maximum(comparisons, 1), np.nan)
    return pd.DataFrame({"wins": wins, "ties": tie_count, "losses": comparisons - wins - tie_count,
                         "comparisons": comparisons, "win_points": points.astype(float), "win_rate": rate})


def _group_rows(kind: str, frame: pd.DataFrame, value_col: str, higher: bool, ties: Ties,
                extra: dict[str, Any]) -> dict[str, np.ndarray]:
    """One group's rows of the groups table, as columns: a dict per row cost more than the
    comparisons (a 10k-run table has a thousand groups)."""
    res = pairwise_wins(frame[value_col].to_numpy(float), higher_is_better=higher, ties=ties)
    n = len(frame)

    def column(name: str) -> np.ndarray:
        return frame[name].to_numpy(object) if name in frame else np.full(n, None, dtype=object)

    scaffold_type = np.full(n, extra["scaffold_type"], dtype=object) if "scaffold_type" in extra \
        else column("scaffold_type")
    return {"kind": np.full(n, kind, dtype=object), "benchmark": column("benchmark"), "scaffold": column("scaffold"),
            "scaffold_type": scaffold_type, "model": column("model"), "value": frame[value_col].to_numpy(float),
            "higher_is_better": np.full(n, higher), **{c: res[c].to_numpy() for c in res.columns},
            "ties_policy": np.full(n, ties, dtype=object)}


def win_rate_table(
    runs: pd.DataFrame, *, ties: Ties = "hal", distances: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group-level win rates of every kind (see the module docstring); returns ``(groups, errors)``.

    `runs` is a ``run_metrics`` table. Runs with NaN accuracy are left out (an error row each); a
    model whose best run has no cost (latency) is left out of that distance win rate (an error row
    from the frontier). Set ``distances=False`` to skip the two distance kinds.

    ``groups`` columns: ``kind``, ``benchmark``, ``scaffold`` (for ``per_scaffold`` the group's
    scaffold; for the other kinds the model's best-accuracy scaffold), ``scaffold_type`` (NA except
    for ``per_scaffold``), ``model``, ``value`` (accuracy or distance compared), ``higher_is_better``,
    ``wins``, ``ties``, ``losses``, ``comparisons``, ``win_points`` (wins, plus half the ties under
    ``ties="half"``), ``win_rate`` (win_points / comparisons, NaN for a model alone in its group),
    ``ties_policy``.
    """
    src = "win_rates"
    errs = []
    for rec in runs[runs["accuracy"].isna()].to_dict("records"):
        errs.append(error_row(src, "error", "accuracy", "run has no accuracy; left out of the win rates",
                              benchmark=rec["benchmark"], model=rec["model"], scaffold=rec["scaffold"], count=1))
    valid = runs[runs["accuracy"].notna()].reset_index(drop=True)
    parts: list[dict[str, np.ndarray]] = []

    # max accuracy: best scaffold per model per benchmark
    if len(valid):
        idx = valid.groupby(["benchmark", "model"], sort=True)["accuracy"].idxmax()
        best = valid.loc[idx.to_numpy()]
        for _, part in best.groupby("benchmark", sort=True):
            parts.append(_group_rows("max_accuracy", part, "accuracy", True, ties, {"scaffold_type": None}))

    # per (benchmark, scaffold): first run per model
    for (benchmark, scaffold), part in valid.groupby(["benchmark", "scaffold"], sort=True):
        counts = part.groupby("model").size()
        for model, count in counts[counts > 1].items():
            errs.append(error_row(src, "info", "run_id",
                                  f"{count} runs of this model with this scaffold: the first is used, as in "
                                  "hal-analysis", benchmark=benchmark, model=model, scaffold=scaffold,
                                  count=int(count)))
        first = part.drop_duplicates("model", keep="first").sort_values("model", kind="stable")
        parts.append(_group_rows("per_scaffold", first, "accuracy", True, ties, {}))

    # distance to each benchmark's own convex frontier (best run per model)
    if distances and len(valid):
        for axis, fn in (("cost", cost_frontier), ("latency", latency_frontier)):
            frontier, ferr = fn(valid, per="model")
            errs.extend(ferr.to_dict("records"))
            inc = frontier[frontier["included"]]
            for _, part in inc.groupby("benchmark", sort=True):
                parts.append(_group_rows(f"frontier_distance_{axis}", part, "hull_distance", False, ties,
                                         {"scaffold_type": None}))

    groups = pd.DataFrame({c: np.concatenate([p[c] for p in parts]) if parts else [] for c in GROUP_COLUMNS},
                          columns=list(GROUP_COLUMNS))
    for column in ("wins", "ties", "losses", "comparisons"):
        groups[column] = groups[column].astype("int64")
    for column in ("value", "win_points", "win_rate"):
        groups[column] = groups[column].astype(float)
    return groups, make_errors(errs)


def aggregate_win_rates(groups: pd.DataFrame, by: tuple[str, ...] | list[str] = ("kind", "model")) -> pd.DataFrame:
    """Aggregate group-level win rates by the columns `by` (hal-analysis ``aggregate_win_rates``).

    Returns `by` columns plus `AGG_COLUMNS`: ``win_rate_mean`` / ``win_rate_std`` /
    ``win_rate_count`` (macro, over groups with a win rate), ``wins_sum`` (sum of win points),
    ``ties_sum``, ``comparisons_sum`` and ``overall_win_rate`` = wins_sum / comparisons_sum (micro).
    """
    by = list(by)
    if groups.empty:
        return pd.DataFrame(columns=by + list(AGG_COLUMNS))
    agg = groups.groupby(by, sort=True, dropna=False).agg(
        win_rate_mean=("win_rate", "mean"),
        win_rate_std=("win_rate", "std"),
        win_rate_count=("win_rate", "count"),
        wins_sum=("win_points", "sum"),
        ties_sum=("ties", "sum"),
        comparisons_sum=("comparisons", "sum"),
    ).reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["overall_win_rate"] = np.where(agg["comparisons_sum"] > 0,
                                           agg["wins_sum"] / agg["comparisons_sum"].clip(lower=1), np.nan)
    return agg


def model_win_rates(groups: pd.DataFrame) -> pd.DataFrame:
    """One row per (summary, model): the win rates a HAL report shows.

    ``summary`` is one of ``max_accuracy``, ``per_scaffold`` (all scaffolds),
    ``per_scaffold_generalist``, ``per_scaffold_task_specific``, ``frontier_distance_cost``,
    ``frontier_distance_latency``; the other columns are `AGG_COLUMNS` (see `aggregate_win_rates`).
    """
    parts = []
    plain = aggregate_win_rates(groups, ("kind", "model")).rename(columns={"kind": "summary"})
    parts.append(plain)
    scaffold = groups[groups["kind"] == "per_scaffold"]
    if len(scaffold):
        typed = aggregate_win_rates(scaffold, ("scaffold_type", "model"))
        typed.insert(0, "summary", "per_scaffold_" + typed.pop("scaffold_type").astype(str))
        parts.append(typed)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["summary", "model"], kind="stable").reset_index(drop=True)


def benchmark_win_rates(groups: pd.DataFrame) -> pd.DataFrame:
    """One row per (summary, benchmark, model): the per-benchmark win rates the heatmaps show.

    Same summaries as `model_win_rates`. For a scaffold type with several scaffolds on one
    benchmark (e.g. two task-specific scaffolds) the groups are pooled: wins_sum / comparisons_sum.
    """
    parts = [aggregate_win_rates(groups, ("kind", "benchmark", "model")).rename(columns={"kind": "summary"})]
    scaffold = groups[groups["kind"] == "per_scaffold"]
    if len(scaffold):
        typed = aggregate_win_rates(scaffold, ("scaffold_type", "benchmark", "model"))
        typed.insert(0, "summary", "per_scaffold_" + typed.pop("scaffold_type").astype(str))
        parts.append(typed)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["summary", "benchmark", "model"], kind="stable").reset_index(drop=True)


def win_rates(runs: pd.DataFrame, *, ties: Ties = "hal") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Convenience for the ``win_rates`` asset: ``(model_win_rates, groups, errors)``.

    ``groups`` is `win_rate_table`'s output (keep it: the heatmaps and per-benchmark tables are
    derived from it with `benchmark_win_rates`).
    """
    groups, errs = win_rate_table(runs, ties=ties)
    return model_win_rates(groups), groups, concat_errors(errs)
