"""Ingest group: one partition per Inspect log file, read with inspect_ai into DuckDB."""


import time
from collections import Counter

import dagster as dg
import pandas as pd

from hibayes.load.inspect_reader import LogRows, file_sha256, read_logs
from hibayes_assets.metadata import markdown_table
from hibayes_assets.partitions import log_partitions
from hibayes_assets.resources import ProjectPaths, WarehouseResource

CHECK_LOG_READABLE = "check_log_readable"


# Both ingest assets take a whole range of log partitions in one run (one DuckDB transaction):
# a folder of a thousand new logs is one run, not a thousand.
ONE_RUN = dg.BackfillPolicy.single_run()


@dg.asset(
    group_name="ingest",
    partitions_def=log_partitions,
    backfill_policy=ONE_RUN,
    kinds={"inspect"},
    description="One Inspect log file: its path, size, modification time and sha256 (the data version).",
)
def inspect_log(context: dg.AssetExecutionContext, project: ProjectPaths) -> dg.MaterializeResult:
    files = {}
    for key in context.partition_keys:
        path = project.log_path / key
        if not path.exists():
            raise dg.Failure(f"log file {path} no longer exists (partition '{key}')")
        stat = path.stat()
        files[key] = {"path": str(path), "size_bytes": stat.st_size, "mtime": stat.st_mtime, "sha256": file_sha256(path)}
    if len(files) == 1:
        (info,) = files.values()
        return dg.MaterializeResult(
            metadata={**info, "path": dg.MetadataValue.path(info["path"]), "mtime": dg.MetadataValue.timestamp(info["mtime"])},
            data_version=dg.DataVersion(info["sha256"]),
        )
    for key, info in files.items():
        context.log_event(dg.AssetObservation("inspect_log", partition=key, metadata=info))
    return dg.MaterializeResult(metadata={"partitions": len(files), "bytes": sum(i["size_bytes"] for i in files.values())})


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
    backfill_policy=ONE_RUN,
    pool="duckdb",
)
def eval_samples(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource):
    """Replace each log's rows in every ingest table, all logs of the run in one transaction
    (idempotent: re-running leaves the tables as they were)."""
    started = time.perf_counter()
    logs = read_logs({key: project.log_path / key for key in context.partition_keys})
    counts = warehouse.get().replace_partitions("log_key", {rows.log_key: rows.frames() for rows in logs})
    seconds = time.perf_counter() - started
    per_log = {rows.log_key: _log_summary(rows, counts[rows.log_key]) for rows in logs}
    for key, summary in per_log.items():
        context.log.info(
            f"{key}: status {summary['log_status']}, {summary['samples']} samples, "
            f"{summary['ingest_errors']} ingest errors"
        )
    if len(logs) > 1:
        for key, summary in per_log.items():
            context.log_event(dg.AssetObservation("eval_samples", partition=key, metadata=summary))
    errors = pd.concat([rows.errors for rows in logs if len(rows.errors)] or [pd.DataFrame()], ignore_index=True)
    single = logs[0] if len(logs) == 1 else None
    yield dg.MaterializeResult(
        asset_key="eval_samples",
        metadata={
            "dagster/row_count": sum(s["samples"] for s in per_log.values()),
            "logs": len(logs),
            "scores_rows": sum(s["scores"] for s in per_log.values()),
            "samples_with_error": sum(s["samples_with_error"] for s in per_log.values()),
            **({"log_status": single.status, "sha256": single.sha256} if single else {"log_status": _statuses(logs)}),
            "seconds": round(seconds, 3),
        },
        data_version=dg.DataVersion(single.sha256) if single else None,
    )
    yield dg.MaterializeResult(
        asset_key="ingest_errors",
        metadata={
            "dagster/row_count": len(errors),
            "preview": dg.MetadataValue.md(markdown_table(errors[["log_key", "field", "message"]], 20) if len(errors) else "no errors"),
        },
    )
    unusable = errors[errors["field"].isin(["file", "status", "samples"])] if len(errors) else errors
    yield dg.AssetCheckResult(
        asset_key="eval_samples",
        check_name=CHECK_LOG_READABLE,
        passed=len(unusable) == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(unusable["message"].head(5)) if len(unusable) else f"read {len(logs)} log(s)",
        metadata={"unusable_logs": len(unusable), "logs": len(logs)},
    )


def _log_summary(rows: LogRows, counts: dict[str, int]) -> dict[str, object]:
    return {
        "log_status": rows.status,
        "sha256": rows.sha256,
        "samples": counts["samples"],
        "scores": counts["scores"],
        "ingest_errors": counts["ingest_errors"],
        "samples_with_error": int(rows.samples["has_error"].sum()) if len(rows.samples) else 0,
    }


def _statuses(logs: list[LogRows]) -> str:
    return ", ".join(f"{n} {status}" for status, n in Counter(rows.status for rows in logs).most_common())
