"""`make demo`: materialize the whole asset graph headless into the local Dagster instance.

    python -m hibayes_assets.demo [--force-refit]

It fills HIBAYES_LOG_DIR and HIBAYES_ANALYSES_DIR from `examples/` when they are empty, registers
the partitions the sensors would register, ingests new, changed or deleted logs (and records the
ingests a killed run left unrecorded), and then runs, in process, every run the planner finds due
(the rule the daemon's `refresh_results` sensor follows), recording them in DAGSTER_HOME so `make
ui` shows them and has nothing left to do. A second run does only what
changed. With the daemon already running on the instance it waits for the daemon instead of
doing the work twice. Exits non-zero when any run failed (a held-back report included) or no
sample could be ingested from a folder of logs; with `--strict`, also when a check failed.
"""

import argparse
import json
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hibayes.model.platform import configure_host_devices

configure_host_devices()

import dagster as dg  # noqa: E402

from hibayes.load.inspect_reader import scan_log_dir, scan_logs  # noqa: E402
from hibayes.load.manifest import forgotten_logs, read_manifest  # noqa: E402
from hibayes.settings import Settings, load_settings  # noqa: E402
from hibayes import artifacts  # noqa: E402
from hibayes_assets.checks import blocking_checkers, check_name  # noqa: E402
from hibayes_assets.history import latest_metadata  # noqa: E402
from hibayes_assets.partitions import log_partitions, range_tags  # noqa: E402
from hibayes_assets.planner import IN_PROGRESS, INGEST_ASSETS, RESULT_ASSETS, plan, read_analyses  # noqa: E402
from hibayes_assets.resources import WAREHOUSE_POOL, build_resources  # noqa: E402
from hibayes_assets.schedules import FORCE, refit_ranges  # noqa: E402
from hibayes_assets.sensors import (  # noqa: E402
    apply_partition_changes,
    ingest_requests,
    partition_changes,
    skipped_files_note,
)
from hibayes_assets.slots import free_dead_runs, pools_note, process_tags, reporting_waits, size_pools  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Dagster's per-event DEBUG lines would bury the demo's own progress lines.
IRT_PLOTS = ["anchor_points", "performance_estimates", "irt_validation", "routing_report"]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
EXAMPLES = PROJECT_ROOT / "examples"


def prepare(settings: Settings) -> None:
    """The instance folder with the project's dagster.yaml, and example inputs in empty folders."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    instance_yaml = settings.dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", instance_yaml)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    if isinstance(settings.log_dir, Path):  # a bucket is the user's: nothing is written there
        _fill_if_empty(settings.log_dir, EXAMPLES / "logs", "*.eval")
    _fill_if_empty(settings.analyses_dir, EXAMPLES / "analyses", "*.yaml")
    if settings.prices_path and not settings.prices_path.exists():
        shutil.copy(EXAMPLES / "prices.yaml", settings.prices_path)
        print(f"  no price table at {settings.prices_path}: copied the example one (mock models only)")
    if settings.irt_config and not settings.irt_config.exists():
        shutil.copy(EXAMPLES / "irt.yaml", settings.irt_config)
        print(f"  no IRT settings at {settings.irt_config}: copied the example ones (new_models names a mock model)")


def _fill_if_empty(target: Path, source: Path, pattern: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if any(target.iterdir()):
        return
    copied = [shutil.copy(path, target / path.name) for path in sorted(source.glob(pattern))]
    print(f"  {target} was empty: copied {len(copied)} example files from {source}")


@dataclass
class DemoSummary:
    runs: list[tuple[str, bool, float]] = field(default_factory=list)  # (stage, succeeded, seconds)
    failures: list[str] = field(default_factory=list)


def run_demo(
    settings: Settings, instance: dg.DagsterInstance, resources: dict[str, Any], force_refit: bool = False
) -> DemoSummary:
    """The ingest, then every run the planner finds due, in process, until nothing is: the same
    runs, tags and partitions the daemon's sensors would make, so `make ui` afterwards starts quiet."""
    project = resources["project"]
    summary = DemoSummary()
    execute = partial(execute_in_process, instance, resources, summary)

    written = size_pools(instance, project.fit_workers, WAREHOUSE_POOL)
    if written:
        print(f"  {pools_note(written, project.fit_workers)}")
    freed = free_dead_runs(instance)
    if freed:
        print(f"  freed the pool slots of {len(freed)} run(s) that could not free them: " + "; ".join(freed))
    ingest_log_folder(settings, instance, execute)

    print(f"[2/3] analyses in {settings.analyses_dir}: one partition each")
    partition_requests, problems = partition_changes(instance, settings.analyses_dir)
    apply_partition_changes(instance, partition_requests)
    summary.failures += [f"analysis file not used: {problem}" for problem in problems]
    for problem in problems:
        print(f"      not used: {problem}")

    print("[3/3] everything the new data and settings make due (HAL, IRT, analysis data, fits, reports)")
    if force_refit:
        for start, end in refit_ranges(instance, settings.analyses_dir):
            tags = {} if start == end else range_tags(start, end)
            execute("analysis", f"fits and reports [{start} .. {end}] (forced)", RESULT_ASSETS, start if start == end else None, tags, FORCE)
    executed = 0
    while runs := plan(instance, project):
        for run in runs:
            execute(run.stage, run.describe(), run.assets, run.partition_key, run.tags)
            executed += 1
    if not executed:
        print("      nothing to do: every result is up to date with its inputs")
    return summary


