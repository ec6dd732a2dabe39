"""Sensors: new or changed log files are ingested; analysis YAMLs become partitions; the planner
launches what a change makes due; failed runs are recorded. All RUNNING by default.

Sensors run in the code server, so they only list folders, hash small files and read the Dagster
instance and the ingest manifest: they never open DuckDB (that would contend with runs for its lock)
and never read a log. Their state is the manifest and the planned runs' tags, shared with `make
demo`, so the daemon starts quiet after a demo; a cursor only remembers what a sensor has already
said (files not used), so that it says it once."""


import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from hibayes.load.inspect_reader import LOG_SUFFIXES, scan_logs, skipped_files
from hibayes.load.manifest import changed_logs, read_manifest
from hibayes.settings import load_settings
from hibayes_assets.partitions import (
    analysis_partitions,
    contiguous_ranges,
    fit_key,
    fit_partitions,
    log_partitions,
    range_tags,
    split_fit_key,
)
from hibayes_assets.planner import INGEST_ASSETS, INGEST_STAGE, STAGE_TAG, ingest_in_flight, plan, read_analyses
from hibayes_assets.resources import ProjectPaths

INGEST_SELECTION = [dg.AssetKey(asset) for asset in INGEST_ASSETS]
# The daemon visits its sensors every 5 s (Dagster's fixed loop); an interval of 5 s as well would
# make a sensor skip every other visit when a visit comes a moment early, so 1 s: every visit ticks.
TICK_SECONDS = 1
PartitionsRequest = dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest


def ingest_requests(found: dict[str, str], home: Path, partition_order: list[str]) -> tuple[list[str], list[dg.RunRequest]]:
    """Partitions to add, and ingest runs for new or changed log files: one run per stretch of
    consecutive partitions (new files are appended, so a folder of new logs is one run)."""
    changed = changed_logs(found, read_manifest(home))
    existing = set(partition_order)
    to_add = [key for key in changed if key not in existing]
    requests = []
    for start, end in contiguous_ranges([*partition_order, *to_add], set(changed)):
        signatures = {key: found[key] for key in changed}
        run_key = f"{start}..{end}@" + hashlib.sha256(json.dumps(signatures, sort_keys=True).encode()).hexdigest()[:12]
        tags = {STAGE_TAG: INGEST_STAGE, **({} if start == end else range_tags(start, end))}
        requests.append(dg.RunRequest(
            run_key=run_key, partition_key=start if start == end else None, tags=tags, asset_selection=INGEST_SELECTION,
        ))
    return to_add, requests


@dg.sensor(
    name="new_inspect_logs",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=INGEST_SELECTION,
    description="Adds a partition for each new Inspect log in HIBAYES_LOG_DIR and ingests new or changed files "
    "(by size and modification time against the ingest manifest) in one run.",
)
def new_inspect_logs(context: dg.SensorEvaluationContext, project: ProjectPaths) -> dg.SensorResult | dg.SkipReason:
    if ingest_in_flight(context.instance):
        return dg.SkipReason("an ingest is running; new files wait for the next tick")
    skipped = skipped_files(project.log_path)
    cursor = names_signature(skipped)
    if skipped and context.cursor != cursor:  # said once per set of skipped names, not every tick
        context.log.warning(skipped_files_note(project.log_path, skipped))
    order = list(context.instance.get_dynamic_partitions(log_partitions.name))
    to_add, requests = ingest_requests(scan_logs(project.log_path), Path(project.home), order)
    if not requests:
        return dg.SensorResult(cursor=cursor, skip_reason=f"no new or changed logs in {project.log_path}")
    context.log.info(f"ingesting new or changed logs in {len(requests)} run(s); {len(to_add)} new partitions")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[log_partitions.build_add_request(to_add)] if to_add else [],
        cursor=cursor,
    )


def names_signature(names: list[str]) -> str:
    """A short hash of a list of names (a sensor's cursor: what it last said), "" for none."""
    return hashlib.sha256(json.dumps(names).encode()).hexdigest()[:16] if names else ""


def skipped_files_note(log_dir: Path, skipped: list[str], shown: int = 10) -> str:
    """What the files in the log dir that are not read are, in one line."""
    names = ", ".join(skipped[:shown]) + (f" and {len(skipped) - shown} more" if len(skipped) > shown else "")
    upper = [name for name in skipped if Path(name).suffix.lower() in LOG_SUFFIXES]
    hint = f"; rename {', '.join(upper[:3])} with a lower-case suffix to have {'it' if len(upper) == 1 else 'them'} read" if upper else ""
    return (
        f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} in {log_dir} not read: only "
        f"{' and '.join(LOG_SUFFIXES)} files are Inspect logs ({names}){hint}"
    )


def partition_changes(instance: dg.DagsterInstance, analyses_dir: Path) -> tuple[list[PartitionsRequest], list[str]]:
    """Requests that make the analysis and fit partitions match the YAML files (a fit partition per
    model each analysis lists), and the problems of files that could not be read (their partitions stay)."""
    configs, problems = read_analyses(analyses_dir)
    wanted = {name: [fit_key(name, model) for model in config.model_names] for name, config in configs.items()}
    requests = []
    for partitions, keys, keep in (
        (analysis_partitions, list(wanted), set(problems)),
        (fit_partitions, [key for keys in wanted.values() for key in keys], set(problems)),
    ):
        existing = instance.get_dynamic_partitions(partitions.name)
        added = [key for key in keys if key not in existing]
        removed = [key for key in existing if key not in keys and split_fit_key(key)[0] not in keep]
        if added:
            requests.append(partitions.build_add_request(added))
        if removed:
            requests.append(partitions.build_delete_request(removed))
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
    description="Keeps one partition per analysis YAML in HIBAYES_ANALYSES_DIR and one fit partition per model "
    "each lists (removed when the file or the model goes); reports files that do not validate.",
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
    "changed; each analysis's data and features; the fits whose features or settings changed; then the "
    "report of each analysis with a new fit (see hibayes_assets/planner.py).",
)
def refresh_results(context: dg.SensorEvaluationContext, project: ProjectPaths) -> dg.SensorResult | dg.SkipReason:
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
