"""Ingest group: one partition per Inspect log file, read with inspect_ai into DuckDB."""


import time

import dagster as dg

from hibayes.load.inspect_reader import file_sha256, read_log
from hibayes_assets.metadata import markdown_table
from hibayes_assets.partitions import log_partitions
from hibayes_assets.resources import ProjectPaths, WarehouseResource

CHECK_LOG_READABLE = "check_log_readable"


@dg.asset(
    group_name="ingest",
    partitions_def=log_partitions,
    kinds={"inspect"},
    description="One Inspect log file: its path, size, modification time and sha256 (the data version).",
)
def inspect_log(context: dg.AssetExecutionContext, project: ProjectPaths) -> dg.MaterializeResult:
    path = project.log_path / context.partition_key
    if not path.exists():
        raise dg.Failure(f"log file {path} no longer exists (partition '{context.partition_key}')")
    stat = path.stat()
    sha = file_sha256(path)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "size_bytes": stat.st_size,
            "mtime": dg.MetadataValue.timestamp(stat.st_mtime),
            "sha256": sha,
        },
        data_version=dg.DataVersion(sha),
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "eval_samples",
            group_name="ingest",
            deps=[inspect_log],
            partitions_def=log_partitions,
            kinds={"duckdb"},
            description="DuckDB tables `evals` (one row per log), `samples` (one per sample x epoch) and "
            "`scores` (one per sample x epoch x scorer).",
            automation_condition=dg.AutomationCondition.eager(),
        ),
        dg.AssetSpec(
            "ingest_errors",
            group_name="ingest",
            deps=[inspect_log],
            partitions_def=log_partitions,
            kinds={"duckdb"},
            description="DuckDB table `ingest_errors`: why a log, a sample or a score could not be used.",
            automation_condition=dg.AutomationCondition.eager(),
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_LOG_READABLE,
            asset="eval_samples",
            partitions_def=log_partitions,
            description="The log could be read and finished with status 'success'.",
        )
    ],
    partitions_def=log_partitions,
    pool="duckdb",
)
def eval_samples(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource):
    """Replace this log's rows in every ingest table in one transaction (idempotent)."""
    key = context.partition_key
    path = project.log_path / key
    started = time.perf_counter()
    rows = read_log(path, key)
    counts = warehouse.get().replace_partition("log_key", key, rows.frames())
    seconds = time.perf_counter() - started
    n_sample_errors = int(rows.samples["has_error"].sum()) if len(rows.samples) else 0
    errors_preview = rows.errors[["field", "message"]].head(10) if len(rows.errors) else None
    context.log.info(
        f"{key}: status {rows.status}, {counts['samples']} samples, {counts['scores']} scores, "
        f"{counts['ingest_errors']} ingest errors in {seconds:.2f}s"
    )
    yield dg.MaterializeResult(
        asset_key="eval_samples",
        metadata={
            "dagster/row_count": counts["samples"],
            "scores_rows": counts["scores"],
            "log_status": rows.status,
            "samples_with_error": n_sample_errors,
            "sha256": rows.sha256,
            "seconds": round(seconds, 3),
        },
        data_version=dg.DataVersion(rows.sha256),
    )
    yield dg.MaterializeResult(
        asset_key="ingest_errors",
        metadata={
            "dagster/row_count": counts["ingest_errors"],
            "preview": dg.MetadataValue.md(markdown_table(errors_preview) if errors_preview is not None else "no errors"),
        },
    )
    fatal = rows.errors[rows.errors["field"].isin(["file", "status", "samples"])] if len(rows.errors) else rows.errors
    yield dg.AssetCheckResult(
        asset_key="eval_samples",
        check_name=CHECK_LOG_READABLE,
        passed=len(fatal) == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=fatal["message"].iloc[0] if len(fatal) else f"read {counts['samples']} samples",
        metadata={"log_status": rows.status, "path": str(path)},
    )