def execute_in_process(
    instance: dg.DagsterInstance, resources: dict[str, Any], summary: DemoSummary, stage: str, label: str,
    assets: tuple[str, ...], partition_key: str | None, tags: dict[str, str], run_config: dict | None = None,
) -> None:
    """One run, in this process, recorded in the instance and in `summary`."""
    from hibayes_assets.definitions import defs

    print(f"  {label} ...", flush=True)
    started = time.perf_counter()
    with reporting_waits(instance, say=lambda line: print(f"      {line}", flush=True)), _one_planned_event_per_asset(stage == "ingest"):
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks], selection=list(assets), partition_key=partition_key, instance=instance,
            resources=resources, raise_on_error=False, tags={"hibayes/trigger": "make demo", **process_tags(), **tags},
            run_config={**QUIET, **(run_config or {})},
        )
    seconds = time.perf_counter() - started
    summary.runs.append((stage, result.success, seconds))
    problems = failure_messages(result)
    summary.failures += [f"{label} (run {result.run_id[:8]}): {message}" for message in problems]
    print(f"      {'done' if result.success else 'FAILED'} in {seconds:.1f}s" + "".join(f"\n      {m}" for m in problems))


@contextmanager
def _one_planned_event_per_asset(wanted: bool) -> Iterator[None]:
    """Dagster records a run's planned materializations one event per partition and asset (a
    SQLite write each): 30,000 events before a first ingest of 10,000 logs starts. This setting makes
    it one event per asset; its cost, that partitions of a run that fails are not marked failed, is
    small for the ingest, whose step fails only as a whole (each log's problems are its check's)."""
    name = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
    before = os.environ.get(name)
    if wanted:
        os.environ[name] = "true"
    try:
        yield
    finally:
        if wanted and before is None:
            del os.environ[name]
        elif wanted:
            os.environ[name] = before


def ingest_log_folder(settings: Settings, instance: dg.DagsterInstance, execute: Callable[..., None]) -> None:
    """The new_inspect_logs sensor's work, done at once: ingest new, changed and deleted files and
    record the ingests Dagster lost, then delete the partitions of deleted files (after the runs
    that removed their rows, so no partition goes while a run for it exists). `execute` runs one
    run, as `execute_in_process` does."""
    print(f"[1/3] ingest: logs in {settings.log_dir}")
    scan = scan_log_dir(settings.log_dir)
    found = scan.found
    order = list(instance.get_dynamic_partitions(log_partitions.name))
    to_add, requests = ingest_requests(instance, found, read_manifest(settings.home), order)
    instance.add_dynamic_partitions(log_partitions.name, to_add)
    for request in requests:
        where = request.partition_key or "{} .. {}".format(*(request.tags[f"dagster/asset_partition_range_{e}"] for e in ("start", "end")))
        execute("ingest", f"ingest [{where}]", INGEST_ASSETS, request.partition_key, dict(request.tags))
    if not requests:
        print("      every log is already in the warehouse")
    # After the runs, which removed the gone files' rows and manifest entries.
    gone = forgotten_logs(found, read_manifest(settings.home), instance.get_dynamic_partitions(log_partitions.name))
    for key in gone:
        instance.delete_dynamic_partition(log_partitions.name, key)
    if gone:
        print(f"      {len(gone)} deleted logs left the warehouse and their partitions: {', '.join(gone[:5])}{' ...' if len(gone) > 5 else ''}")
    if scan.skipped:
        print(f"      {skipped_files_note(settings.log_dir, scan.skipped)}")


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """Each failed step's own message (a dg.Failure's description, else the error's, under Dagster's
    "Error occurred while executing op" wrapper); a run that failed with no failed step is named
    with the run's own failure message."""
    messages = []
    for event in result.get_step_failure_events():
        failure = event.step_failure_data.user_failure_data
        error = event.step_failure_data.error
        while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
            error = error.cause
        text = failure.description if failure and failure.description else error.message.strip()
        messages.append(f"{event.step_key}: {text}")
    if not result.success and not messages:
        messages.append(f"run {result.run_id[:8]} failed: {result.get_run_failure_event().message or 'no reason recorded'}")
    return messages


