"""Sensors: new or changed log files are ingested; analysis YAMLs become partitions; the planner
launches what a change makes due; failed runs are recorded. All RUNNING by default.

Sensors run in the code server, so they only list folders, hash small files and read the Dagster
instance and the ingest manifest: they never open DuckDB (that would contend with runs for its lock)
and never read a log. Their state is the manifest and the planned runs' tags, shared with `make
demo`, so the daemon starts quiet after a demo; a cursor only remembers what a sensor has already
said (files not used), so that it says it once."""


import hashlib
import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from hibayes.load.inspect_reader import LOG_SUFFIXES, scan_log_dir
from hibayes.load.log_locations import UNFINISHED_STATUS, ListingCursor, LogDir, list_since
from hibayes.load.manifest import LogEntry, changed_logs, forgotten_logs, read_manifest, unrecorded_logs
from hibayes.settings import load_settings
from hibayes_assets.partitions import analysis_partitions, contiguous_ranges, log_partitions, range_tags
from hibayes_assets.planner import INGEST_ASSETS, INGEST_STAGE, STAGE_TAG, ingest_in_flight, plan, read_analyses
from hibayes_assets.resources import WAREHOUSE_POOL, ProjectPaths
from hibayes_assets.slots import pools_note, size_pools

INGEST_SELECTION = [dg.AssetKey(asset) for asset in INGEST_ASSETS]
EVAL_SAMPLES = dg.AssetKey("eval_samples")
# The daemon visits its sensors every 5 s (Dagster's fixed loop); an interval of 5 s as well would
# make a sensor skip every other visit when a visit comes a moment early, so 1 s: every visit ticks.
TICK_SECONDS = 1
PartitionsRequest = dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest


def ingest_requests(
    instance: dg.DagsterInstance, found: dict[str, str], entries: dict[str, LogEntry], order: list[str]
) -> tuple[list[str], list[dg.RunRequest]]:
    """Partitions to add, and ingest runs: one run per stretch of consecutive partitions (new files
    are appended to `order`, the registered log partitions, so a folder of new logs is one run). A
    run covers the files whose rows are not what the folder holds (new, changed or gone:
    `changed_logs` against the manifest's `entries`) and the files the manifest holds whose ingest
    Dagster never recorded (a kill after the warehouse commit): ingesting those again records their
    materialization without reading them."""
    changed = changed_logs(found, entries)
    unrecorded = unrecorded_logs(found, entries, instance.get_materialized_partitions(EVAL_SAMPLES))
    existing = set(order)
    wanted = sorted({*changed, *unrecorded})
    to_add = [key for key in wanted if key not in existing]
    # The request names the change and the last ingest that succeeded: the same change requested
    # again after a failed run is deduplicated (no retry loop), but a file deleted, restored and
    # deleted again, or a second record after a killed one, is a new request once an ingest succeeded.
    change = {
        "read": {key: found.get(key, "gone") for key in changed},
        "record": {key: found[key] for key in unrecorded},
        "after": last_successful_ingest(instance),
    }
    digest = hashlib.sha256(json.dumps(change, sort_keys=True).encode()).hexdigest()[:12]
    requests = []
    for start, end in contiguous_ranges([*order, *to_add], set(wanted)):
        tags = {STAGE_TAG: INGEST_STAGE, **({} if start == end else range_tags(start, end))}
        requests.append(dg.RunRequest(
            run_key=f"{start}..{end}@{digest}", partition_key=start if start == end else None, tags=tags,
            asset_selection=INGEST_SELECTION,
        ))
    return to_add, requests


def last_successful_ingest(instance: dg.DagsterInstance) -> str | None:
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={STAGE_TAG: INGEST_STAGE}, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    return runs[0].run_id if runs else None


