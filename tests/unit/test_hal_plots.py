"""The HAL report figures on a small example like the project's mock logs (4 models x 3 tasks x 2
scaffolds): every figure is built, labels never overlap, missing cells read "no runs"."""

from __future__ import annotations

import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Annotation, Text

from hibayes.hal import cost_frontier, load_prices, run_metrics_from_samples
from hibayes.hal.plots import hal_report, place_labels, plot_heatmap, save_figure

REPO = Path(__file__).resolve().parents[2]
MODELS = {  # accuracy, tokens per sample, seconds per sample
    "mockllm/aurora": (0.35, 300, 1.0),
    "mockllm/borealis": (0.55, 500, 2.0),
    "mockllm/cirrus": (0.70, 800, 4.0),
    "mockllm/draco": (0.80, 1200, 9.0),
}
TASKS = {"arc_easy": 0.1, "gsm8k": -0.1, "swe_mini": -0.3}
SCAFFOLDS = {"generalist": 0.0, "task_specific": 0.08}


def example_samples(n: int = 25, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for task, t_shift in TASKS.items():
        for scaffold, s_shift in SCAFFOLDS.items():
            for model, (p, tokens, seconds) in MODELS.items():
                if (task, scaffold, model) == ("swe_mini", "task_specific", "mockllm/draco"):
                    continue  # a missing run: the heatmap must say "no runs"
                for i in range(n):
                    rows.append(dict(
                        log_key=f"{task}/{model}/{scaffold}", eval_id="e", sample_uuid=f"{task}-{i}",
                        sample_id=str(i), epoch=1, model=model, task=task, dataset=task, scaffold=scaffold,
                        input="q", target="a",
                        input_tokens=int(tokens * rng.uniform(0.5, 1.5) * (2 if scaffold == "task_specific" else 1)),
                        output_tokens=int(tokens / 3 * rng.uniform(0.5, 1.5)), total_tokens=0, cache_read_tokens=0,
                        cache_write_tokens=0, reasoning_tokens=None, total_cost=None,
                        total_time=seconds * rng.uniform(1.2, 2.4), working_time=seconds * rng.uniform(1, 2),
                        message_count=3, error=None, has_error=False, limit_type=None,
                        score=float(rng.uniform() < np.clip(p + t_shift + s_shift, 0, 1)), metadata="{}",
                    ))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def report():
    runs, errors = run_metrics_from_samples(example_samples(), load_prices(REPO / "examples" / "prices.yaml"))
    assert errors.empty
    return runs, hal_report(runs, n_draws=300)


def label_boxes(ax, renderer):
    return [Text.get_window_extent(t, renderer) for t in ax.texts if isinstance(t, Annotation) and t.get_text()]


def overlapping_pairs(fig) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        anns = [t for t in ax.texts if isinstance(t, Annotation) and t.get_text()]
        boxes = label_boxes(ax, renderer)
        ax_box = ax.get_window_extent(renderer)
        for t, b in zip(anns, boxes):
            if b.x0 < ax_box.x0 - 0.5 or b.x1 > ax_box.x1 + 0.5 or b.y0 < ax_box.y0 - 0.5 or b.y1 > ax_box.y1 + 0.5:
                bad.append((t.get_text(), "outside axes"))
        for (t1, b1), (t2, b2) in combinations(zip(anns, boxes), 2):
            if b1.overlaps(b2):
                bad.append((t1.get_text(), t2.get_text()))
    return bad


def test_report_has_every_figure(report):
    _, figures = report
    expected = {f"heatmap_{v}_{t}" for v in ("accuracy", "mean_latency", "total_cost", "win_rate")
                for t in ("generalist", "task_specific")}
    expected |= {"heatmap_win_rate_max_accuracy", "heatmap_win_rate_frontier_distance_cost",
                 "frontier_cost_accuracy", "frontier_latency_accuracy", "win_rate_vs_cost", "win_rate_vs_latency"}
    assert set(figures) == expected


def test_labels_do_not_overlap_and_every_frontier_point_is_named(report):
    runs, figures = report
    frontier, _ = cost_frontier(runs)
    pareto = frontier[frontier["on_pareto_set"].astype(bool)]
    expected = {f"{m.split('/')[1]} \u00b7 {s}" for m, s in zip(pareto["model"], pareto["scaffold"])}
    for name in ("frontier_cost_accuracy", "frontier_latency_accuracy", "win_rate_vs_cost", "win_rate_vs_latency"):
        fig = figures[name]
        fig.canvas.draw()
        assert overlapping_pairs(fig) == [], name
        labels = [t.get_text().splitlines()[0] for ax in fig.axes for t in ax.texts if isinstance(t, Annotation)]
        footnote = " ".join(t.get_text() for t in fig.texts)
        if name == "frontier_cost_accuracy":
            assert len(labels) + footnote.count(" \u00b7 ") == len(pareto)
            assert set(labels) <= expected
        if name.startswith("win_rate"):  # every model named, on the plot or in the footnote
            for model in ("aurora", "borealis", "cirrus", "draco"):
                assert model in labels or model in footnote, (name, model)
    # Frontier panels carry the probabilities, intervals and both frontiers in the legend.
    texts = [t.get_text() for ax in figures["frontier_cost_accuracy"].axes for t in ax.texts]
    assert any("\nP=" in t for t in texts)
    legend_texts = [t.get_text() for leg in figures["frontier_cost_accuracy"].legends for t in leg.get_texts()]
    assert "95% accuracy interval" in legend_texts
    assert any("convex-hull frontier" in t for t in legend_texts) and any("Pareto set" in t for t in legend_texts)


def test_overlap_checker_can_fail():
    from hibayes.hal.plots import new_figure

    fig = new_figure(3, 3)
    ax = fig.add_subplot(1, 1, 1)
    ax.annotate("first label", (0.5, 0.5))
    ax.annotate("second label", (0.51, 0.5))
    fig.canvas.draw()
    assert overlapping_pairs(fig)


def test_place_labels_reports_what_does_not_fit():
    from hibayes.hal.plots import new_figure

    fig = new_figure(1.2, 1.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    items = [{"x": 0.5, "y": 0.5, "text": f"a rather long label {i}", "color": "k"} for i in range(3)]
    left_off = place_labels(ax, items)
    assert len(left_off) == 3  # no room in a tiny axes: left off, never overlapped
    assert not [t for t in ax.texts if isinstance(t, Annotation)]


def test_heatmaps_show_missing_runs_and_values(report):
    runs, figures = report
    fig = figures["heatmap_accuracy_task_specific"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("no runs") == 1
    value = runs[(runs.benchmark == "arc_easy") & (runs.model == "mockllm/aurora")
                 & (runs.scaffold == "task_specific")]["accuracy"].iloc[0]
    assert f"{value:.2f}" in texts
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["aurora", "borealis", "cirrus", "draco"]
    empty = plot_heatmap(runs.iloc[0:0], "accuracy", title="nothing")
    assert "no runs" in [t.get_text() for t in empty.axes[0].texts]


def test_a_benchmark_off_the_accuracy_scale_keeps_the_others_colours():
    """A judge task's mean 0..10 rating among accuracies: the scale stays 0..1 and its cells are pale."""
    runs = pd.DataFrame({"benchmark": ["qa", "qa", "judge", "judge"], "model": ["a", "b", "a", "b"],
                         "accuracy": [0.2, 0.9, 7.5, 5.0]})
    fig = plot_heatmap(runs, "accuracy", title="t", value_label="Accuracy", vmin=0.0, vmax=1.0)
    image = fig.axes[0].images[0]
    assert image.norm.vmin == 0.0 and image.norm.vmax == 1.0
    colours = image.to_rgba(image.get_array())
    assert np.allclose(colours[0, 0], colours[0, 1])  # judge row (sorted first): both the off-scale colour
    assert not np.allclose(colours[1, 0], colours[1, 1])  # qa keeps its contrast
    assert "off this scale" in fig.axes[1].get_ylabel()


def test_save_figure_writes_png(report, tmp_path):
    _, figures = report
    path = save_figure(figures["win_rate_vs_cost"], tmp_path / "sub" / "w.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_numeric_stages_import_neither_dagster_nor_matplotlib():
    code = ("import sys, hibayes.hal as h; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dagster', 'matplotlib')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
