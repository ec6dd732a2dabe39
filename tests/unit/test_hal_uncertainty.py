"""Frontier probabilities under Beta-binomial accuracy noise: closed forms and limits.

Two runs, a (cost 1) with k = 0 of n = 0 (posterior Uniform(0, 1)) and b (cost 2) with 1 of 1
(posterior Beta(2, 1), density 2t): b is on either frontier iff it is more accurate than a,
P = integral of t * 2t dt over [0, 1] = 2/3; a, the cheaper, is always on both. With 40,000 draws
the Monte Carlo sd is sqrt(2/9 / 40000) = 0.0024; tolerance 0.01 (4 sd).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hibayes.hal import cost_frontier, frontier_probabilities, run_metrics_from_hal

TOY = pd.DataFrame(
    {
        "benchmark": "toy",
        "model": list("ABCDEF"),
        "scaffold": "s",
        "total_cost": [1.0, 2.0, 3.0, 4.0, 2.5, 5.0],
        "accuracy": [0.50, 0.80, 0.60, 0.90, 0.82, 0.85],
    }
)


def test_two_runs_closed_form():
    points = pd.DataFrame({"benchmark": "b", "model": ["a", "b"], "total_cost": [1.0, 2.0],
                           "accuracy": [0.5, 1.0], "n_scored": [0, 1], "successes": [0.0, 1.0]})
    probs, errors = frontier_probabilities(points, n_draws=40_000, seed=3)
    assert errors.empty
    p = probs.set_index("model")
    assert p.loc["a", "p_pareto_set"] == 1.0 and p.loc["a", "p_convex_frontier"] == 1.0
    assert p.loc["b", "p_pareto_set"] == pytest.approx(2 / 3, abs=0.01)
    assert p.loc["b", "p_convex_frontier"] == p.loc["b", "p_pareto_set"]
    assert p.loc["b", "mc_se_pareto_set"] == pytest.approx(np.sqrt(2 / 9 / 40_000), rel=0.05)


def test_large_samples_recover_the_observed_flags():
    n = 10_000_000
    points = TOY.assign(n_scored=n, successes=TOY["accuracy"] * n)
    probs, _ = frontier_probabilities(points, n_draws=300, seed=0)
    frontier, _ = cost_frontier(points)
    assert probs["p_pareto_set"].tolist() == frontier["on_pareto_set"].astype(float).tolist()
    assert probs["p_convex_frontier"].tolist() == frontier["on_convex_frontier"].astype(float).tolist()
    # E: solidly non-dominated, solidly below the B-D chord.
    e = probs.set_index("model").loc["E"]
    assert (e.p_pareto_set, e.p_convex_frontier) == (1.0, 0.0)


def test_small_samples_are_uncertain_and_seeded():
    points = TOY.assign(n_scored=10, successes=TOY["accuracy"] * 10)
    a, _ = frontier_probabilities(points, n_draws=2000, seed=1)
    b, _ = frontier_probabilities(points, n_draws=2000, seed=1)
    c, _ = frontier_probabilities(points, n_draws=2000, seed=2)
    assert a["p_pareto_set"].tolist() == b["p_pareto_set"].tolist()
    assert a["p_pareto_set"].tolist() != c["p_pareto_set"].tolist()
    p = a.set_index("model")
    assert 0.05 < p.loc["E", "p_pareto_set"] < 0.95  # E vs B at n = 10 is a coin toss, not a certainty
    assert (p["p_convex_frontier"] <= p["p_pareto_set"] + 1e-12).all()
    assert p.loc["A", "p_pareto_set"] == 1.0  # the cheapest run is always non-dominated


def test_skipped_with_a_reason_without_sample_counts():
    hal = pd.DataFrame({"benchmark_name": ["b", "b"], "agent_name_short": ["s", "s"],
                        "model_name_short": ["m1", "m2"], "accuracy": [0.2, 0.4], "total_cost": [1.0, 2.0],
                        "mean_latency": [3.0, 4.0]})
    runs, _ = run_metrics_from_hal(hal)
    probs, errors = frontier_probabilities(runs, axis="latency")
    assert probs["p_pareto_set"].isna().all()
    assert errors.iloc[0].severity == "info" and "n_tasks" in errors.iloc[0].message
    runs, _ = run_metrics_from_hal(hal, n_tasks={"b": 50})
    probs, errors = frontier_probabilities(runs, axis="latency", n_draws=500)
    assert errors.empty and probs["p_pareto_set"].notna().all()


def test_bad_arguments():
    points = TOY.assign(n_scored=10, successes=TOY["accuracy"] * 10)
    with pytest.raises(ValueError, match="n_draws"):
        frontier_probabilities(points, n_draws=0)
    with pytest.raises(ValueError, match="axis"):
        frontier_probabilities(points, axis="tokens")
    with pytest.raises(ValueError, match="successes"):
        frontier_probabilities(points.assign(successes=20.0))