@dg.sensor(
    name="new_inspect_logs",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=INGEST_SELECTION,
    description="Adds a partition for each new Inspect log in HIBAYES_LOG_DIR and ingests new, changed or deleted "
    "files (by size and modification time, or an object's ETag, against the ingest manifest) in one run; a deleted "
    "file's partition goes once its rows have. Logs whose ingest Dagster never recorded are ingested again to record "
    "it. A remote log dir is listed from the last key seen, and in full every HIBAYES_LOG_RELIST_SECONDS.",
)
def new_inspect_logs(context: dg.SensorEvaluationContext, project: ProjectPaths) -> dg.SensorResult | dg.SkipReason:
    written = size_pools(context.instance, project.fit_workers, WAREHOUSE_POOL)  # before the first ingest claims one
    if written:
        context.log.info(pools_note(written, project.fit_workers))
    if ingest_in_flight(context.instance):
        return dg.SkipReason("an ingest is running; new files wait for the next tick")
    entries = read_manifest(Path(project.home))
    # The tick's one look at the folder, and at the manifest.
    found, skipped, complete, cursor = look_at_log_dir(project.log_path, entries, context.cursor, project.log_relist_seconds)
    if skipped and sensor_said(context.cursor) != names_signature(skipped):  # said once per set of skipped names, not every tick
        context.log.warning(skipped_files_note(project.log_path, skipped))
    order = list(context.instance.get_dynamic_partitions(log_partitions.name))
    # No ingest in flight (above), none requested for them; only a full listing shows what is gone.
    gone = forgotten_logs(found, entries, order) if complete else []
    to_add, requests = ingest_requests(context.instance, found, entries, order)
    if not requests and not gone:
        return dg.SensorResult(cursor=cursor, skip_reason=f"no new, changed or deleted logs in {project.log_path}")
    if requests:
        context.log.info(f"ingesting new, changed or deleted logs in {len(requests)} run(s); {len(to_add)} new partitions")
    if gone:
        context.log.info(f"removing the partitions of {len(gone)} deleted logs, whose rows are gone: {', '.join(gone[:10])}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            *([log_partitions.build_add_request(to_add)] if to_add else []),
            *([log_partitions.build_delete_request(gone)] if gone else []),
        ],
        cursor=cursor,
    )


def look_at_log_dir(
    log_dir: LogDir, entries: dict[str, LogEntry], cursor: str | None, relist_seconds: float
) -> tuple[dict[str, str], list[str], bool, str]:
    """What the log dir holds (key -> signature), the skipped files to report, whether the look was
    a full listing, and the sensor's next cursor. A folder is walked in full every tick and the
    cursor is what the sensor said about skipped files. A URL is listed from where the last look
    ended (`list_since`); between full listings, the files the manifest holds and this look did not
    list are taken to be as the manifest has them."""
    if isinstance(log_dir, Path):
        scan = scan_log_dir(log_dir)
        return scan.found, scan.skipped, True, names_signature(scan.skipped)
    unfinished = [key for key, entry in entries.items() if entry.status == UNFINISHED_STATUS]
    look = list_since(log_dir, ListingCursor.from_json(cursor), time.time(), relist_seconds, unfinished)
    scan = look.scan
    found = scan.found if look.complete else {**{key: entry.signature for key, entry in entries.items()}, **scan.found}
    skipped = scan.skipped if look.complete else []  # new skipped names are said at the next full listing
    said = names_signature(scan.skipped) if look.complete else look.cursor.said
    return found, skipped, look.complete, replace(look.cursor, said=said).to_json()


def sensor_said(cursor: str | None) -> str:
    """What the last tick said about skipped files: the cursor itself for a folder, a field of it for a URL."""
    return ListingCursor.from_json(cursor).said if cursor and cursor.startswith("{") else cursor or ""


def names_signature(names: list[str]) -> str:
    """A short hash of a list of names (a sensor's cursor: what it last said), "" for none."""
    return hashlib.sha256(json.dumps(names).encode()).hexdigest()[:16] if names else ""


def skipped_files_note(log_dir: LogDir, skipped: list[str], shown: int = 10) -> str:
    """What the files in the log dir that are not read are, in one line."""
    names = ", ".join(skipped[:shown]) + (f" and {len(skipped) - shown} more" if len(skipped) > shown else "")
    upper = [name for name in skipped if Path(name).suffix.lower() in LOG_SUFFIXES]
    hint = f"; rename {', '.join(upper[:3])} with a lower-case suffix to have {'it' if len(upper) == 1 else 'them'} read" if upper else ""
    return (
        f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} in {log_dir} not read: only "
        f"{' and '.join(LOG_SUFFIXES)} files are Inspect logs ({names}){hint}"
    )


def partition_changes(instance: dg.DagsterInstance, analyses_dir: Path) -> tuple[list[PartitionsRequest], list[str]]:
    """Requests that make the analysis partitions match the YAML files, and the problems of files
    that could not be read (their partitions stay)."""
    configs, problems = read_analyses(analyses_dir)
    existing = instance.get_dynamic_partitions(analysis_partitions.name)
    added = [name for name in configs if name not in existing]
    removed = [name for name in existing if name not in configs and name not in problems]
    requests: list[PartitionsRequest] = []
    if added:
        requests.append(analysis_partitions.build_add_request(added))
    if removed:
        requests.append(analysis_partitions.build_delete_request(removed))
    return requests, [f"{name}: {problem}" for name, problem in problems.items()]


def apply_partition_changes(instance: dg.DagsterInstance, requests: list[PartitionsRequest]) -> None:
    """What the sensor daemon does with a sensor's partition requests, for in-process callers (the demo)."""
    for request in requests:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


@dg.sensor(
    name="analysis_configs",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps one partition per analysis YAML in HIBAYES_ANALYSES_DIR (removed when the file goes); "
    "reports files that do not validate.",
)
def analysis_configs(context: dg.SensorEvaluationContext, project: ProjectPaths) -> dg.SensorResult | dg.SkipReason:
    requests, problems = partition_changes(context.instance, project.analyses_path)
    signature = hashlib.sha256(json.dumps(problems).encode()).hexdigest()[:16]
    if problems and context.cursor != signature:  # each problem is logged once, not every tick
        for problem in problems:
            context.log.error(f"analysis file not used: {problem}")
    if not requests:
        return dg.SensorResult(cursor=signature, skip_reason=f"analysis partitions match {project.analyses_path}")
    return dg.SensorResult(dynamic_partitions_requests=requests, cursor=signature)


@dg.sensor(
    name="refresh_results",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=dg.AssetSelection.all(),
    description="Launches what a change makes due, and nothing else: HAL and IRT when the warehouse's content "
    "changed; one run that takes every analysis whose data or settings may have changed from its data to its "
    "report (an analysis whose features did not change stops after its data); the report after fits made by "
    "hand (see hibayes_assets/planner.py).",
)
def refresh_results(context: dg.SensorEvaluationContext, project: ProjectPaths) -> dg.SensorResult | dg.SkipReason:
    written = size_pools(context.instance, project.fit_workers, WAREHOUSE_POOL)
    if written:
        context.log.info(pools_note(written, project.fit_workers))
    runs = plan(context.instance, project)
    if not runs:
        return dg.SkipReason("every result is up to date with its inputs (or waits for a run in progress)")
    for run in runs:
        context.log.info(f"due: {run.describe()}")
    return dg.SensorResult(run_requests=[run.run_request() for run in runs])


@dg.run_failure_sensor(
    name="record_run_failures",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Appends each failed run (job, assets, partition, message) to HIBAYES_HOME/run_failures.jsonl.",
)
def record_run_failures(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    entry = {
        "recorded_at": datetime.now(timezone.utc).isoformat(),
        "run_id": run.run_id,
        "job": run.job_name,
        "assets": sorted(key.to_user_string() for key in (run.asset_selection or [])),
        "partition": run.tags.get("dagster/partition"),
        "message": context.failure_event.message,
        "failed_steps": [event.step_key for event in context.get_step_failure_events()],
    }
    path = load_settings().run_failures_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
    context.log.info(f"recorded failed run {run.run_id} in {path}")
