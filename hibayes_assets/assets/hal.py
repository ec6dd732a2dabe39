"""HAL group: accuracy, cost and latency per model x benchmark x scaffold; frontiers, win rates and
the report. The statistics are in `hibayes.hal`; results go to DuckDB tables `hal_*` and PNGs under
artifacts/hal in the artifact store.

Only `run_metrics`, which sums every sample row in the warehouse, is in the `duckdb` pool: the frontiers, win rates
and report compute for seconds on small tables and touch DuckDB only in short reads and writes
(which retry while another process holds its lock), so an analysis's inputs or report never wait
for them."""

import time
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from hibayes_assets.metadata import markdown_table, save_figures
from hibayes_assets.resources import WAREHOUSE_POOL, ProjectPaths, WarehouseResource

if TYPE_CHECKING:
    from hibayes.hal.io import PriceFile

ERRORS_TABLE = "hal_errors"
# One run refreshes HAL and IRT together: HAL's few seconds go before IRT's minute.
FIRST = {"dagster/priority": "1"}
# How many errors of each stage to show in the UI; all of them are in the table.
ERRORS_SHOWN = 15
# The run_metrics columns a person checks first; all of them are in the table.
PREVIEW_COLUMNS = ("benchmark", "model", "scaffold", "score_scale", "accuracy", "accuracy_lo", "accuracy_hi",
                   "total_cost", "n_unpriced", "mean_latency", "n_incomplete_log_rows")


class RunMetricsConfig(dg.Config):
    scaffold_field: str = "scaffold"  # or "metadata.<key>" to read it from sample metadata
    latency_field: str = "working_time"  # or "total_time"
    generalist_scaffolds: list[str] = []  # names to count as generalist; default: names containing "generalist"
    include_errored_samples: bool = False


def _record_errors(warehouse: WarehouseResource, stage: str, errors: pd.DataFrame) -> dict[str, object]:
    from hibayes.hal import make_errors

    frame = errors if len(errors) else make_errors()
    warehouse.get().replace_rows(ERRORS_TABLE, "stage", stage, frame)
    by_severity = frame["severity"].value_counts().to_dict() if len(frame) else {}
    metadata: dict[str, object] = {f"errors/{k}": int(v) for k, v in by_severity.items()}
    if len(frame):
        metadata["errors"] = dg.MetadataValue.md(markdown_table(frame[["severity", "model", "benchmark", "field", "message"]], ERRORS_SHOWN))
    return metadata


