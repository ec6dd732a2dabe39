"""Ingest group: one partition per Inspect log file, read with inspect_ai into DuckDB."""


import time
from collections import Counter
from collections.abc import Sequence

import dagster as dg
import pandas as pd

from pathlib import Path

from hibayes.load.copies import DUPLICATE_FIELD
from hibayes.load.ingest import ingest_partitions
from hibayes.load.inspect_reader import LogRows
from hibayes.load.log_locations import LogFile, content_id, file_facts, log_file
from hibayes.load.manifest import UNREADABLE
from hibayes_assets.metadata import markdown_table
from hibayes_assets.partitions import log_partitions
from hibayes_assets.resources import WAREHOUSE_POOL, ProjectPaths, WarehouseResource

CHECK_LOG_READABLE = "check_log_readable"
# Error fields that mean the log as a whole could not be used (the others are about one sample or score).
UNUSABLE_FIELDS = ("file", "header", "status", "samples", DUPLICATE_FIELD)


# Both ingest assets take a whole range of log partitions in one run (one DuckDB transaction):
# a folder of a thousand new logs is one run, not a thousand.
ONE_RUN = dg.BackfillPolicy.single_run()

# A run over at most this many logs records each log's facts on its partition's materialization and
# says a line per log. A larger one does not: Dagster checks every `add_asset_metadata(partition_key=)`
# against the whole list of registered log partitions (an instance query each), so per-partition
# metadata costs time in proportion to the partitions registered, per log: a first ingest of 10,000
# logs spent about 20 minutes on it alone. There each log's facts are on its check's evaluation (one
# per log in any case) and the run's lines name only the logs that could not be used.
DETAILED_LOGS = 20
NAMED_IN_SUMMARY = 10


def detailed(keys: Sequence[str]) -> bool:
    return len(keys) <= DETAILED_LOGS


def named(keys: list[str]) -> str:
    """The first few keys, and how many more."""
    more = len(keys) - NAMED_IN_SUMMARY
    return ", ".join(keys[:NAMED_IN_SUMMARY]) + (f" and {more} more" if more > 0 else "")


@dg.asset(
    group_name="ingest",
    partitions_def=log_partitions,
    backfill_policy=ONE_RUN,
    kinds={"inspect"},
    description="One Inspect log file: its path, size, modification time and sha256 (the data version).",
)
def inspect_log(context: dg.AssetExecutionContext, project: ProjectPaths) -> dg.MaterializeResult:
    files: dict[str, dict[str, object]] = {}
    keys = context.partition_keys  # each access lists every registered log partition: once
    for key in keys:
        path = log_file(project.log_path, key)
        facts = file_facts(path)
        if facts is None:  # deleted: eval_samples removes its rows, the sensor or the demo then its partition
            files[key] = {"path": str(path), "removed": True}
            continue
        files[key] = {"path": str(path), "size_bytes": facts.size, "mtime": facts.mtime, "sha256": content_id(path, facts)}
    if len(files) == 1:
        (info,) = files.values()
        if info.get("removed"):
            return dg.MaterializeResult(metadata={**info, "path": dg.MetadataValue.path(info["path"])})
        return dg.MaterializeResult(
            metadata={**info, "path": dg.MetadataValue.path(info["path"]), "mtime": dg.MetadataValue.timestamp(info["mtime"])},
            data_version=dg.DataVersion(info["sha256"]),
        )
    gone = [key for key, info in files.items() if info.get("removed")]
    if gone:
        context.log.info(f"{len(gone)} files are gone; their rows leave the warehouse: {named(gone)}")
    for key, info in files.items() if detailed(keys) else ():  # on each partition's materialization: no event of its own
        context.add_asset_metadata(info, partition_key=key)
    return dg.MaterializeResult(metadata={
        "partitions": len(files),
        "removed": sum(bool(info.get("removed")) for info in files.values()),
        "bytes": sum(info.get("size_bytes", 0) for info in files.values()),
    })


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "eval_samples",
            group_name="ingest",
            deps=[inspect_log],
            partitions_def=log_partitions,
            kinds={"duckdb"},
            description="One log's rows in the DuckDB tables `evals` (one row per log), `samples` (one per sample x "
            "epoch) and `scores` (one per sample x epoch x scorer), and its provenance in `log_files`. A file whose "
            "content is already in the warehouse (same sha256) is not read again. A copy of a run another file holds "
            "(same eval_id or bytes) adds no rows: the file ingested first counts, so each sample counts once. A file that "
            "is gone loses its rows, and a copy of its run counts instead.",
        ),
        dg.AssetSpec(
            "ingest_errors",
            group_name="ingest",
            deps=[inspect_log],
            partitions_def=log_partitions,
            kinds={"duckdb"},
            description="One log's rows in the DuckDB table `ingest_errors`: why the log, a sample or a score could "
            "not be used, naming the file and the field.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_LOG_READABLE,
            asset="eval_samples",
            partitions_def=log_partitions,
            description="Whether the log could be read, finished with status 'success' and holds a run no other "
            "file holds; when not, the result says what went wrong (the same message is in `ingest_errors`).",
        )
    ],
    partitions_def=log_partitions,
    backfill_policy=ONE_RUN,
    pool=WAREHOUSE_POOL,
    can_subset=True,  # the check reports per log partition (log events), not as the step's output
)
def eval_samples(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource):
    """Replace each changed log's rows in every ingest table, and remove those of deleted files, all
    logs of the run in one transaction (idempotent: re-running leaves the tables as they were), then
    record them in the manifest that the sensors read (`hibayes.load.ingest`). Every partition of the
    run is materialized, an unchanged one too: that is how a rerun records an ingest whose run was
    killed after the warehouse commit."""
    started = time.perf_counter()
    keys = context.partition_keys  # each access lists every registered log partition: once
    outcome = ingest_partitions(warehouse.get(), Path(project.home), project.log_path, keys)
    logs, unchanged = outcome.logs, outcome.unchanged
    seconds = time.perf_counter() - started
    per_log = {rows.log_key: _log_summary(rows, outcome.counts[rows.log_key]) for rows in logs}
    if detailed(keys):
        for key, summary in per_log.items():
            context.add_asset_metadata(summary, asset_key="eval_samples", partition_key=key)
        for key in outcome.removed:
            context.add_asset_metadata({"removed": True}, asset_key="eval_samples", partition_key=key)
        for key in unchanged:
            context.add_asset_metadata({"unchanged": True, "sha256": unchanged[key].sha256}, asset_key="eval_samples", partition_key=key)
    _log_per_log_lines(context, per_log, unchanged, every_log=detailed(keys))
    for rows in logs:
        if rows.copy_of:
            context.log.warning(f"{rows.log_key}: {rows.errors['message'].iloc[0]}")
    if outcome.removed:
        context.log.info(f"{len(outcome.removed)} files are gone: their rows left every ingest table and the manifest: {named(outcome.removed)}")
    if outcome.orphans:
        context.log.warning(
            f"{len(outcome.orphans)} copies of runs whose kept file no longer holds them; ingest them again to count "
            f"their samples: {', '.join(outcome.orphans)}"
        )
    for rows in logs:
        context.log_event(_readable_check(rows, log_file(project.log_path, rows.log_key), per_log[rows.log_key]))
    errors = pd.concat([rows.errors for rows in logs if len(rows.errors)] or [pd.DataFrame()], ignore_index=True)
    yield dg.MaterializeResult(
        asset_key="eval_samples",
        metadata={
            "logs_read": len(logs),
            "logs_unchanged": len(unchanged),
            "logs_removed": len(outcome.removed),
            "samples_written": sum(s["samples"] for s in per_log.values()),
            "copies_left_out": sum(bool(rows.copy_of) for rows in logs),
            "copies_to_ingest_again": ", ".join(outcome.orphans) or "none",
            "log_statuses": _statuses(logs) or "none read",
            "warehouse_version": outcome.version,
            "seconds": round(seconds, 3),
        },
    )
    yield dg.MaterializeResult(
        asset_key="ingest_errors",
        metadata={
            "dagster/row_count": len(errors),
            "preview": dg.MetadataValue.md(markdown_table(errors[["log_key", "field", "message"]], 20) if len(errors) else "no errors"),
        },
    )