def daemon_running(instance: dg.DagsterInstance, within_seconds: float = 60.0) -> bool:
    """Whether a Dagster daemon (`make ui`) is heartbeating on this instance."""
    heartbeats = instance.get_daemon_heartbeats()
    return any(time.time() - beat.timestamp < within_seconds for beat in heartbeats.values())


def wait_for_daemon(settings: Settings, started_at: float) -> DemoSummary:
    """With the daemon running, the demo does not do the work a second time: it waits until the
    daemon's sensors have nothing left to launch and no run is in progress, then reports."""
    instance = dg.DagsterInstance.get()
    project = build_resources(settings)["project"]
    print("A Dagster daemon is running on this instance (make ui): it ingests and refreshes on its own.")
    print("Waiting for it to settle (Ctrl-C stops waiting; the daemon goes on) ...", flush=True)
    quiet_ticks = 0
    while quiet_ticks < 3:
        time.sleep(5)
        busy = instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS), limit=1)
        quiet_ticks = 0 if busy or plan(instance, project) else quiet_ticks + 1
    summary = DemoSummary()
    failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]), limit=100)
    for run in failed:
        if run.start_time and run.start_time >= started_at:
            summary.failures.append(f"run {run.run_id[:8]} ({run.tags.get('hibayes/stage', run.job_name)}) failed: see it in the UI")
    return summary


def comparison_lines(instance: dg.DagsterInstance) -> list[str]:
    """The headline pair of each analysis whose latest `comparisons` compared at least one pair."""
    lines = []
    for analysis in instance.get_dynamic_partitions("analyses"):
        compared = latest_metadata(instance, "comparisons", analysis)
        if compared.get("dagster/row_count"):
            lines.append(f"{analysis}: {compared['headline']}")
    return lines


def print_summary(settings: Settings, summary: DemoSummary, seconds: float) -> list[str]:
    """One screen: logs, samples, each fit's checks, each analysis's headline comparison, IRT
    headline numbers, where the reports are, and every failed check and failed run. No sample from
    a folder that has logs is a failure (it goes into `summary.failures`). Returns the failed
    checks."""
    from hibayes.warehouse import WarehouseLockedError, open_warehouse

    instance = dg.DagsterInstance.get()
    project = build_resources(settings)["project"]
    entries = read_manifest(settings.home)
    print("\n== HiBayES demo summary ==")
    statuses = Counter(entry.status for entry in entries.values())
    print(f"logs:     {len(entries)} in {settings.log_dir} (" + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) + ")")
    failed_checks = []
    samples: int | None = 0  # None: the warehouse could not be read
    warehouse = open_warehouse(settings.warehouse)
    if warehouse.exists():
        unusable = [key for key, entry in entries.items() if entry.status != "success"]
        try:
            reasons = warehouse.query(
                "SELECT log_key, min(message) AS message FROM ingest_errors WHERE sample_id IS NULL AND log_key = ANY(?) GROUP BY log_key",
                [unusable or [""]],
            )
            counts = warehouse.count_rows()
            errors = describe_ingest_errors(warehouse.query("SELECT field FROM ingest_errors")["field"].tolist())
        except WarehouseLockedError as err:
            summary.failures.append(f"the summary could not read the warehouse: {err}")
            samples = None
        else:
            failed_checks += [f"{key}: check_log_readable: {message}" for key, message in zip(reasons["log_key"], reasons["message"])]
            samples = counts["samples"]
            print(f"samples:  {counts['samples']} rows, {counts['scores']} scores, {errors}  ({warehouse.display_location})")
    configs, _ = read_analyses(settings.analyses_dir)
    fits = [(name, model) for name in instance.get_dynamic_partitions("analyses") if name in configs for model in configs[name].model_names]
    for analysis, model in fits:
        key = f"{analysis}/{model}"
        path = artifacts.fit_checks(project.store.fit(analysis, model))
        outcomes = json.loads(artifacts.read_text(path)) if artifacts.exists(path) else []
        print(f"fit:      {key}: " + (", ".join(f"{o['name']} {o['status']}" for o in outcomes) or "no fit"))
        failed_checks += [
            f"{key}: {check_name(o['name'])} {o['status']}{' (blocks the report)' if o['name'] in blocking_checkers() else ''}: {o['message']}"
            for o in outcomes if o["status"] in ("fail", "error")
        ]
    for line in comparison_lines(instance):
        print(f"compare:  {line}")
    for line in _irt_lines(instance):
        print(f"irt:      {line}")
    for asset, partition in [("hal_report", None), *(("analysis_report", name) for name in instance.get_dynamic_partitions("analyses"))]:
        files = latest_metadata(instance, asset, partition).get("files") or []
        if files:
            print(f"report:   {partition or 'hal'}: {len(files)} files in {artifacts.parent(artifacts.as_location(files[0]))}")
    irt_files = [f for asset in IRT_PLOTS for f in latest_metadata(instance, asset).get("files") or []]
    if irt_files:
        print(f"report:   irt: {len(irt_files)} files in {artifacts.parent(artifacts.as_location(irt_files[0]))}")
    log_files = len(scan_logs(settings.log_dir))
    if log_files and samples == 0:
        summary.failures.append(f"no samples ingested from the {log_files} log file{'s' if log_files > 1 else ''} in {settings.log_dir}")
    for check in failed_checks:
        print(f"CHECK:    {check}")
    for failure in summary.failures:
        print(f"FAILED:   {failure}")
    failed_runs = sum(not ok for _, ok, _ in summary.runs)
    print(
        f"took {seconds:.1f}s, {len(summary.runs)} runs ({failed_runs} failed), {len(failed_checks)} failed checks; "
        f"Dagster instance in {settings.dagster_home}; `make ui` to browse it"
    )
    return failed_checks


