"""Plots of the IRT stages (matplotlib's object API with the Agg canvas: no display needed, no
global pyplot state). Each function returns the Figure and, with `path`, also writes a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hibayes.irt.anchors import AnchorPoints

__all__ = ["plot_anchor_clusters", "plot_routing", "plot_estimates", "save_figure"]


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write a figure as PNG (creating the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _two_d(X: np.ndarray) -> tuple[np.ndarray, str, str]:
    if X.shape[1] == 2:
        return X, "a (discrimination)", "b / D (difficulty)"
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ vt[:2].T if vt.shape[0] >= 2 else np.column_stack([Xc @ vt[:1].T, np.zeros(len(X))]), "PC 1", "PC 2"


def plot_anchor_clusters(anchors: AnchorPoints, path: str | Path | None = None, *,
                         title: str | None = None) -> Figure:
    """Items in the space they were clustered in (IRT (a, b/D) when 2-D, else the first two
    principal components), coloured by cluster; anchors drawn as black-edged markers sized by weight."""
    fig = Figure(figsize=(7, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if anchors.embedding is None:
        ax.text(0.5, 0.5, "random anchors: no clustering", ha="center", va="center")
    else:
        X2, xl, yl = _two_d(np.asarray(anchors.embedding, float))
        jitter = np.random.default_rng(0).normal(0, 0.01 * (np.ptp(X2, axis=0) + 1e-9), X2.shape)
        if "correctness" in anchors.method:
            X2 = X2 + jitter  # binary vectors overlap exactly
            xl, yl = "PC 1 of correctness", "PC 2 of correctness"
        ax.scatter(X2[:, 0], X2[:, 1], c=anchors.labels % 20, cmap="tab20", s=6, alpha=0.5, linewidths=0)
        A = X2[anchors.index]
        size = 30 + 600 * anchors.weights / max(anchors.weights.max(), 1e-12)
        ax.scatter(A[:, 0], A[:, 1], c=anchors.cluster_of_anchor % 20, cmap="tab20", s=size,
                   edgecolors="black", linewidths=0.8)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    ax.set_title(title or f"{anchors.n} anchors ({anchors.method}, {anchors.n_clusters} clusters; "
                 f"{len(anchors.all_items)} items)")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_routing(report: pd.DataFrame, path: str | Path | None = None, *,
                 title: str = "Routing accuracy per task") -> Figure:
    """Grouped bars per task: best single model, IRT router, KNN router (when present), oracle."""
    series = [("best_single_accuracy", "best single model"), ("routed_accuracy", "IRT router"),
              ("knn_accuracy", "KNN router"), ("oracle_accuracy", "oracle (any correct)")]
    series = [(c, lab) for c, lab in series if c in report.columns]
    tasks = report["task"].astype(str).tolist()
    x = np.arange(len(tasks))
    width = 0.8 / len(series)
    fig = Figure(figsize=(max(6, 1.2 * len(tasks) + 3), 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for k, (col, lab) in enumerate(series):
        vals = report[col].to_numpy(float)
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, vals, width, label=lab)
        for rect, v in zip(bars, vals):
            if np.isfinite(v):
                ax.annotate(f"{v:.3f}", (rect.get_x() + rect.get_width() / 2, v), ha="center",
                            va="bottom", fontsize=7, rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(x)
    ax.set_xticklabels(tasks, rotation=30, ha="right")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.1)
    ax.set_title(title)
    # right of the axes, with room made by the constrained layout: inside the axes, every corner
    # sits on some task's bars or value labels
    fig.legend(fontsize=8, loc="outside right upper")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_estimates(estimates: pd.DataFrame, path: str | Path | None = None, *,
                   title: str = "Estimated score from the anchors") -> Figure:
    """Per respondent: anchor, p-IRT and gp-IRT estimates with intervals, and the true score
    where known."""
    df = estimates.dropna(subset=["anchor"]).reset_index(drop=True)
    fig = Figure(figsize=(7, 0.45 * len(df) + 1.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(df))
    for k, (est, colour) in enumerate((("anchor", "C0"), ("pirt", "C1"), ("gpirt", "C2"))):
        if est not in df.columns or df[est].isna().all():
            continue
        off = (k - 1) * 0.22
        lo = df[est] - df[f"{est}_lo"]
        hi = df[f"{est}_hi"] - df[est]
        ax.errorbar(df[est], y + off, xerr=[lo, hi], fmt="o", color=colour, ms=4, capsize=2, label=est)
    if "true_score" in df.columns and df["true_score"].notna().any():
        ax.scatter(df["true_score"], y, marker="x", color="black", zorder=5, label="true score")
    ax.set_yticks(y)
    ax.set_yticklabels(df["respondent"].astype(str).tolist(), fontsize=8)
    ax.set_xlabel("share correct")
    ax.set_title(title)
    ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig
