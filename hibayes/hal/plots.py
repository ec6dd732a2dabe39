"""Stage 5: the HAL report figures (matplotlib, Agg backend, no pyplot global state).

Every function returns a `matplotlib.figure.Figure` built on its own Agg canvas (safe in worker
processes; nothing is shown). `save_figure` writes one to PNG. `hal_report` builds the whole set.

Legibility rules: on frontier and win-rate plots only frontier points carry text labels (all points
on the small win-rate plots); each label is placed by a greedy search over offsets around its point
so that no two labels overlap, no label covers another point, and every label stays inside its
axes. A label that finds no room is left off and listed in a footnote instead of overlapping.
Models keep one colour across all figures; scaffold types have fixed marker shapes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from hibayes.hal.frontier import compute_frontier, cost_frontier, latency_frontier  # noqa: E402
from hibayes.hal.metrics import OWN_SCALE, model_cost_latency  # noqa: E402
from hibayes.hal.uncertainty import frontier_probabilities  # noqa: E402
from hibayes.hal.win_rates import benchmark_win_rates, model_win_rates, win_rate_table  # noqa: E402

DPI = 110
OUT_OF_SCALE = "#f6e3d4"  # heatmap cells outside a fixed colour scale (vmin / vmax of `plot_heatmap`)
MAX_ANNOTATED_CELLS = 600  # a larger heatmap shows colours only, in a page-sized grid
MAX_HEATMAP_INCHES = 18.0
MAX_FRONTIER_PANELS = 12  # benchmarks drawn in a frontier figure: those with the most runs
MARKERS = {"generalist": "o", "task_specific": "s"}
_OTHER_MARKER = "D"
_CONVEX_COLOR = "#c0392b"
_PARETO_COLOR = "0.3"
_LABEL_FONTSIZE = 7


# --------------------------------------------------------------------------- helpers


def new_figure(width: float, height: float, dpi: int = DPI) -> Figure:
    """A Figure with its own Agg canvas (no pyplot)."""
    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = DPI) -> Path:
    """Write `fig` to a PNG at `path` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor="white", bbox_inches="tight", pad_inches=0.1)
    return path


