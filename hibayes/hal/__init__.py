"""HAL-style cost / latency / accuracy analysis (Holistic Agent Leaderboard), as pure functions.

Stages (each takes and returns pandas DataFrames, plus an errors DataFrame; no Dagster here):

1. `run_metrics_from_samples` / `run_metrics_from_hal` -> ``run_metrics``: one row per run
   (benchmark x model x scaffold) with accuracy (or a mean score on its own scale) and its
   interval, total and per-task cost, latency; prices and HAL's setting from `read_price_file`.
2. `cost_frontier` / `latency_frontier` -> per benchmark, both frontiers and every run's distance.
3. `win_rate_table` -> `model_win_rates` / `benchmark_win_rates`: pairwise win rates.
4. `frontier_probabilities`: P(a run is on each frontier) under Beta-binomial accuracy noise.
5. `hal_report` (in `hibayes.hal.plots`, imported lazily with matplotlib): heatmaps, frontier and
   win-rate plots; `save_figure` writes PNGs.

Two frontiers -- which is which
-------------------------------
For one benchmark, every run is a point (x = cost or latency, to minimise; y = accuracy, to
maximise).

- **Pareto set** (``on_pareto_set``): the non-dominated runs -- no other run has x <= and
  accuracy >= with at least one strict.
- **Convex-hull frontier** (``on_convex_frontier``): the non-dominated vertices of the upper-left
  convex hull of the points. A run on a chord between two vertices can be matched by randomising
  between those two agents, so only vertices count. This is what the published hal-analysis code
  (and the HAL paper's plots) call the "Pareto frontier"; its ``pareto_optimal`` column is this flag.

Every convex-frontier run is in the Pareto set, but not vice versa: a non-dominated run lying
below a hull chord is in the Pareto set and not on the convex frontier, so the published analysis
labels it dominated (8 of HAL's 11 benchmarks have such a run). ``hull_distance`` reproduces
hal-analysis's ``pareto_distance`` (distance to the convex frontier); ``pareto_set_distance`` is
the distance to the Pareto set.

Errors: see `hibayes.hal.errors`. Bad input is either a `ValueError` naming the field or a row in
the errors table -- never a silent drop or a silent zero.
"""

from hibayes.hal.errors import ERROR_COLUMNS, concat_errors, make_errors
from hibayes.hal.frontier import (
    best_run_per_model,
    compute_frontier,
    convex_frontier_mask,
    cost_frontier,
    frontier_summary,
    hull_distances,
    latency_frontier,
    pareto_set_distances,
    pareto_set_mask,
)
from hibayes.hal.io import (
    PriceFile,
    load_prices,
    price_file_from_mapping,
    prices_from_mapping,
    read_hal_metrics_csv,
    read_price_file,
)
from hibayes.hal.metrics import (
    RUN_COLUMNS,
    beta_interval,
    classify_scaffold,
    model_cost_latency,
    run_metrics_from_hal,
    run_metrics_from_samples,
)
from hibayes.hal.uncertainty import frontier_probabilities
from hibayes.hal.win_rates import (
    aggregate_win_rates,
    benchmark_win_rates,
    model_win_rates,
    pairwise_wins,
    win_rate_table,
    win_rates,
)

_PLOT_NAMES = {"hal_report", "heatmap_figures", "plot_frontiers", "plot_heatmap", "plot_win_rate_vs", "save_figure"}


def __getattr__(name: str):
    """Plot functions are imported on first use, so the numeric stages never load matplotlib."""
    if name in _PLOT_NAMES:
        from hibayes.hal import plots

        return getattr(plots, name)
    raise AttributeError(f"module 'hibayes.hal' has no attribute {name!r}")


__all__ = [
    "ERROR_COLUMNS",
    "PriceFile",
    "RUN_COLUMNS",
    "aggregate_win_rates",
    "benchmark_win_rates",
    "best_run_per_model",
    "beta_interval",
    "classify_scaffold",
    "compute_frontier",
    "concat_errors",
    "convex_frontier_mask",
    "cost_frontier",
    "frontier_probabilities",
    "frontier_summary",
    "hull_distances",
    "latency_frontier",
    "load_prices",
    "make_errors",
    "model_cost_latency",
    "model_win_rates",
    "pairwise_wins",
    "pareto_set_distances",
    "pareto_set_mask",
    "price_file_from_mapping",
    "prices_from_mapping",
    "read_hal_metrics_csv",
    "read_price_file",
    "run_metrics_from_hal",
    "run_metrics_from_samples",
    "win_rate_table",
    "win_rates",
    *sorted(_PLOT_NAMES),
]
