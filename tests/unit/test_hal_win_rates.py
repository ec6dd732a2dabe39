"""Win rates on hand-made tables, with the ties counted as hal-analysis counts them.

Benchmark b4, scaffold generalist: a .60, b .65, c .90, d .60 (costs 1, 2, 3, 2.5).
- max accuracy (strict; a tie is a comparison won by neither): wins a 0, b 2, c 3, d 0 of 3;
  a and d tie once. With ties="half": a and d get 0.5 / 3.
- hull distances (test_hal_frontier): a 0, b sqrt(2)/6, c 0, d .375 sqrt(2); lower wins:
  a beats b, d (ties c) -> 2/3; c -> 2/3; b beats d -> 1/3; d -> 0.
Adding scaffold task_specific on b4: a .70, b .50, c .50 (costs 1.5, 1, 1):
- per (b4, task_specific): a 2/2, b 0/2 and c 0/2 (b-c tie);
- max accuracy becomes a .70 (task_specific), b .65, c .90, d .60: a 2, b 1, c 3, d 0;
- per_scaffold pooled: a (0+2)/(3+2), b (2+0)/5, c (3+0)/5, d 0/3; a's macro mean (0 + 1)/2,
  sd sqrt(0.5).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hibayes.hal import (
    aggregate_win_rates,
    benchmark_win_rates,
    model_win_rates,
    pairwise_wins,
    win_rate_table,
    win_rates,
)


def generalist_runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "benchmark": "b4",
            "model": ["a", "b", "c", "d"],
            "scaffold": "generalist",
            "scaffold_type": "generalist",
            "run_id": ["ga", "gb", "gc", "gd"],
            "accuracy": [0.60, 0.65, 0.90, 0.60],
            "total_cost": [1.0, 2.0, 3.0, 2.5],
            "mean_latency": [10.0, 20.0, 30.0, 25.0],
        }
    )


def both_scaffolds() -> pd.DataFrame:
    ts = pd.DataFrame(
        {
            "benchmark": "b4",
            "model": ["a", "b", "c"],
            "scaffold": "task_specific",
            "scaffold_type": "task_specific",
            "run_id": ["ta", "tb", "tc"],
            "accuracy": [0.70, 0.50, 0.50],
            "total_cost": [1.5, 1.0, 1.0],
            "mean_latency": [15.0, 10.0, 10.0],
        }
    )
    return pd.concat([generalist_runs(), ts], ignore_index=True)


def rows(groups: pd.DataFrame, kind: str) -> pd.DataFrame:
    return groups[groups["kind"] == kind].set_index("model")


def test_pairwise_rule():
    res = pairwise_wins(np.array([0.6, 0.65, 0.9, 0.6]))
    assert res["wins"].tolist() == [0, 2, 3, 0]
    assert res["ties"].tolist() == [1, 0, 0, 1]
    assert res["losses"].tolist() == [2, 1, 0, 2]
    assert res["comparisons"].tolist() == [3, 3, 3, 3]
    half = pairwise_wins(np.array([0.6, 0.65, 0.9, 0.6]), ties="half")
    assert half["win_rate"].tolist() == pytest.approx([0.5 / 3, 2 / 3, 1.0, 0.5 / 3])
    alone = pairwise_wins(np.array([0.3]))
    assert alone["comparisons"].tolist() == [0] and np.isnan(alone["win_rate"].iloc[0])
    low = pairwise_wins(np.array([0.2, 0.1]), higher_is_better=False)
    assert low["wins"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="ties"):
        pairwise_wins(np.array([0.1]), ties="draw")
    with pytest.raises(ValueError, match="NaN"):
        pairwise_wins(np.array([0.1, np.nan]))


def test_four_run_benchmark_max_accuracy_and_distance():
    groups, errors = win_rate_table(generalist_runs())
    assert errors.empty
    mx = rows(groups, "max_accuracy")
    assert mx["wins"].to_dict() == {"a": 0, "b": 2, "c": 3, "d": 0}
    assert mx["ties"].to_dict() == {"a": 1, "b": 0, "c": 0, "d": 1}
    assert (mx["comparisons"] == 3).all()
    dist = rows(groups, "frontier_distance_cost")
    assert dist["value"].to_dict() == pytest.approx({"a": 0, "b": math.sqrt(2) / 6, "c": 0, "d": 0.375 * math.sqrt(2)})
    assert dist["wins"].to_dict() == {"a": 2, "b": 1, "c": 2, "d": 0}
    assert dist["ties"].to_dict() == {"a": 1, "b": 0, "c": 1, "d": 0}
    assert rows(groups, "frontier_distance_latency")["wins"].to_dict() == {"a": 2, "b": 1, "c": 2, "d": 0}
    half, _ = win_rate_table(generalist_runs(), ties="half")
    assert rows(half, "max_accuracy")["win_rate"].to_dict() == pytest.approx(
        {"a": 0.5 / 3, "b": 2 / 3, "c": 1.0, "d": 0.5 / 3})
    assert (half["ties_policy"] == "half").all()


def test_best_scaffold_and_per_scaffold_type():
    groups, _ = win_rate_table(both_scaffolds())
    mx = rows(groups, "max_accuracy")
    assert mx["wins"].to_dict() == {"a": 2, "b": 1, "c": 3, "d": 0}
    assert mx.loc["a", "scaffold"] == "task_specific" and mx.loc["a", "value"] == 0.70
    ts = groups[(groups.kind == "per_scaffold") & (groups.scaffold == "task_specific")].set_index("model")
    assert ts["wins"].to_dict() == {"a": 2, "b": 0, "c": 0}
    assert ts["ties"].to_dict() == {"a": 0, "b": 1, "c": 1}
    summary = model_win_rates(groups).set_index(["summary", "model"])
    assert summary.loc[("per_scaffold", "a"), "overall_win_rate"] == pytest.approx(2 / 5)
    assert summary.loc[("per_scaffold", "b"), "overall_win_rate"] == pytest.approx(2 / 5)
    assert summary.loc[("per_scaffold", "c"), "overall_win_rate"] == pytest.approx(3 / 5)
    assert summary.loc[("per_scaffold", "d"), "overall_win_rate"] == 0
    assert summary.loc[("per_scaffold", "a"), "win_rate_mean"] == pytest.approx(0.5)
    assert summary.loc[("per_scaffold", "a"), "win_rate_std"] == pytest.approx(math.sqrt(0.5))
    assert summary.loc[("per_scaffold_generalist", "b"), "overall_win_rate"] == pytest.approx(2 / 3)
    assert summary.loc[("per_scaffold_task_specific", "a"), "overall_win_rate"] == 1.0
    assert ("per_scaffold_task_specific", "d") not in summary.index
    assert summary.loc[("max_accuracy", "a"), "wins_sum"] == 2
    per_bench = benchmark_win_rates(groups).set_index(["summary", "benchmark", "model"])
    assert per_bench.loc[("per_scaffold_generalist", "b4", "c"), "overall_win_rate"] == 1.0


def test_aggregation_matches_hal_semantics():
    groups = pd.DataFrame(
        {
            "kind": "max_accuracy",
            "model": ["m", "m", "m"],
            "benchmark": ["x", "y", "z"],
            "win_points": [1.0, 0.0, 0.0],
            "wins": [1, 0, 0],
            "ties": [0, 0, 0],
            "comparisons": [2, 4, 0],
            "win_rate": [0.5, 0.0, np.nan],
        }
    )
    agg = aggregate_win_rates(groups).iloc[0]
    assert agg.win_rate_mean == pytest.approx(0.25)  # NaN group skipped
    assert agg.win_rate_count == 2
    assert agg.win_rate_std == pytest.approx(math.sqrt(0.125))
    assert (agg.wins_sum, agg.comparisons_sum) == (1.0, 6)
    assert agg.overall_win_rate == pytest.approx(1 / 6)  # micro


def test_bad_runs_reported_and_duplicates_use_first():
    runs = both_scaffolds()
    runs.loc[len(runs)] = ["b4", "d", "generalist", "generalist", "gd2", 0.99, 9.0, 90.0]  # duplicate cell
    runs.loc[len(runs)] = ["b4", "e", "generalist", "generalist", "ge", np.nan, 1.0, 1.0]  # no accuracy
    runs.loc[len(runs)] = ["b4", "f", "generalist", "generalist", "gf", 0.10, np.nan, 1.0]  # no cost
    summary, groups, errors = win_rates(runs)
    gen = groups[(groups.kind == "per_scaffold") & (groups.scaffold == "generalist")].set_index("model")
    assert gen.loc["d", "value"] == 0.60  # the first run of the duplicate cell, as hal-analysis
    assert "e" not in gen.index
    assert rows(groups, "max_accuracy").loc["d", "value"] == 0.99  # max over every run
    assert "f" not in rows(groups, "frontier_distance_cost").index
    assert "f" in rows(groups, "frontier_distance_latency").index
    assert ((errors.model == "e") & (errors.field == "accuracy") & (errors.severity == "error")).sum() == 1
    assert ((errors.model == "d") & (errors.field == "run_id")).sum() == 1
    assert ((errors.model == "f") & (errors.field == "total_cost")).sum() == 1
    assert set(summary["summary"]) == {"max_accuracy", "per_scaffold", "per_scaffold_generalist",
                                       "per_scaffold_task_specific", "frontier_distance_cost",
                                       "frontier_distance_latency"}