# Every log line is an event in the instance's storage (a SQLite write each, by default): past
# DETAILED_LOGS, a log has a line of its own only when it could not be used as a whole; logs with
# errored samples (most logs of a large corpus have one) are named in one line.
def _log_per_log_lines(context: dg.AssetExecutionContext, per_log: dict[str, dict], unchanged: dict, every_log: bool) -> None:
    with_errors = []
    for key, summary in per_log.items():
        if every_log or summary["log_status"] != "success":
            context.log.info(f"{key}: status {summary['log_status']}, {summary['samples']} samples, {summary['ingest_errors']} ingest errors")
        elif summary["ingest_errors"] and not summary["copy_of"]:  # a copy has a warning of its own
            with_errors.append(key)
    if with_errors:
        context.log.info(f"{len(with_errors)} logs with status 'success' have errored samples or scores (rows in ingest_errors): {named(with_errors)}")
    for key in unchanged if every_log else ():
        context.log.info(f"{key}: content unchanged since it was ingested (same sha256): not read again")
    context.log.info(
        f"{len(per_log)} logs read ({sum(s['samples'] for s in per_log.values())} samples), {len(unchanged)} unchanged"
        + ("" if every_log else "; a line above for each log that could not be used as a whole, every log's counts are on its check")
    )


def _readable_check(rows: LogRows, path: LogFile, summary: dict[str, object]) -> dg.AssetCheckEvaluation:
    """The log's check result, for its own partition (a range run covers many logs), with the log's
    facts (`_log_summary`) as its metadata."""
    problems = rows.errors[rows.errors["field"].isin(UNUSABLE_FIELDS)]["message"].tolist() if len(rows.errors) else []
    if rows.status == UNREADABLE:
        passed, severity = False, dg.AssetCheckSeverity.ERROR
        description = f"{path} could not be read: " + ("; ".join(problems[:3]) or "no rows")
    elif rows.copy_of:
        passed, severity = False, dg.AssetCheckSeverity.WARN
        description = "; ".join(problems)
    elif rows.status != "success":
        passed, severity = False, dg.AssetCheckSeverity.WARN
        description = (
            f"{path} finished with status '{rows.status}': its {len(rows.samples)} samples are kept but left out of "
            "analyses by default" + (f" ({'; '.join(problems[:2])})" if problems else "")
        )
    else:
        passed, severity = True, dg.AssetCheckSeverity.WARN
        description = f"read {len(rows.samples)} samples from {path} (status 'success')"
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("eval_samples"), check_name=CHECK_LOG_READABLE, passed=passed, severity=severity,
        description=description, partition=rows.log_key,
        metadata=summary,
    )


def _log_summary(rows: LogRows, counts: dict[str, int]) -> dict[str, object]:
    return {
        "log_status": rows.status,
        "sha256": rows.sha256,
        "samples": counts.get("samples", 0),
        "scores": counts.get("scores", 0),
        "ingest_errors": counts.get("ingest_errors", 0),
        "samples_with_error": int(rows.samples["has_error"].sum()) if len(rows.samples) else 0,
        "copy_of": rows.copy_of or "",
    }


def _statuses(logs: list[LogRows]) -> str:
    return ", ".join(f"{n} {status}" for status, n in Counter(rows.status for rows in logs).most_common())
