"""Known answers for the two frontiers and the distances, computed by hand.

Toy A-F (research notes §5.7): A (1, .50), B (2, .80), C (3, .60), D (4, .90), E (2.5, .82),
F (5, .85). Upper hull right to left F, D, B, A; convex frontier {A, B, D}; Pareto set
{A, B, D, E} (E is non-dominated but below chord B-D); F is a hull vertex dominated by D.
Normalised: x' = (x - 1) / 4, y' = (y - .5) / .4.

Four-run benchmark: a (1.0, .60), b (2.0, .65), c (3.0, .90), d (2.5, .60): d is dominated by a
and ties a's accuracy; b is on the Pareto set but below chord a-c, so not on the convex frontier.
Normalised: x' = (x - 1) / 2, y' = (y - .6) / .3 -> a (0, 0), b (.5, 1/6), c (1, 1), d (.75, 0).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hibayes.hal import (
    compute_frontier,
    convex_frontier_mask,
    cost_frontier,
    frontier_summary,
    hull_distances,
    latency_frontier,
    pareto_set_distances,
    pareto_set_mask,
)
from hibayes.hal.frontier import best_run_per_model, convex_frontier_masks, pareto_set_masks, upper_hull_indices

TOY = pd.DataFrame(
    {
        "benchmark": "toy",
        "model": list("ABCDEF"),
        "scaffold": "generalist",
        "total_cost": [1.0, 2.0, 3.0, 4.0, 2.5, 5.0],
        "accuracy": [0.50, 0.80, 0.60, 0.90, 0.82, 0.85],
    }
)


def four_runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "benchmark": "b4",
            "model": ["a", "b", "c", "d"],
            "scaffold": "generalist",
            "scaffold_type": "generalist",
            "run_id": ["ra", "rb", "rc", "rd"],
            "total_cost": [1.0, 2.0, 3.0, 2.5],
            "mean_latency": [10.0, 20.0, 30.0, 25.0],
            "accuracy": [0.60, 0.65, 0.90, 0.60],
        }
    )


def by_model(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("model")


def test_toy_masks_and_hull_order():
    x, y = TOY["total_cost"].to_numpy(), TOY["accuracy"].to_numpy()
    assert list(np.array(list("ABCDEF"))[upper_hull_indices(x, y)]) == list("FDBA")
    assert list(pareto_set_mask(x, y)) == [True, True, False, True, True, False]
    assert list(convex_frontier_mask(x, y)) == [True, True, False, True, False, False]


def test_toy_distances_and_gaps():
    out, errors = compute_frontier(TOY, "total_cost")
    assert errors.empty
    f = by_model(out)
    expected_hull = {"A": 0, "B": 0, "D": 0, "C": 0.395285, "E": 0.011180, "F": 0.279508}
    for model, value in expected_hull.items():
        assert f.loc[model, "hull_distance"] == pytest.approx(value, abs=1e-6), model
    # Pareto-set distance (normalised): C must cut cost to B's (0.5 -> 0.25); F must reach D's
    # accuracy (0.875 -> 1); members are 0.
    assert f.loc["C", "pareto_set_distance"] == pytest.approx(0.25, abs=1e-12)
    assert f.loc["F", "pareto_set_distance"] == pytest.approx(0.125, abs=1e-12)
    for model in "ABDE":
        assert f.loc[model, "pareto_set_distance"] == 0
    # Accuracy gaps in raw units: hull A-B-D then flat 0.90; best cheaper run.
    assert f.loc["C", "hull_accuracy_gap"] == pytest.approx(0.85 - 0.60, abs=1e-12)
    assert f.loc["E", "hull_accuracy_gap"] == pytest.approx(0.825 - 0.82, abs=1e-12)
    assert f.loc["F", "hull_accuracy_gap"] == pytest.approx(0.05, abs=1e-12)
    assert f.loc["C", "pareto_accuracy_gap"] == pytest.approx(0.82 - 0.60, abs=1e-12)
    assert f.loc["E", "pareto_accuracy_gap"] == 0
    assert f.loc["F", "pareto_accuracy_gap"] == pytest.approx(0.05, abs=1e-12)
    # Normalised coordinates as HAL writes them.
    assert f.loc["E", "x_norm"] == pytest.approx(0.375)
    assert f.loc["E", "y_norm"] == pytest.approx(0.8)


def test_four_run_benchmark_known_answers():
    out, errors = cost_frontier(four_runs())
    assert errors.empty
    f = by_model(out)
    assert f["on_pareto_set"].tolist() == [True, True, True, False]
    assert f["on_convex_frontier"].tolist() == [True, False, True, False]
    assert f.loc["b", "hull_distance"] == pytest.approx(math.sqrt(2) / 6, abs=1e-12)
    assert f.loc["d", "hull_distance"] == pytest.approx(0.375 * math.sqrt(2), abs=1e-12)
    assert f.loc["a", "hull_distance"] == f.loc["c", "hull_distance"] == 0
    assert f.loc["d", "pareto_set_distance"] == pytest.approx(1 / 6, abs=1e-12)
    assert f.loc["b", "pareto_set_distance"] == 0
    assert f.loc["b", "hull_accuracy_gap"] == pytest.approx(0.10, abs=1e-12)
    assert f.loc["d", "hull_accuracy_gap"] == pytest.approx(0.225, abs=1e-12)
    assert f.loc["b", "pareto_accuracy_gap"] == 0
    assert f.loc["d", "pareto_accuracy_gap"] == pytest.approx(0.05, abs=1e-12)
    assert (out["axis"] == "cost").all() and (out["per"] == "run").all()
    summary = frontier_summary(out)
    assert summary.iloc[0][["n_points", "n_pareto_set", "n_convex_frontier", "n_pareto_not_convex"]].tolist() == [
        4, 3, 2, 1]
    # Latency has the same ordering here (x10), so the same flags.
    lat, _ = latency_frontier(four_runs())
    assert lat["on_convex_frontier"].tolist() == out["on_convex_frontier"].tolist()


def test_every_convex_point_is_pareto_on_random_clouds():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        x = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=n) if rng.uniform() < 0.3 else rng.uniform(0, 10, n)
        y = rng.choice([0.1, 0.5, 0.9], size=n) if rng.uniform() < 0.3 else rng.uniform(0, 1, n)
        convex = convex_frontier_mask(x, y)
        pareto = pareto_set_mask(x, y)
        assert not (convex & ~pareto).any()
        assert convex.any()
        # The cheapest, most accurate-among-cheapest point is always on both.
        cheapest = np.flatnonzero(x == x.min())
        top = cheapest[np.argmax(y[cheapest])]
        assert pareto[top] and convex[top]
        # The most accurate point is always on the Pareto set.
        best = np.flatnonzero(y == y.max())
        assert pareto[best[np.argmin(x[best])]]


def test_duplicates_collinear_and_single_points():
    # Two identical runs: both are non-dominated, only the first (input order) is a hull vertex.
    x, y = np.array([1.0, 1.0, 2.0]), np.array([0.5, 0.5, 0.9])
    assert pareto_set_mask(x, y).tolist() == [True, True, True]
    assert convex_frontier_mask(x, y).tolist() == [True, False, True]
    # A point exactly on a chord is popped (cross <= 0): Pareto set but not convex frontier.
    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.2, 0.5, 0.8])
    assert convex_frontier_mask(x, y).tolist() == [True, False, True]
    assert pareto_set_mask(x, y).tolist() == [True, True, True]
    # One point: on both frontiers, distance 0.
    assert convex_frontier_mask([3.0], [0.4]).tolist() == [True]
    # Single-point frontier (departure from hal-analysis, which returns all zeros): distance to it.
    xn, yn = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.5])
    d = hull_distances(xn, yn, np.array([True, False, False]))
    assert d.tolist() == pytest.approx([0.0, math.sqrt(2), math.sqrt(0.5)])
    assert pareto_set_distances(xn, yn, np.array([True, False, False])).tolist() == pytest.approx([0.0, 1.0, 0.5])


def test_bad_points_are_reported_and_kept():
    runs = four_runs()
    runs.loc[1, "total_cost"] = np.nan
    runs.loc[3, "total_cost"] = -1.0
    runs.loc[2, "accuracy"] = np.nan
    out, errors = cost_frontier(runs)
    assert len(out) == 4  # nothing dropped
    assert out["included"].tolist() == [True, False, False, False]
    assert out.loc[1:, "on_pareto_set"].isna().all()
    assert out.loc[0, "on_convex_frontier"]
    assert set(errors["field"]) == {"total_cost", "accuracy"}
    assert (errors["severity"] == "error").all()
    assert sorted(errors["model"]) == ["b", "c", "d"]
    assert errors.loc[errors["model"] == "d", "message"].str.contains("negative").all()


def test_constant_columns_normalise_to_zero():
    runs = four_runs().assign(total_cost=2.0)
    out, _ = cost_frontier(runs)
    assert (out["x_norm"] == 0).all()
    f = by_model(out)
    # Same cost: only the most accurate is non-dominated.
    assert f["on_pareto_set"].tolist() == [False, False, True, False]
    assert f.loc["a", "hull_distance"] == pytest.approx(1.0)


def test_best_run_per_model_takes_first_of_ties_and_own_cost():
    runs = pd.DataFrame(
        {
            "benchmark": ["b", "b", "b", "b"],
            "model": ["m", "m", "m", "n"],
            "scaffold": ["s1", "s2", "s3", "s1"],
            "accuracy": [0.4, 0.7, 0.7, np.nan],
            "total_cost": [1.0, 9.0, 2.0, 3.0],
        }
    )
    best, errors = best_run_per_model(runs)
    assert best[["model", "scaffold", "total_cost", "n_runs"]].values.tolist() == [["m", "s2", 9.0, 3]]
    assert errors["model"].tolist() == ["n"] and errors["field"].tolist() == ["accuracy"]


def test_missing_column_is_a_clear_error():
    with pytest.raises(ValueError, match="mean_latency"):
        latency_frontier(four_runs().drop(columns="mean_latency"))


def test_many_draws_at_once_match_one_draw_at_a_time():
    # The frontier probabilities test every draw at once (`pareto_set_masks`, `convex_frontier_masks`);
    # each row must be what the one-draw functions say, with tied costs, tied accuracies (the
    # one-draw fallback) and clouds where every point is on the Pareto set.
    rng = np.random.default_rng(11)
    for trial in range(60):
        m = int(rng.integers(1, 40))
        x = rng.choice([1.0, 2.0, 3.0, 5.0], size=m) if trial % 3 == 0 else rng.uniform(0, 10, m)
        if trial % 4 == 1:
            draws = rng.choice([0.1, 0.5, 0.9], size=(30, m))
        elif trial % 4 == 2:
            draws = np.sort(rng.uniform(0, 1, (30, m)), axis=1)[:, np.argsort(np.argsort(x, kind="stable"))]
        else:
            draws = rng.beta(2.0, 3.0, size=(30, m))
        pareto = pareto_set_masks(x, draws)
        convex = convex_frontier_masks(x, draws, pareto)
        for d in range(len(draws)):
            assert pareto[d].tolist() == pareto_set_mask(x, draws[d]).tolist()
            assert convex[d].tolist() == convex_frontier_mask(x, draws[d]).tolist()