# What an `ingest_errors` row means to a reader, by its `field` (singular, plural). Each row is one
# log, one sample or one score, so counting rows counts those: an errored sample in a readable
# log is not a log that could not be read.
INGEST_ERROR_KINDS = {
    "file": ("log could not be read", "logs could not be read"),
    "header": ("log could not be read", "logs could not be read"),
    "samples": ("log's samples could not be read", "logs' samples could not be read"),
    "status": ("log is incomplete (status not 'success')", "logs are incomplete (status not 'success')"),
    "duplicate": ("log is a copy of another", "logs are copies of others"),
    "sample.error": ("sample errored (in a readable log)", "samples errored (in readable logs)"),
}
NON_NUMERIC_SCORE = ("score is not numeric", "scores are not numeric")


def describe_ingest_errors(fields: list[str]) -> str:
    """The `ingest_errors` rows, given by their `field`, in words by kind, most frequent first:
    "3 samples errored (in readable logs), 1 log could not be read"."""
    kinds = Counter(
        NON_NUMERIC_SCORE if field.startswith("score.")
        else INGEST_ERROR_KINDS.get(field, (f"other ingest error ({field})", f"other ingest errors ({field})"))
        for field in fields
    )
    if not kinds:
        return "no ingest errors"
    return ", ".join(f"{n} {singular if n == 1 else plural}" for (singular, plural), n in kinds.most_common())


def _irt_lines(instance: dg.DagsterInstance) -> list[str]:
    """The IRT group's headline numbers, from its latest metadata."""
    matrix, validation, routing = (latest_metadata(instance, asset) for asset in ("response_matrix", "irt_validation", "routing_report"))
    lines = []
    if matrix:
        lines.append(f"{matrix['respondents']} respondents x {matrix['items']} items from {matrix['source']} ({matrix['config_source']})")
    if validation:
        lines.append("leave-one-model-out MAE: " + ", ".join(
            f"{name} {validation[f'mae/{key}']:.3f}" for key, name in (
                ("anchor", "anchor"), ("pirt", "p-IRT"), ("gpirt", "gp-IRT"), ("random", "random"), ("train_mean", "no-data baseline"))
            if f"mae/{key}" in validation))
    if routing:
        lines.append(
            f"routing, {routing['test_items']} test items: routed {routing['routed_accuracy']:.3f}, best single model "
            f"{routing['best_single_accuracy']:.3f} ({routing['best_single_model']}), oracle {routing['oracle_accuracy']:.3f}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hibayes_assets.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--force-refit", action="store_true", help="resample every fit even when nothing changed")
    parser.add_argument("--prepare-only", action="store_true", help="only set up the instance folder and example inputs")
    parser.add_argument("--strict", action="store_true", help="exit non-zero on a failed check too, not only on a failed run")
    args = parser.parse_args(argv)
    started, started_at = time.perf_counter(), time.time()
    settings = load_settings()
    prepare(settings)
    if args.prepare_only:
        return 0
    if daemon_running(dg.DagsterInstance.get()):
        summary = wait_for_daemon(settings, started_at)
    else:
        summary = run_demo(settings, dg.DagsterInstance.get(), build_resources(settings), force_refit=args.force_refit)
    failed_checks = print_summary(settings, summary, time.perf_counter() - started)
    return 1 if summary.failures or (args.strict and failed_checks) else 0


if __name__ == "__main__":
    sys.exit(main())