@dg.asset(
    group_name="hal",
    op_tags=FIRST,
    deps=[dg.AssetDep("eval_samples", partition_mapping=dg.AllPartitionMapping())],
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="One row per run (benchmark x model x scaffold): accuracy (or, for scores that are not "
    "proportions, the mean score on its own scale) with its 95% interval, total and per-task cost from token "
    "usage x prices.yaml over the samples that have usage, mean latency. Samples of logs with status error or "
    "cancelled are left out unless prices.yaml sets `include_incomplete_logs: true`. DuckDB table "
    "`hal_run_metrics`.",
)
def run_metrics(
    context: dg.AssetExecutionContext, config: RunMetricsConfig, project: ProjectPaths, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from hibayes.hal import concat_errors, read_hal_metrics_csv, run_metrics_from_hal
    from hibayes.hal.warehouse_metrics import run_metrics_from_warehouse

    started = time.perf_counter()
    scaffold_types = {name: "generalist" for name in config.generalist_scaffolds} or None
    flags: dict[str, object] = {}
    if project.hal_csv:
        source = project.hal_csv
        runs, errors = run_metrics_from_hal(read_hal_metrics_csv(project.hal_csv), scaffold_types=scaffold_types)
    else:
        source = "warehouse samples"
        price_file, missing = _price_file(Path(project.prices))
        evals = warehouse.get().query("SELECT status FROM evals")
        runs, errors = run_metrics_from_warehouse(
            warehouse.get(),
            price_file.prices,
            scaffold_types=scaffold_types,
            scaffold_field=config.scaffold_field,
            latency_field=config.latency_field,
            exclude_errors=not config.include_errored_samples,
            include_incomplete_logs=price_file.include_incomplete_logs,
        )
        errors = concat_errors(missing, errors)
        flags = _incompleteness(evals, runs, price_file.include_incomplete_logs, project.prices)
    rows = warehouse.get().replace_table("hal_run_metrics", runs)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "source": source,
            "benchmarks": int(runs["benchmark"].nunique()) if rows else 0,
            **flags,
            "preview": dg.MetadataValue.md(markdown_table(runs[list(PREVIEW_COLUMNS)], 40)),
            **_record_errors(warehouse, "run_metrics", errors),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


def _incompleteness(evals: pd.DataFrame, runs: pd.DataFrame, include_incomplete_logs: bool, prices: str) -> dict[str, object]:
    """What the tables lack or hold that a reader should know: logs that did not finish (left out or
    kept, by the price file's setting) and runs whose cost misses samples without token usage."""
    unfinished = int(evals["status"].ne("success").sum())
    policy = "kept" if include_incomplete_logs else "left out"
    return {
        "incomplete_logs": unfinished,
        "incomplete_logs_policy": f"{policy} (include_incomplete_logs: {str(include_incomplete_logs).lower()} in {prices})",
        "runs_with_unpriced_samples": int(runs["cost_incomplete"].fillna(False).sum()),
    }


def _price_file(path: Path) -> "tuple[PriceFile, pd.DataFrame]":
    """The price file, or, when there is none, an empty price table and an error row: accuracy and
    latency are still worth having, and every run's cost stays NaN (never zero)."""
    from hibayes.hal import make_errors
    from hibayes.hal.errors import error_row
    from hibayes.hal.io import PriceFile, empty_prices, read_price_file

    if path.exists():
        return read_price_file(path), make_errors()
    message = f"price table {path} not found (set HIBAYES_PRICES): no run has a cost"
    return PriceFile(prices=empty_prices()), make_errors([error_row("prices", "error", "prices", message)])


@dg.asset(
    group_name="hal",
    op_tags=FIRST,
    deps=[run_metrics],
    kinds={"duckdb"},
    description="Per benchmark, for cost and for latency: the Pareto set (non-dominated runs), the convex-hull "
    "frontier (what HAL calls 'Pareto'), every run's distance to each, and the probability that a run is on "
    "each frontier given the sampling uncertainty of its accuracy. Tables `hal_cost_frontier`, `hal_latency_frontier`.",
)
def cost_frontier(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from hibayes.hal import concat_errors, cost_frontier as cost_frontier_of, frontier_summary, latency_frontier
    from hibayes.hal.uncertainty import frontier_probabilities_by_axis

    started = time.perf_counter()
    runs = warehouse.get().table("hal_run_metrics")
    metadata: dict[str, object] = {}
    all_errors = []
    frontiers = {axis: compute(runs) for axis, compute in (("cost", cost_frontier_of), ("latency", latency_frontier))}
    probabilities = frontier_probabilities_by_axis({axis: frontier for axis, (frontier, _) in frontiers.items()})
    for axis, (frontier, errors) in frontiers.items():
        table, prob_errors = probabilities[axis]
        warehouse.get().replace_table(f"hal_{axis}_frontier", table)
        all_errors += [errors, prob_errors]
        metadata[f"{axis}/summary"] = dg.MetadataValue.md(markdown_table(frontier_summary(frontier), 40))
        metadata[f"{axis}/pareto_set_runs"] = int(frontier["on_pareto_set"].sum())
        metadata[f"{axis}/convex_frontier_runs"] = int(frontier["on_convex_frontier"].sum())
    metadata.update(_record_errors(warehouse, "frontiers", concat_errors(*all_errors)))
    metadata["seconds"] = round(time.perf_counter() - started, 3)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name="hal",
    op_tags=FIRST,
    deps=[run_metrics],
    kinds={"duckdb"},
    description="Per model: max-accuracy win rate (best scaffold per model per benchmark, pairwise within each "
    "benchmark; a tie counts as a comparison but a win for neither, as in HAL's analysis), per-scaffold-type "
    "win rates, and distance-to-frontier win rates using each benchmark's own distances. Tables "
    "`hal_win_rates`, `hal_win_rate_groups`.",
)
def win_rates(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from hibayes.hal import win_rates as win_rates_of

    started = time.perf_counter()
    runs = warehouse.get().table("hal_run_metrics")
    per_model, groups, errors = win_rates_of(runs)
    warehouse.get().replace_table("hal_win_rates", per_model)
    warehouse.get().replace_table("hal_win_rate_groups", groups)
    max_accuracy = per_model[per_model["summary"] == "max_accuracy"].sort_values("win_rate_mean", ascending=False)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(per_model),
            "max_accuracy_win_rates": dg.MetadataValue.md(markdown_table(max_accuracy, 40)),
            **_record_errors(warehouse, "win_rates", errors),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


@dg.asset(
    group_name="hal",
    op_tags=FIRST,
    deps=[cost_frontier, win_rates],
    kinds={"matplotlib"},
    description="Heatmaps (accuracy, latency, cost, win rate; generalist and task-specific), cost- and "
    "latency-accuracy frontier plots with accuracy intervals and frontier probabilities, and win rate "
    "against mean cost and latency. PNGs under artifacts/hal in the artifact store.",
)
def hal_report(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    import matplotlib

    matplotlib.use("Agg")
    from hibayes.hal.plots import hal_report as figures_of

    started = time.perf_counter()
    store = warehouse.get()
    # Each frontier table holds its probabilities too: read once, passed as both.
    cost, latency = store.table("hal_cost_frontier"), store.table("hal_latency_frontier")
    figures = figures_of(
        store.table("hal_run_metrics"),
        groups=store.table("hal_win_rate_groups"),
        cost=cost,
        latency=latency,
        cost_probabilities=cost,
        latency_probabilities=latency,
    )
    # Every HAL figure is laid out to its canvas (tight_layout), so cropping would only redo that work.
    written, plots = save_figures(figures, project.store.report("hal"), crop=False)
    metadata: dict[str, object] = {**plots, "files": dg.MetadataValue.json([str(p) for p in written])}
    metadata["seconds"] = round(time.perf_counter() - started, 3)
    return dg.MaterializeResult(metadata=metadata)