def _lay_out(fig: Figure, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> None:
    """`tight_layout` once, for good. It leaves a placeholder layout engine behind, and savefig
    lays out every text a second time before drawing whenever a figure has an engine: the figure
    is final here, so the placeholder goes."""
    fig.tight_layout(rect=rect)
    fig.set_layout_engine(None)


def short_model_names(models: Sequence[str]) -> dict[str, str]:
    """Model -> display name: the provider prefix (``mockllm/``) is dropped when that keeps names unique."""
    models = [str(m) for m in dict.fromkeys(models)]
    short = {m: m.rsplit("/", 1)[-1] for m in models}
    if len(set(short.values())) < len(short):
        return {m: m for m in models}
    return short


def model_colors(models: Sequence[str]) -> dict[str, Any]:
    """A stable colour per model (sorted order; tab10 up to 10 models, tab20 beyond)."""
    import matplotlib as mpl

    ordered = sorted({str(m) for m in models})
    cmap = mpl.colormaps["tab10" if len(ordered) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(ordered)}


def _marker(scaffold_type: Any) -> str:
    return MARKERS.get(scaffold_type, _OTHER_MARKER) if isinstance(scaffold_type, str) else _OTHER_MARKER


def on_own_scale(runs: pd.DataFrame) -> pd.Series:
    """Rows whose ``accuracy`` is a mean score on the scorer's own scale (``score_scale`` ``own``,
    e.g. a 0-10 judge rating), which the plots keep apart from accuracy. A table without the column
    (HAL's CSV read elsewhere, runs made by hand) holds accuracies."""
    if "score_scale" not in runs:
        return pd.Series(False, index=runs.index)
    return runs["score_scale"].eq(OWN_SCALE).fillna(False).astype(bool)


def _shorten(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _extents(boxes: list[Bbox]) -> np.ndarray:
    """(boxes, 4) array of x0, y0, x1, y1 with x0 <= x1 and y0 <= y1, as `Bbox.overlaps` and
    `Bbox.contains` order them."""
    corners = np.array([b.extents for b in boxes], dtype=float).reshape(-1, 4)
    return np.column_stack([np.minimum(corners[:, 0], corners[:, 2]), np.minimum(corners[:, 1], corners[:, 3]),
                            np.maximum(corners[:, 0], corners[:, 2]), np.maximum(corners[:, 1], corners[:, 3])])


def _overlaps(box: Bbox, others: np.ndarray) -> bool:
    """`box.overlaps(o)` for any row o of `others` (`_extents`), at once: a frontier panel of 10k
    runs has hundreds of point obstacles and each label tries dozens of places."""
    x0, x1 = sorted((box.x0, box.x1))
    y0, y1 = sorted((box.y0, box.y1))
    return bool(((x0 <= others[:, 2]) & (others[:, 0] <= x1) & (y0 <= others[:, 3]) & (others[:, 1] <= y1)).any())


def _inside(box: Bbox, outer: Bbox) -> bool:
    return box.x0 >= outer.x0 and box.y0 >= outer.y0 and box.x1 <= outer.x1 and box.y1 <= outer.y1


_DIRECTIONS = [
    (1, 1, "left", "bottom"),
    (1, -1, "left", "top"),
    (-1, 1, "right", "bottom"),
    (-1, -1, "right", "top"),
    (0, 1.3, "center", "bottom"),
    (0, -1.3, "center", "top"),
    (1.3, 0, "left", "center"),
    (-1.3, 0, "right", "center"),
    (1.2, 0.5, "left", "bottom"),
    (1.2, -0.5, "left", "top"),
    (-1.2, 0.5, "right", "bottom"),
    (-1.2, -0.5, "right", "top"),
]
_RINGS = (5, 12, 20, 30, 42, 56)
_LABEL_BOX = dict(boxstyle="round,pad=0.15", fc="white", lw=0.6, alpha=0.85)


def _text_size(ax: Any, text: str, renderer: Any) -> tuple[float, float]:
    probe = ax.text(0, 0, text, fontsize=_LABEL_FONTSIZE, transform=None)
    box = probe.get_window_extent(renderer)
    probe.remove()
    return box.width, box.height


def _candidate_box(anchor: np.ndarray, width: float, height: float, ha: str, va: str) -> Bbox:
    x0 = {"left": anchor[0], "right": anchor[0] - width, "center": anchor[0] - width / 2}[ha]
    y0 = {"bottom": anchor[1], "top": anchor[1] - height, "center": anchor[1] - height / 2}[va]
    return Bbox.from_bounds(x0, y0, width, height)


def _segment_hits(p0: np.ndarray, p1: np.ndarray, boxes: list[Bbox]) -> bool:
    ts = np.linspace(0.0, 1.0, 12)[1:-1]
    pts = p0[None, :] + ts[:, None] * (p1 - p0)[None, :]
    return any(any(b.contains(px, py) for px, py in pts) for b in boxes)


def place_labels(ax: Any, items: list[dict[str, Any]], obstacles: list[Bbox] | None = None) -> list[dict[str, Any]]:
    """Annotate `items` (dicts with x, y, text, color) without overlaps; returns the items left off.

    Candidates: 12 directions at growing distances (5 to 56 points; a leader line beyond the first
    ring). A candidate is accepted when its text box stays inside the axes and overlaps no placed
    label and no obstacle (the other data points), and its leader line crosses no placed label.
    Boxes are computed from the measured text size, so only the chosen annotation is created. Call
    after the axes limits and the figure layout are final: offsets are in points, so a later layout
    change would move labels relative to each other.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax_box = ax.get_window_extent(renderer)
    px_per_pt = fig.dpi / 72.0
    placed: list[Bbox] = []
    obstacle_extents = _extents(list(obstacles or []))
    left_off = []
    pad = 2.5
    for item in items:
        own = ax.transData.transform((item["x"], item["y"]))
        covering = ((obstacle_extents[:, 0] <= own[0]) & (own[0] <= obstacle_extents[:, 2])
                    & (obstacle_extents[:, 1] <= own[1]) & (own[1] <= obstacle_extents[:, 3]))
        others = obstacle_extents[~covering]  # the boxes of the other points, not of this one
        placed_extents = _extents(placed)
        width, height = _text_size(ax, item["text"], renderer)
        choice = None
        for ring, dist in enumerate(_RINGS):
            for dx, dy, ha, va in _DIRECTIONS:
                anchor = own + np.array([dx * dist, dy * dist]) * px_per_pt
                box = _candidate_box(anchor, width, height, ha, va).padded(pad)
                if not _inside(box, ax_box) or _overlaps(box, placed_extents) or _overlaps(box, others):
                    continue
                if ring and _segment_hits(own, anchor, placed):
                    continue
                choice = (ring, dx * dist, dy * dist, ha, va, box)
                break
            if choice:
                break
        if choice is None:
            left_off.append(item)
            continue
        ring, ox, oy, ha, va, box = choice
        arrow = dict(arrowstyle="-", lw=0.5, color=item["color"], shrinkA=0, shrinkB=3) if ring else None
        ax.annotate(item["text"], (item["x"], item["y"]), xytext=(ox, oy), textcoords="offset points", ha=ha,
                    va=va, fontsize=_LABEL_FONTSIZE, color="black", arrowprops=arrow, zorder=6,
                    bbox={**_LABEL_BOX, "ec": item["color"]}, annotation_clip=False)
        placed.append(box)
    return left_off


def _point_boxes(ax: Any, xs: np.ndarray, ys: np.ndarray, radius_px: float = 5.0) -> list[Bbox]:
    pts = ax.transData.transform(np.column_stack([xs, ys])) if len(xs) else np.zeros((0, 2))
    return [Bbox.from_extents(px - radius_px, py - radius_px, px + radius_px, py + radius_px) for px, py in pts]


def _fix_limits(ax: Any, xs: np.ndarray, ys: np.ndarray, *, log_x: bool) -> None:
    """Freeze axis limits with room for labels (more on the right and top than on the left and bottom)."""
    xs = np.asarray(xs, float)
    ys = np.asarray(ys, float)
    if log_x:
        pos = xs[xs > 0]
        lo, hi = (pos.min(), pos.max()) if len(pos) else (1e-3, 1.0)
        ax.set_xscale("log")
        span = max(np.log10(hi) - np.log10(lo), 0.5)
        ax.set_xlim(10 ** (np.log10(lo) - 0.15 * span), 10 ** (np.log10(hi) + 0.3 * span))
    else:
        lo, hi = (xs.min(), xs.max()) if len(xs) else (0.0, 1.0)
        span = (hi - lo) or max(abs(hi), 1.0)
        ax.set_xlim(lo - 0.15 * span, hi + 0.3 * span)
    lo, hi = (np.nanmin(ys), np.nanmax(ys)) if len(ys) else (0.0, 1.0)
    span = (hi - lo) or 0.1
    ax.set_ylim(lo - 0.2 * span, hi + 0.3 * span)


# --------------------------------------------------------------------------- heatmaps


def plot_heatmap(
    table: pd.DataFrame,
    value: str,
    *,
    row: str = "benchmark",
    col: str = "model",
    title: str = "",
    value_label: str | None = None,
    fmt: str = "{:.2f}",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """Heatmap of the mean of `value` per (`row`, `col`); NaN cells grey and labelled "no runs".

    Columns are shown with `short_model_names` when `col` is ``model``; each cell carries its value.
    `vmin` / `vmax` fix the colour scale (win rates and accuracy use 0..1); cells outside it get a
    pale colour of their own (and the colour bar an arrow), so one benchmark on another scale
    (a mean 0..10 judge rating) does not wash out the others.
    """
    fig_table = table.dropna(subset=[row, col]) if len(table) else table
    if len(fig_table):
        pivot = fig_table.pivot_table(index=row, columns=col, values=value, aggfunc="mean", dropna=False)
    else:
        pivot = pd.DataFrame()
    n_rows, n_cols = max(pivot.shape[0], 1), max(pivot.shape[1], 1)
    names = short_model_names(list(pivot.columns)) if col == "model" else {c: str(c) for c in pivot.columns}
    longest_col = max([len(names[c]) for c in pivot.columns] + [4])
    longest_row = max([len(str(r)) for r in pivot.index] + [4])
    # A large grid (100 models x 50 benchmarks) is read by its colours: its cells shrink to fit a
    # page and carry no numbers (tens of thousands of text artists took minutes to draw).
    annotated = n_rows * n_cols <= MAX_ANNOTATED_CELLS
    cell_width = 0.85 if annotated else min(0.85, max(0.12, MAX_HEATMAP_INCHES / n_cols))
    cell_height = 0.42 if annotated else min(0.42, max(0.12, MAX_HEATMAP_INCHES / n_rows))
    tick_size = 8 if annotated else max(4.0, min(8.0, 60 * min(cell_width, cell_height)))
    width = 1.2 + 0.075 * longest_row * tick_size / 8 + cell_width * n_cols + 1.3
    height = 1.0 + cell_height * n_rows + 0.06 * longest_col * tick_size / 8 + 0.4
    fig = new_figure(width, height)
    ax = fig.add_subplot(1, 1, 1)
    if pivot.empty:
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes, fontsize=11)
        ax.set_axis_off()
        ax.set_title(title, fontsize=11)
        _lay_out(fig)
        return fig
    import matplotlib as mpl

    data = pivot.to_numpy(dtype=float)
    masked = np.ma.masked_invalid(data)
    colormap = mpl.colormaps[cmap].with_extremes(bad="#d9d9d9", under=OUT_OF_SCALE, over=OUT_OF_SCALE)
    image = ax.imshow(masked, cmap=colormap, aspect="auto", vmin=vmin, vmax=vmax, interpolation="nearest")
    column_names, row_names = [names[c] for c in pivot.columns], [str(r) for r in pivot.index]
    if annotated:
        ax.set_xticks(range(pivot.shape[1]))
        ax.set_xticklabels(column_names, rotation=35, ha="right", rotation_mode="anchor", fontsize=tick_size)
        ax.set_yticks(range(pivot.shape[0]))
        ax.set_yticklabels(row_names, fontsize=tick_size)
    else:
        _grid_names(ax, column_names, row_names, tick_size)
    line = 1.0 if annotated else 0.3
    ax.vlines(np.arange(0.5, pivot.shape[1] - 1), -0.5, pivot.shape[0] - 0.5, color="white", linewidth=line)
    ax.hlines(np.arange(0.5, pivot.shape[0] - 1), -0.5, pivot.shape[1] - 0.5, color="white", linewidth=line)
    finite = data[np.isfinite(data)]
    norm = image.norm
    for i in range(data.shape[0] if annotated else 0):
        for j in range(data.shape[1]):
            v = data[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "no runs", ha="center", va="center", fontsize=6.5, color="0.35")
                continue
            r, g, b, _ = colormap(norm(v)) if len(finite) else (1, 1, 1, 1)
            light = 0.299 * r + 0.587 * g + 0.114 * b > 0.55
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7, color="black" if light else "white")
    below = vmin is not None and bool((finite < vmin).any())
    above = vmax is not None and bool((finite > vmax).any())
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}
    cbar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, extend=extend[(below, above)])
    label = value_label or value
    cbar.set_label(label if not (below or above) else f"{label} (pale: off this scale)", fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    ax.set_title(title if annotated else f"{title}\n({n_rows} x {n_cols} cells: colours only, grey = no runs)", fontsize=10)
    ax.set_xlabel(col, fontsize=9)
    ax.set_ylabel(row, fontsize=9)
    _lay_out(fig)
    return fig


def _grid_names(ax: Any, columns: list[str], rows: list[str], size: float) -> None:
    """Column and row names of a large grid as plain texts beside its edges, where tick labels
    would be: a matplotlib tick is five artists, and 150 of them cost more to make, lay out and draw
    than the grid itself (ten 100 x 50 heatmaps a report)."""
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    ax.set_xticks([])
    ax.set_yticks([])
    pad = 3.5 / 72  # inches, a tick label's default pad
    below = blended_transform_factory(ax.transData, ax.transAxes) + ScaledTranslation(0, -pad, ax.figure.dpi_scale_trans)
    left = blended_transform_factory(ax.transAxes, ax.transData) + ScaledTranslation(-pad, 0, ax.figure.dpi_scale_trans)
    for j, name in enumerate(columns):
        ax.text(j, 0, name, rotation=90, ha="right", va="center", rotation_mode="anchor", fontsize=size,
                transform=below)
    for i, name in enumerate(rows):
        ax.text(0, i, name, ha="right", va="center", fontsize=size, transform=left)


def heatmap_figures(runs: pd.DataFrame, groups: pd.DataFrame | None = None) -> dict[str, Figure]:
    """HAL's heatmaps, benchmark x model: accuracy, mean latency, total cost and win rate, for
    generalist and task-specific scaffolds (mean over runs when a type has several scaffolds;
    win rate = pooled per-scaffold win rate), plus the max-accuracy and cost-distance win rates.

    Benchmarks whose scores are not proportions (`on_own_scale`) are left out of the accuracy
    heatmaps and get ``heatmap_mean_score_{generalist,task_specific}`` instead, with a colour scale
    of their own (shared by all such benchmarks; each cell prints its value).

    Keys: ``heatmap_{accuracy,mean_latency,total_cost,win_rate}_{generalist,task_specific}``,
    ``heatmap_win_rate_max_accuracy``, ``heatmap_win_rate_frontier_distance_cost``, and the
    ``heatmap_mean_score_*`` pair when some benchmark is on its own scale.
    """
    figures: dict[str, Figure] = {}
    own_scale = on_own_scale(runs)
    specs = (
        ("accuracy", "Accuracy", "{:.2f}", "viridis", (0.0, 1.0)),
        ("mean_latency", "Mean latency (s)", "{:.0f}", "magma_r", (None, None)),
        ("total_cost", "Total cost (USD)", "{:.3g}", "magma_r", (None, None)),
    )
    labels = {"generalist": "generalist scaffolds", "task_specific": "task-specific scaffolds"}
    for scaffold_type in ("generalist", "task_specific"):
        of_type = runs["scaffold_type"] == scaffold_type
        for value, label, fmt, cmap, (lo, hi) in specs:
            part = runs[of_type & ~own_scale] if value == "accuracy" else runs[of_type]
            figures[f"heatmap_{value}_{scaffold_type}"] = plot_heatmap(
                part, value, title=f"{label}: {labels[scaffold_type]}", value_label=label, fmt=fmt, cmap=cmap,
                vmin=lo, vmax=hi)
        if own_scale.any():
            figures[f"heatmap_mean_score_{scaffold_type}"] = plot_heatmap(
                runs[of_type & own_scale], "accuracy", title=f"Mean score, on its own scale: {labels[scaffold_type]}",
                value_label="mean score (own scale, not an accuracy)", fmt="{:.2f}", cmap="viridis")
    if groups is None:
        groups, _ = win_rate_table(runs)
    per_bench = benchmark_win_rates(groups)
    for summary, key, title in (
        ("per_scaffold_generalist", "heatmap_win_rate_generalist", "Win rate: generalist scaffolds"),
        ("per_scaffold_task_specific", "heatmap_win_rate_task_specific", "Win rate: task-specific scaffolds"),
        ("max_accuracy", "heatmap_win_rate_max_accuracy", "Win rate: best scaffold per model"),
        ("frontier_distance_cost", "heatmap_win_rate_frontier_distance_cost",
         "Win rate: distance to the cost-accuracy convex frontier"),
    ):
        part = per_bench[per_bench["summary"] == summary]
        figures[key] = plot_heatmap(part, "overall_win_rate", title=title, value_label="win rate",
                                    fmt="{:.2f}", cmap="RdYlGn", vmin=0.0, vmax=1.0)
    return figures


# --------------------------------------------------------------------------- frontier plots


def _frontier_label(rec: Mapping[str, Any], names: Mapping[str, str], per_run: bool) -> str:
    text = names.get(str(rec["model"]), str(rec["model"]))
    if per_run and isinstance(rec.get("scaffold"), str):
        text += f" \u00b7 {_shorten(rec['scaffold'], 16)}"
    p_set, p_hull = rec.get("p_pareto_set"), rec.get("p_convex_frontier")
    if p_set is not None and np.isfinite(p_set):
        hull = f"{p_hull:.2f}" if p_hull is not None and np.isfinite(p_hull) else "-"
        text += f"\nP={p_set:.2f} / {hull}"
    return text


def _use_log(xs: np.ndarray, log_x: bool | str) -> bool:
    """``log_x="auto"``: log scale when every x is positive and they span at least 30x."""
    xs = np.asarray(xs, float)
    xs = xs[np.isfinite(xs)]
    positive = len(xs) > 0 and bool((xs > 0).all())
    if log_x == "auto":
        return positive and xs.max() / xs.min() >= 30
    return bool(log_x) and positive


# Room around each panel of a frontier or win-rate figure, in inches: tick labels and axis label on
# the left and below, the panel's title above. A figure's panels are alike, so fixed margins stand in
# for tight_layout, whose measuring of every tick label of 12 panels took a second a figure.
_PANEL_LEFT, _PANEL_RIGHT, _PANEL_ABOVE, _PANEL_BELOW = 0.75, 0.2, 0.35, 0.6


def _legend_and_layout(fig: Figure, handles: list[Any], suptitle: str, ncol: int) -> None:
    """Figure legend at the bottom, suptitle on top (both measured), subplots in between."""
    legend = fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=7.5, frameon=False,
                        bbox_to_anchor=(0.5, 0.025))
    title = fig.suptitle(suptitle, fontsize=11, y=0.995, va="top")
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    height_px = height * fig.dpi
    legend_top = (legend.get_window_extent(renderer).height + 0.025 * height_px + 6) / height_px
    title_bottom = 1 - (title.get_window_extent(renderer).height + 0.005 * height_px + 4) / height_px
    nrows, ncols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    axes_width = width / ncols - _PANEL_LEFT - _PANEL_RIGHT
    axes_height = height * (title_bottom - legend_top) / nrows - _PANEL_ABOVE - _PANEL_BELOW
    fig.subplots_adjust(left=_PANEL_LEFT / width, right=1 - _PANEL_RIGHT / width,
                        bottom=legend_top + _PANEL_BELOW / height, top=title_bottom - _PANEL_ABOVE / height,
                        wspace=(_PANEL_LEFT + _PANEL_RIGHT) / axes_width,
                        hspace=(_PANEL_ABOVE + _PANEL_BELOW) / axes_height)


def _chords(ax: Any, xs: np.ndarray, ys: np.ndarray) -> None:
    """The convex frontier: straight chords in linear x (drawn densified, so they curve correctly
    on a log axis, where the hull is still the linear-cost hull)."""
    order = np.argsort(xs, kind="stable")
    fx, fy = xs[order], ys[order]
    if len(fx) == 1:
        return
    t = np.linspace(0.0, 1.0, 40)
    px = np.concatenate([a + t * (b - a) for a, b in zip(fx[:-1], fx[1:])])
    py = np.concatenate([a + t * (b - a) for a, b in zip(fy[:-1], fy[1:])])
    ax.plot(px, py, color=_CONVEX_COLOR, lw=1.6, zorder=3)


def _footnote(fig: Figure, text: str) -> None:
    fig.text(0.01, 0.004, _shorten(text, 230), fontsize=6.5, color="0.3", ha="left", va="bottom")


def _draw_points(ax: Any, part: pd.DataFrame, xs: np.ndarray, ys: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 pareto: np.ndarray, convex: np.ndarray, colors: Mapping[str, Any]) -> None:
    """One panel's points, interval bars and convex-frontier rings, a few artists per panel
    (one per marker and Pareto flag), not a few per point: a frontier figure of 10k runs has
    thousands of points, and each artist costs its own draw."""
    colour = np.array([colors[str(m)] for m in part["model"]]).reshape(-1, 4)
    with_interval = np.isfinite(lo) & np.isfinite(hi)
    if with_interval.any():  # the bar spans the interval and the point, whichever reaches further
        x, bottom, top = xs[with_interval], np.minimum(lo, ys)[with_interval], np.maximum(hi, ys)[with_interval]
        bar = dict(colors=colour[with_interval], linewidths=1.0, alpha=0.75, zorder=2)
        ax.vlines(x, bottom, top, **bar)
        for end in (bottom, top):  # caps 5 points wide
            ax.scatter(x, end, s=25, marker="_", c=colour[with_interval], linewidths=1.0, alpha=0.75, zorder=2)
    types = part["scaffold_type"] if "scaffold_type" in part else pd.Series(None, index=part.index, dtype=object)
    markers = np.array([_marker(t) for t in types])
    for on_set in (False, True):  # Pareto-set points drawn last, on top
        for marker in dict.fromkeys(markers):
            chosen = (markers == marker) & (pareto == on_set)
            if chosen.any():
                ax.scatter(xs[chosen], ys[chosen], s=38, marker=marker, c=colour[chosen],
                           edgecolors="black" if on_set else "none", linewidths=1.2 if on_set else 0,
                           alpha=1.0 if on_set else 0.6, zorder=4)
    if convex.any():
        ax.scatter(xs[convex], ys[convex], s=120, facecolors="none", edgecolors=_CONVEX_COLOR, linewidths=1.3,
                   zorder=5)


def plot_frontiers(
    frontier: pd.DataFrame,
    probabilities: pd.DataFrame | None = None,
    *,
    x_label: str | None = None,
    title: str | None = None,
    log_x: bool | str = "auto",
    ncols: int = 3,
) -> Figure:
    """One panel per benchmark: accuracy (with its interval) against cost or latency.

    `frontier` is a `compute_frontier` table (``cost_frontier`` / ``latency_frontier``); its
    included rows are drawn. Colour = model, marker = scaffold type, vertical bars = the accuracy
    interval (``accuracy_lo``..``accuracy_hi``; the title says when there is none), black edge =
    Pareto set, red ring and solid red line = convex-hull frontier (hal-analysis's "Pareto
    frontier"), dashed grey staircase = Pareto set boundary. A benchmark on its own score scale
    (`on_own_scale`) has "Mean score" on its y axis, not "Accuracy". Pareto-set points are
    labelled with the model (and scaffold when points are runs) and, when `probabilities` (from
    `hibayes.hal.uncertainty.frontier_probabilities` on the same points) is given, ``P=a / b`` with a = P(on Pareto set) and b = P(on convex frontier). `log_x`: True, False or
    ``"auto"`` (per panel: log when all x > 0 and they span at least 30x; a zero x forces linear).
    """
    data = frontier[frontier["included"].astype(bool)].copy()
    axis = str(data["axis"].iloc[0]) if len(data) and "axis" in data else "x"
    per_run = not (len(data) and "per" in data and data["per"].iloc[0] == "model")
    has_probs = False
    if probabilities is not None and len(data):
        keys = ["benchmark", "run_id"] if "run_id" in data and "run_id" in probabilities else \
            ["benchmark", "model", "scaffold"]
        probs = probabilities[keys + ["p_pareto_set", "p_convex_frontier"]].drop_duplicates(keys)
        data = data.drop(columns=[c for c in ("p_pareto_set", "p_convex_frontier") if c in data]).merge(
            probs, on=keys, how="left")
        has_probs = bool(np.isfinite(data["p_pareto_set"].astype(float)).any())
    x_label = x_label or {"cost": "Total cost (USD)", "latency": "Mean latency (s)"}.get(axis, axis)
    benchmarks = sorted(data["benchmark"].unique()) if len(data) else []
    left_out = len(benchmarks) - MAX_FRONTIER_PANELS
    if left_out > 0:  # the benchmarks with the most runs; every frontier is in the tables
        busiest = data["benchmark"].value_counts(sort=False).sort_index().sort_values(ascending=False, kind="stable")
        benchmarks = sorted(busiest.index[:MAX_FRONTIER_PANELS])
        data = data[data["benchmark"].isin(benchmarks)]
    n = max(len(benchmarks), 1)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    names = short_model_names(sorted(data["model"].astype(str).unique())) if len(data) else {}
    colors = model_colors(list(names))
    legend_ncol = 5 if ncols >= 3 else 3
    legend_rows = math.ceil((len(names) + 6) / legend_ncol)
    fig = new_figure(4.7 * ncols, 3.8 * nrows + 0.2 * legend_rows + 0.8)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    has_interval = "accuracy_lo" in data and bool(np.isfinite(data["accuracy_lo"].astype(float)).any())
    for ax, benchmark in zip(axes, benchmarks):
        part = data[data["benchmark"] == benchmark]
        xs, ys = part["x"].to_numpy(float), part["y"].to_numpy(float)
        use_log = _use_log(xs, log_x)
        lo = part["accuracy_lo"].to_numpy(float) if "accuracy_lo" in part else np.full(len(part), np.nan)
        hi = part["accuracy_hi"].to_numpy(float) if "accuracy_hi" in part else np.full(len(part), np.nan)
        _fix_limits(ax, xs, np.concatenate([ys, lo[np.isfinite(lo)], hi[np.isfinite(hi)]]), log_x=use_log)
        pareto = part["on_pareto_set"].astype(bool).to_numpy()
        convex = part["on_convex_frontier"].astype(bool).to_numpy()
        _draw_points(ax, part, xs, ys, lo, hi, pareto, convex, colors)
        if pareto.any():
            order = np.argsort(xs[pareto], kind="stable")
            sx, sy = xs[pareto][order], ys[pareto][order]
            ax.step(np.append(sx, ax.get_xlim()[1]), np.append(sy, sy[-1]), where="post", ls="--", lw=1.0,
                    color=_PARETO_COLOR, zorder=3)
        if convex.any():
            _chords(ax, xs[convex], ys[convex])
        ax.set_title(str(benchmark), fontsize=10)
        ax.set_xlabel(x_label + (" (log scale)" if use_log else ""), fontsize=8)
        ax.set_ylabel("Mean score (own scale)" if on_own_scale(part).any() else "Accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, ls=":", lw=0.5, alpha=0.6)
    for ax in axes[len(benchmarks):]:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)

    handles = [Line2D([], [], ls="", marker="o", color=colors[m], label=names[m]) for m in names]
    types = sorted({t for t in data.get("scaffold_type", pd.Series(dtype=object)).dropna().unique()})
    handles += [Line2D([], [], ls="", marker=_marker(t), color="0.5", label=t.replace("_", "-")) for t in types]
    handles += [
        Line2D([], [], ls="", marker="o", color="white", markeredgecolor="black", label="Pareto set (non-dominated)"),
        Line2D([], [], ls="--", color=_PARETO_COLOR, label="Pareto set boundary"),
        Line2D([], [], ls="-", color=_CONVEX_COLOR, marker="o", markerfacecolor="none", markersize=9,
               label="convex-hull frontier (HAL 'Pareto')"),
    ]
    if has_interval:
        handles.append(Line2D([], [], ls="-", color="0.4", marker="_", markersize=8, label="95% accuracy interval"))
    if has_probs:
        handles.append(Line2D([], [], ls="", label="P=a / b: P(on Pareto set) / P(on convex frontier)"))
    measure = "Accuracy or mean score" if on_own_scale(data).any() else "Accuracy"
    suptitle = title or f"{measure} versus {x_label.split(' (')[0].lower()}: frontiers per benchmark"
    if not has_interval:
        suptitle += "\n(no accuracy intervals: sample counts unknown)"
    if left_out > 0:
        suptitle += f"\n({len(benchmarks)} benchmarks with the most runs; {left_out} more in the frontier tables)"
    _legend_and_layout(fig, handles, suptitle, legend_ncol)

    unlabelled = []
    for ax, benchmark in zip(axes, benchmarks):
        part = data[data["benchmark"] == benchmark]
        items = [
            {"x": rec["x"], "y": rec["y"], "text": _frontier_label(rec, names, per_run),
             "color": colors[str(rec["model"])]}
            for rec in part[part["on_pareto_set"].astype(bool)].sort_values("y", ascending=False).to_dict("records")
        ]
        obstacles = _point_boxes(ax, part["x"].to_numpy(float), part["y"].to_numpy(float))
        for item in place_labels(ax, items, obstacles):
            unlabelled.append(f"{benchmark}: {item['text'].splitlines()[0]}")
    if unlabelled:
        _footnote(fig, "not labelled (no room): " + "; ".join(unlabelled))
    return fig


# --------------------------------------------------------------------------- win rate plots


def plot_win_rate_vs(
    table: pd.DataFrame,
    x_col: str,
    *,
    y_col: str = "overall_win_rate",
    x_label: str | None = None,
    title: str | None = None,
    log_x: bool | str = "auto",
) -> Figure:
    """Each model's win rate against its cross-benchmark mean cost or latency, with both frontiers.

    `table` needs ``model``, `x_col` and `y_col` (e.g. `model_win_rates` rows of one summary merged
    with `hibayes.hal.metrics.model_cost_latency`). Every point is labelled (or listed in a
    footnote when there is no room).
    """
    frontier, _ = compute_frontier(table, x_col, y_col=y_col, group_col=None)
    data = frontier[frontier["included"].astype(bool)]
    names = short_model_names(sorted(table["model"].astype(str).unique()))
    colors = model_colors(list(names))
    fig = new_figure(6.6, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    xs, ys = data["x"].to_numpy(float), data["y"].to_numpy(float)
    use_log = _use_log(xs, log_x)
    _fix_limits(ax, xs, ys, log_x=use_log)
    pareto = data["on_pareto_set"].astype(bool).to_numpy()
    convex = data["on_convex_frontier"].astype(bool).to_numpy()
    colour = np.array([colors[str(m)] for m in data["model"]]).reshape(-1, 4)
    for on_set in (False, True):  # one artist per flag, not one per model
        chosen = pareto == on_set
        if chosen.any():
            ax.scatter(xs[chosen], ys[chosen], s=45, c=colour[chosen], edgecolors="black" if on_set else "none",
                       linewidths=1.2 if on_set else 0, zorder=4)
    if convex.any():
        ax.scatter(xs[convex], ys[convex], s=130, facecolors="none", edgecolors=_CONVEX_COLOR, linewidths=1.3, zorder=5)
    if pareto.any():
        order = np.argsort(xs[pareto], kind="stable")
        sx, sy = xs[pareto][order], ys[pareto][order]
        ax.step(np.append(sx, ax.get_xlim()[1]), np.append(sy, sy[-1]), where="post", ls="--", lw=1.0,
                color=_PARETO_COLOR, zorder=3)
    if convex.any():
        _chords(ax, xs[convex], ys[convex])
    x_label = x_label or x_col
    ax.set_xlabel(x_label + (" (log scale)" if use_log else ""), fontsize=9)
    ax.set_ylabel("Win rate (share of pairwise comparisons won)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, ls=":", lw=0.5, alpha=0.6)
    handles = [
        Line2D([], [], ls="", marker="o", color="white", markeredgecolor="black", label="Pareto set"),
        Line2D([], [], ls="--", color=_PARETO_COLOR, label="Pareto set boundary"),
        Line2D([], [], ls="-", color=_CONVEX_COLOR, marker="o", markerfacecolor="none", markersize=9,
               label="convex-hull frontier (HAL 'Pareto')"),
    ]
    _legend_and_layout(fig, handles, title or f"Win rate versus {x_label}", 3)
    items = [{"x": r["x"], "y": r["y"], "text": names[str(r["model"])], "color": colors[str(r["model"])]}
             for r in data.sort_values("y", ascending=False).to_dict("records")]
    left_off = place_labels(ax, items, _point_boxes(ax, xs, ys))
    if left_off:
        _footnote(fig, "not labelled (no room): " + ", ".join(i["text"] for i in left_off))
    return fig


# --------------------------------------------------------------------------- report


def hal_report(
    runs: pd.DataFrame,
    *,
    groups: pd.DataFrame | None = None,
    cost: pd.DataFrame | None = None,
    latency: pd.DataFrame | None = None,
    cost_probabilities: pd.DataFrame | None = None,
    latency_probabilities: pd.DataFrame | None = None,
    n_draws: int = 2000,
    seed: int = 0,
    log_x: bool | str = "auto",
) -> dict[str, Figure]:
    """All HAL report figures from a ``run_metrics`` table; inputs not given are computed.

    `cost` / `latency`: `cost_frontier` / `latency_frontier` tables (default per run);
    `groups`: `win_rate_table` output; the probabilities: `frontier_probabilities` on the same points
    (computed when the runs carry sample counts). Keys: the `heatmap_figures` keys,
    ``frontier_cost_accuracy``, ``frontier_latency_accuracy``, ``win_rate_vs_cost``,
    ``win_rate_vs_latency`` (max-accuracy win rate against the model's mean cost / latency).
    Close the figures (``fig.clear()`` or let them go out of scope) when saved.
    """
    if groups is None:
        groups, _ = win_rate_table(runs)
    if cost is None:
        cost, _ = cost_frontier(runs)
    if latency is None:
        latency, _ = latency_frontier(runs)
    if cost_probabilities is None:
        cost_probabilities, _ = frontier_probabilities(cost, axis="cost", n_draws=n_draws, seed=seed)
    if latency_probabilities is None:
        latency_probabilities, _ = frontier_probabilities(latency, axis="latency", n_draws=n_draws, seed=seed)
    figures = heatmap_figures(runs, groups)
    figures["frontier_cost_accuracy"] = plot_frontiers(cost, cost_probabilities, log_x=log_x)
    figures["frontier_latency_accuracy"] = plot_frontiers(latency, latency_probabilities, log_x=log_x)
    means, _ = model_cost_latency(runs)
    summary = model_win_rates(groups)
    table = summary[summary["summary"] == "max_accuracy"].merge(means, on="model", how="left")
    figures["win_rate_vs_cost"] = plot_win_rate_vs(
        table, "mean_cost", x_label="Mean cost per benchmark (USD)", log_x=log_x,
        title="Max-accuracy win rate versus mean cost")
    figures["win_rate_vs_latency"] = plot_win_rate_vs(
        table, "mean_latency", x_label="Mean latency (s)", log_x=log_x,
        title="Max-accuracy win rate versus mean latency")
    return figures
