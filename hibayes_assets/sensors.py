"""Sensors: new or changed log files and analysis YAMLs become partitions and runs; failed runs are
recorded; declarative automation keeps everything downstream fresh. All RUNNING by default.

Sensors run in the code server, so they only list folders and hash small files: they never open
DuckDB (that would contend with runs for its lock) and never read a log."""


import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from hibayes.config import ConfigError, list_analyses, load_analysis
from hibayes.load.inspect_reader import scan_logs
from hibayes.settings import load_settings
from hibayes_assets.partitions import (
    analysis_partitions,
    contiguous_ranges,
    log_partitions,
    model_partitions,
    range_tags,
)
from hibayes_assets.resources import ProjectPaths

INGEST_SELECTION = [dg.AssetKey("inspect_log"), dg.AssetKey("eval_samples"), dg.AssetKey("ingest_errors")]


def new_log_requests(
    found: dict[str, str], seen: dict[str, str], partition_order: list[str]
) -> tuple[list[str], list[dg.RunRequest]]:
    """Partitions to add, and ingest runs for new or changed log files: one run per stretch of
    consecutive partitions (new files are appended, so a folder of new logs is one run)."""
    changed = {key: sig for key, sig in found.items() if seen.get(key) != sig}
    existing = set(partition_order)
    to_add = sorted(key for key in changed if key not in existing)
    requests = []
    for start, end in contiguous_ranges([*partition_order, *to_add], set(changed)):
        run_key = f"{start}..{end}@" + hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:12]
        if start == end:
            requests.append(dg.RunRequest(run_key=run_key, partition_key=start, asset_selection=INGEST_SELECTION))
        else:
            requests.append(dg.RunRequest(run_key=run_key, tags=range_tags(start, end), asset_selection=INGEST_SELECTION))
    return to_add, requests


@dg.sensor(
    name="new_inspect_logs",
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=INGEST_SELECTION,
    description="Adds a partition for each new or changed Inspect log in HIBAYES_LOG_DIR and ingests it.",
)
def new_inspect_logs(context: dg.SensorEvaluationContext, project: ProjectPaths) -> dg.SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    found = scan_logs(project.log_path)
    order = list(context.instance.get_dynamic_partitions(log_partitions.name))
    to_add, requests = new_log_requests(found, seen, order)
    if not requests:
        return dg.SensorResult(skip_reason=f"no new or changed logs in {project.log_path}", cursor=json.dumps(found))
    context.log.info(f"{len(requests)} new or changed logs; {len(to_add)} new partitions")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[log_partitions.build_add_request(to_add)] if to_add else [],
        cursor=json.dumps(found),
    )


def analysis_signatures(analyses_dir: Path) -> dict[str, str]:
    return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in list_analyses(analyses_dir)}


@dg.sensor(
    name="analysis_configs",
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[dg.AssetKey("analysis_data")],
    description="Adds a partition for each new or changed analysis YAML in HIBAYES_ANALYSES_DIR (and its "
    "models) and refreshes its data; automation refits what follows.",
)
def analysis_configs(context: dg.SensorEvaluationContext, project: ProjectPaths) -> dg.SensorResult:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    found = analysis_signatures(project.analyses_path)
    changed = sorted(name for name, sig in found.items() if seen.get(name) != sig)
    analyses_to_add, models_to_add, requests = [], set(), []
    existing_analyses = set(context.instance.get_dynamic_partitions(analysis_partitions.name))
    existing_models = set(context.instance.get_dynamic_partitions(model_partitions.name))
    for name in changed:
        path = next(p for p in list_analyses(project.analyses_path) if p.stem == name)
        try:
            config = load_analysis(path)
        except ConfigError as err:
            context.log.error(f"skipping analysis {path}: {err}")
            continue
        if name not in existing_analyses:
            analyses_to_add.append(name)
        models_to_add.update(m for m in config.model_names if m not in existing_models)
        requests.append(dg.RunRequest(run_key=f"{name}@{found[name]}", partition_key=name))
    partition_requests = []
    if analyses_to_add:
        partition_requests.append(analysis_partitions.build_add_request(analyses_to_add))
    if models_to_add:
        partition_requests.append(model_partitions.build_add_request(sorted(models_to_add)))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests,
        cursor=json.dumps(found),
        skip_reason=None if requests else f"no new or changed analyses in {project.analyses_path}",
    )


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


automation_sensor = dg.AutomationConditionSensorDefinition(
    "keep_analyses_fresh",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Declarative automation: refreshes data, features, fits and reports when upstream changes.",
)
