"""Leave-one-model-out validation and the plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hibayes.irt.anchors import select_anchors
from hibayes.irt.config import IRTConfig
from hibayes.irt.models import IRTFit
from hibayes.irt.plots import plot_anchor_clusters, plot_estimates, plot_routing
from hibayes.irt.responses import response_matrix_from_arrays
from hibayes.irt.simulate import simulate_irt
from hibayes.irt.validation import leave_one_model_out, summarise_validation


def test_leave_one_model_out_on_simulated_data():
    sim = simulate_irt(6, 300, seed=21)
    rm = response_matrix_from_arrays(sim.y)
    cfg = IRTConfig(fit_method="map", steps=300, n_anchors=30, gp_bias="in_sample", seed=0,
                    n_interval_draws=200, kmeans_restarts=2)
    res = leave_one_model_out(rm, cfg)
    assert res["respondent"].tolist() == rm.respondents
    np.testing.assert_allclose(res["true_score"], sim.y.mean(axis=1))
    for e in ("anchor", "pirt", "gpirt", "random"):
        assert res[f"err_{e}"].notna().all()
        assert (res[f"err_{e}"] < 0.35).all()  # 5 training models: loose, this checks the mechanics
        assert ((res[f"{e}_lo"] <= res[e]) & (res[e] <= res[f"{e}_hi"])).all()
    summary = summarise_validation(res).set_index("estimator")
    assert set(summary.index) == {"anchor", "pirt", "gpirt", "random", "train_mean"}
    assert summary.loc["pirt", "mae"] == pytest.approx(res["err_pirt"].mean())
    assert 0 <= summary.loc["gpirt", "coverage"] <= 1
    with pytest.raises(ValueError, match="at least 3 respondents"):
        leave_one_model_out(rm.subset(["m0", "m1"]), cfg)


def test_plots_write_pngs(tmp_path):
    sim = simulate_irt(10, 120, seed=2)
    rm = response_matrix_from_arrays(sim.y)
    fit = IRTFit("2pl", 1, "map", rm.respondents, rm.items, sim.theta, sim.a, sim.b)
    for space in ("irt", "correctness"):
        anchors = select_anchors(rm, 12, fit=fit, space=space, seed=0)
        fig = plot_anchor_clusters(anchors, tmp_path / f"anchors_{space}.png")
        assert fig.axes and (tmp_path / f"anchors_{space}.png").stat().st_size > 1000
    report = pd.DataFrame({"task": ["ALL", "t"], "routed_accuracy": [0.6, 0.6], "best_single_accuracy": [0.55, 0.55],
                           "oracle_accuracy": [0.8, 0.8], "knn_accuracy": [0.5, 0.5]})
    plot_routing(report, tmp_path / "routing.png")
    est = pd.DataFrame({"respondent": ["a", "b"], "true_score": [0.5, np.nan],
                        **{f"{e}{s}": [0.5 + d, 0.4 + d] for e in ("anchor", "pirt", "gpirt")
                           for s, d in (("", 0.0), ("_lo", -0.05), ("_hi", 0.05))}})
    plot_estimates(est, tmp_path / "estimates.png")
    assert (tmp_path / "routing.png").stat().st_size > 1000
    assert (tmp_path / "estimates.png").stat().st_size > 1000


def test_routing_legend_covers_no_bar_or_value():
    # issue 13: the legend sat inside the axes, on top of the bars
    report = pd.DataFrame({"task": ["ALL", "mmlu", "gsm8k"], "best_single_accuracy": [0.62, 0.9, 0.3],
                           "routed_accuracy": [0.7, 0.95, 0.35], "knn_accuracy": [0.65, 0.2, 0.9],
                           "oracle_accuracy": [0.85, 0.98, 0.95]})
    fig = plot_routing(report)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legends = [legend for legend in (*fig.legends, ax.get_legend()) if legend is not None]
    assert len(legends) == 1
    legend_box = legends[0].get_window_extent(renderer)
    covered = [artist for artist in (*ax.patches, *ax.texts)
               if legend_box.overlaps(artist.get_window_extent(renderer))]
    assert not covered


def test_validation_folds_hold_each_respondent_out_once_and_recover_the_scores():
    """With more respondents than validation_folds the respondents are dealt into folds: each is
    held out exactly once, from a fit that did not see it (n_train = J - its fold's size), rows
    come back in respondent order, and the estimates recover the true scores: on 12 x 300 simulated
    2PL items with 30 anchors, p-IRT's mean absolute error (0.061 here) is below 0.08, under the
    standard error of a 30-item random sample's mean (sqrt(0.25 / 30 * 0.9) = 0.087), and below
    the no-data baseline's."""
    sim = simulate_irt(12, 300, seed=4)
    rm = response_matrix_from_arrays(sim.y)
    cfg = IRTConfig(fit_method="map", steps=300, n_anchors=30, gp_bias="in_sample", seed=0,
                    n_interval_draws=200, kmeans_restarts=2, validation_folds=3)
    res = leave_one_model_out(rm, cfg)
    assert res["respondent"].tolist() == rm.respondents
    assert sorted(res["fold"].value_counts().tolist()) == [4, 4, 4]
    assert (res["n_train"] == 8).all()
    np.testing.assert_allclose(res["true_score"], sim.y.mean(axis=1))
    summary = summarise_validation(res).set_index("estimator")
    assert summary.loc["pirt", "mae"] < 0.08
    assert summary.loc["pirt", "mae"] < summary.loc["train_mean", "mae"]
    with pytest.raises(ValueError, match="validation_folds"):
        IRTConfig(validation_folds=1)
