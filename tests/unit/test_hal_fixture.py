"""Reproduce hal-analysis's published numbers from its own metrics CSV (``../shared/fixtures/hal``).

The fixture is third-party data without a licence: it is read in place and never copied.
Tolerances: counts (wins, comparisons, win_rate_count, pareto_optimal) must match exactly; float
columns to 1e-12 absolute (the CSVs were written from float64 with ``repr`` precision, and our
arithmetic differs from hal-analysis's only in operation order).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hibayes.hal import (
    aggregate_win_rates,
    cost_frontier,
    frontier_summary,
    model_cost_latency,
    model_win_rates,
    read_hal_metrics_csv,
    run_metrics_from_hal,
    win_rate_table,
)

FIXTURE = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "hal"
TOL = 1e-12
AGG = ["win_rate_mean", "win_rate_std", "win_rate_count", "wins_sum", "comparisons_sum", "overall_win_rate"]

pytestmark = pytest.mark.skipif(
    not (FIXTURE / "cleaned_all_metrics.csv").is_file(),
    reason=f"HAL fixture absent: {FIXTURE} (hal-analysis data, not redistributable, never copied into the repo)",
)


@pytest.fixture(scope="module")
def hal():
    table = read_hal_metrics_csv(FIXTURE / "cleaned_all_metrics.csv")
    runs, errors = run_metrics_from_hal(table)
    groups, _ = win_rate_table(runs)
    frontier, _ = cost_frontier(runs, per="model")
    return {"table": table, "runs": runs, "errors": errors, "groups": groups, "frontier": frontier}


def published(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURE / name)


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str], columns: list[str]) -> None:
    merged = theirs.merge(ours, on=keys, how="outer", suffixes=("_pub", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", keys + ["_merge"]]
    for column in columns:
        a, b = merged[column].astype(float).to_numpy(), merged[f"{column}_pub"].astype(float).to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b)), column
        ok = np.isnan(a) | (np.abs(a - b) <= TOL)
        assert ok.all(), (column, merged.loc[~ok, keys + [column, f"{column}_pub"]])


def test_fixture_shape_and_reported_quirks(hal):
    runs, errors = hal["runs"], hal["errors"]
    assert len(runs) == 163
    assert runs["benchmark"].nunique() == 11 and runs["model"].nunique() == 9 and runs["scaffold"].nunique() == 13
    assert (runs["scaffold_type"] == "generalist").sum() == 65  # "HAL Generalist Agent" by the default rule
    zero = errors[(errors.field == "total_cost") & (errors.severity == "warning")]
    assert zero[["benchmark", "model"]].values.tolist() == [["assistantbench", "gemini-2.0-flash"]]
    dup = errors[errors.field == "run_id"].set_index("benchmark")["count"].to_dict()
    assert dup == {"corebench_hard": 3, "online_mind2web": 2}
    assert (errors.field == "n_tasks").sum() == 11  # no task counts: uncertainty skipped, said per benchmark


def test_max_accuracy_win_rates(hal):
    ours = model_win_rates(hal["groups"])
    ours = ours[ours.summary == "max_accuracy"].rename(columns={"model": "model_name_short"})
    assert_same(ours, published("model_win_rates_max.csv"), ["model_name_short"], AGG)
    per_bench = aggregate_win_rates(hal["groups"][hal["groups"].kind == "max_accuracy"], ("model", "benchmark"))
    per_bench = per_bench.rename(columns={"model": "model_name_short", "benchmark": "benchmark_name"})
    assert_same(per_bench, published("benchmark_win_rates_max.csv"), ["model_name_short", "benchmark_name"], AGG)


def test_per_scaffold_win_rates(hal):
    ours = model_win_rates(hal["groups"])
    ours = ours[ours.summary == "per_scaffold"].rename(columns={"model": "model_name_short"})
    assert_same(ours, published("model_win_rates.csv"), ["model_name_short"], AGG)
    scaffold = hal["groups"][hal["groups"].kind == "per_scaffold"]
    per = aggregate_win_rates(scaffold, ("model", "benchmark", "scaffold")).rename(
        columns={"model": "model_name_short", "benchmark": "benchmark_name", "scaffold": "agent_name_short"})
    assert_same(per, published("benchmark_win_rates.csv"),
                ["model_name_short", "benchmark_name", "agent_name_short"], AGG)


def test_pareto_distances_are_hull_distances(hal):
    ours = hal["frontier"].rename(columns={"model": "model_name_short", "benchmark": "benchmark_name"})
    theirs = published("pareto_distances.csv").rename(
        columns={"total_cost": "x_norm", "accuracy": "y_norm", "pareto_distance": "hull_distance"})
    ours = ours.assign(pareto_optimal_ours=ours["on_convex_frontier"].astype(bool))
    merged = theirs.merge(ours, on=["model_name_short", "benchmark_name"], suffixes=("", "_ours"))
    assert len(merged) == len(theirs) == 90
    assert (merged["pareto_optimal"] == merged["pareto_optimal_ours"]).all()
    for column in ("x_norm", "y_norm", "hull_distance"):
        assert np.abs(merged[column] - merged[f"{column}_ours"]).max() <= TOL, column


def test_published_pareto_labels_non_dominated_runs_as_dominated(hal):
    summary = frontier_summary(hal["frontier"]).set_index("benchmark")
    assert (summary["n_pareto_not_convex"] > 0).sum() == 8
    f = hal["frontier"].set_index(["benchmark", "model"])
    for benchmark in ("gaia", "online_mind2web", "scicode", "scienceagentbench"):
        row = f.loc[(benchmark, "deepseek-ai/DeepSeek-V3")]
        assert row.on_pareto_set and not row.on_convex_frontier and row.hull_distance > 0


def test_distance_win_rates_fix_the_lookup_bug(hal):
    """hal-analysis looks distances up by model only (first benchmark = assistantbench).

    Re-creating that lookup from our distances reproduces its published CSVs exactly, which both
    confirms our distances and pins the bug; our own win rate uses each benchmark's distances.
    """
    frontier = hal["frontier"]
    first = frontier.sort_values(["benchmark", "model"]).drop_duplicates("model").set_index("model")["hull_distance"]
    buggy = frontier.assign(value=frontier["model"].map(first))
    rows = []
    for benchmark, part in buggy.groupby("benchmark"):
        v = part["value"].to_numpy()
        for model, value in zip(part["model"], v):
            wins = int((value < v).sum())
            rows.append({"model": model, "benchmark": benchmark, "wins": wins, "win_points": float(wins),
                         "ties": 0, "comparisons": len(v) - 1, "win_rate": wins / (len(v) - 1)})
    buggy_groups = pd.DataFrame(rows).assign(kind="bug")
    reproduced = aggregate_win_rates(buggy_groups, ("model",)).rename(columns={"model": "model_name_short"})
    assert_same(reproduced, published("model_win_rates_pareto.csv"), ["model_name_short"], AGG)
    per_bench = aggregate_win_rates(buggy_groups, ("model", "benchmark")).rename(
        columns={"model": "model_name_short", "benchmark": "benchmark_name"})
    assert_same(per_bench, published("benchmark_win_rates_pareto.csv"), ["model_name_short", "benchmark_name"], AGG)

    fixed = model_win_rates(hal["groups"])
    fixed = fixed[fixed.summary == "frontier_distance_cost"].set_index("model")["overall_win_rate"]
    pub = published("model_win_rates_pareto.csv").set_index("model_name_short")["overall_win_rate"]
    assert pub["o3-2025-04-16"] == 0.0 and fixed["o3-2025-04-16"] > 0.0
    assert (fixed - pub.reindex(fixed.index)).abs().max() > 0.1


def test_mean_cost_and_latency(hal):
    means, errors = model_cost_latency(hal["runs"])
    assert errors.empty
    cost = published("model_mean_cost.csv").merge(means, left_on="model_name_short", right_on="model")
    lat = published("model_mean_latency.csv").merge(means, left_on="model_name_short", right_on="model")
    assert len(cost) == len(lat) == 9
    assert np.allclose(cost["mean_cost_x"], cost["mean_cost_y"], rtol=1e-12, atol=0)
    assert np.allclose(lat["mean_of_mean_latency"], lat["mean_latency"], rtol=1e-12, atol=0)
