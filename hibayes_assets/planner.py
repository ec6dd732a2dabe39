"""What is due after a change: the one rule used by the `refresh_results` sensor and `make demo` alike.

Every result is a target with a signature, a hash of exactly the inputs it depends on:

| target          | signature                                                     | run (assets)                               |
|-----------------|---------------------------------------------------------------|--------------------------------------------|
| `hal`, `irt`    | warehouse version + the group's settings files                | one run for both groups                    |
| `analysis:<A>`  | warehouse version + the analysis YAML and its custom files    | one range run for every analysis (*): data, features, fits, checks, comparisons, report |
| `report:<A>`    | A's latest `model_fit`, when the run that made it had no report | one run per analysis (a fit made by hand) |

(*) or HIBAYES_FIT_WORKERS runs, each a share of the analyses, that go side by side.

The warehouse version hashes the usable logs' contents (the ingest manifest), so a corrupt or
re-saved file changes nothing, and a deleted one (its rows and entry removed) changes it. In the
analysis run, an analysis whose rows and settings did not change records nothing after its data
query, and its fits and report are not touched; one whose features or settings changed goes on
to its fits (a model whose inputs are unchanged keeps its fit) and its report, in the same process.

A target is due when its newest planned run was made for another signature than its current one
(or none was): a signature seen long ago counts as new again, so a log added and then deleted
brings every result back to the data without it. Runs carry their
targets and signatures as tags, so whichever process made a run (the daemon or the demo), the other
sees it; a run that failed is not retried until an input changes (materialize it by hand to retry),
but one whose process was killed (`slots.free_dead_runs`) is planned again.
Nothing is planned while logs wait to be ingested or an ingest runs. The analysis runs are queued
ahead of HAL and IRT, which nothing else waits for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from hibayes.config import AnalysisConfig, ConfigError, list_analyses, load_analysis, stable_hash
from hibayes.load.inspect_reader import scan_logs
from hibayes.load.log_locations import LogDir
from hibayes.load.manifest import LogEntry, changed_logs, read_manifest, warehouse_version
from hibayes_assets.history import latest_materialization, latest_storage_ids
from hibayes_assets.partitions import analysis_partitions, contiguous_ranges, name_problem, range_tags
from hibayes_assets.resources import BACKGROUND_TAG, ProjectPaths
from hibayes_assets.slots import IN_PROGRESS, KILLED_TAG

PLANNED_TAG = "hibayes/planned"
PLAN_TAG = "hibayes/plan"
STAGE_TAG = "hibayes/stage"
INGEST_STAGE = "ingest"
LEDGER_RUNS = 2000  # planned runs read per evaluation, newest first

INGEST_ASSETS = ("inspect_log", "eval_samples", "ingest_errors")
HAL_ASSETS = ("run_metrics", "cost_frontier", "win_rates", "hal_report")
IRT_ASSETS = ("response_matrix", "irt_fit", "anchor_points", "performance_estimates", "irt_validation", "routing_report")
INPUT_ASSETS = ("analysis_data", "analysis_features")
REPORT_ASSETS = ("check_results", "model_comparison", "comparisons", "analysis_report")
RESULT_ASSETS = ("model_fit", *REPORT_ASSETS)
ANALYSIS_ASSETS = (*INPUT_ASSETS, *RESULT_ASSETS)


# Run queue priority (`dagster/priority`): the chain to the analysis reports first.
PRIORITY = {"analysis": 2, "report": 1, "results": 0}


@dataclass(frozen=True)
class PlannedRun:
    """One run to launch: its assets, its partition (or range) and the targets it brings up to date."""

    stage: str
    assets: tuple[str, ...]
    targets: dict[str, str] = field(hash=False)
    partition_key: str | None = None
    partition_range: tuple[str, str] | None = None

    @property
    def tags(self) -> dict[str, str]:
        tags = {
            PLANNED_TAG: "true", STAGE_TAG: self.stage, PLAN_TAG: json.dumps(self.targets, sort_keys=True),
            "dagster/priority": str(PRIORITY.get(self.stage, 0)),
        }
        if self.partition_range:
            tags.update(range_tags(*self.partition_range))
        return tags

    @property
    def run_key(self) -> str:
        return f"{self.stage}@" + hashlib.sha256(self.tags[PLAN_TAG].encode()).hexdigest()[:16]

    def describe(self) -> str:
        where = self.partition_key or (" .. ".join(self.partition_range) if self.partition_range else "")
        return f"{self.stage}{f' [{where}]' if where else ''}: {', '.join(self.assets)}"

    def run_request(self) -> dg.RunRequest:
        """The daemon's run: HAL and IRT, which nothing waits for, in a background process."""
        background = {BACKGROUND_TAG: "true"} if self.stage == "results" else {}
        return dg.RunRequest(
            run_key=self.run_key, partition_key=self.partition_key, tags={**self.tags, **background},
            asset_selection=[dg.AssetKey(asset) for asset in self.assets],
        )


@dataclass
class Ledger:
    """For each target, the signature its newest planned run was made for, and which are still going."""

    latest: dict[str, str]  # target -> the signature of its newest planned run
    in_flight: dict[str, str]  # target -> the id of the run in progress for it
    ingest_in_flight: bool

    def due(self, target: str, signature: str) -> bool:
        return self.latest.get(target) != signature and target not in self.in_flight


def read_ledger(instance: dg.DagsterInstance) -> Ledger:
    latest, in_flight = {}, {}
    # Newest first: a target's first appearance is its newest run.
    for run in instance.get_runs(filters=dg.RunsFilter(tags={PLANNED_TAG: "true"}), limit=LEDGER_RUNS):
        if KILLED_TAG in run.tags:
            continue
        targets = json.loads(run.tags.get(PLAN_TAG, "{}"))
        for target, signature in targets.items():
            latest.setdefault(target, signature)
        if run.status in IN_PROGRESS:
            in_flight.update(dict.fromkeys(targets, run.run_id))
    return Ledger(latest, in_flight, ingest_in_flight(instance))


def ingest_in_flight(instance: dg.DagsterInstance) -> bool:
    """Whether a run that writes log partitions is queued or going: one the sensor or the demo made
    (tagged), or one launched by hand in the UI. While one is, the warehouse is moving, and no log
    partition may be deleted (a run whose partition was deleted fails)."""
    ingest_keys = {dg.AssetKey(asset) for asset in INGEST_ASSETS}
    return any(
        run.tags.get(STAGE_TAG) == INGEST_STAGE or ingest_keys & set(run.asset_selection or ())
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS))
    )


def file_digest(path: Path | None) -> str:
    if path is None or not path.is_file():
        return "none"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def read_analyses(analyses_dir: Path) -> tuple[dict[str, AnalysisConfig], dict[str, str]]:
    """The valid analyses by name, and the problems of the files that are not. A file whose name, or
    a model name (with its tag), cannot be a partition key and a folder name (`name_problem`) is one
    of those: reported, never registered, and the other files are used as usual."""
    configs, problems = {}, {}
    for path in list_analyses(analyses_dir):
        bad_name = name_problem(path.stem, "analysis name")
        if bad_name:
            problems[path.stem] = f"{path}: {bad_name}; rename the file"
            continue
        try:
            config = load_analysis(path)
        except ConfigError as err:
            problems[path.stem] = str(err)
            continue
        bad_models = [problem for model in config.model_names if (problem := name_problem(model, "model name"))]
        if bad_models:
            problems[path.stem] = f"{path}: " + "; ".join(bad_models) + " (a model's name is its 'name' followed by its 'tag')"
            continue
        configs[config.name] = config
    return configs, problems


def config_digest(config: AnalysisConfig) -> str:
    """The analysis YAML and the custom code files it names (tried against its folder, then the
    working directory, as HiBayES does)."""
    custom = []
    for paths in config.custom_paths.values():
        for entry in paths:
            candidates = [config.folder / entry] if config.folder else []
            found = next((p for p in [*candidates, Path(entry)] if p.is_file()), None)
            custom.append((entry, file_digest(found)))
    return stable_hash({"yaml": file_digest(config.source), "custom": custom})


def logs_waiting(log_dir: LogDir, entries: dict[str, LogEntry]) -> bool:
    """Whether the log folder holds files whose ingest is not done. A remote log dir is not listed
    here: that would be a full listing of the bucket every tick, which the log sensor takes pains to
    avoid. There a refresh may start before the sensor has requested the ingest of a log that just
    landed; the ingest then makes it due again (redone work, never a stale result)."""
    return isinstance(log_dir, Path) and bool(changed_logs(scan_logs(log_dir), entries))


def plan(instance: dg.DagsterInstance, project: ProjectPaths) -> list[PlannedRun]:
    """The runs due now, given what the logs, settings and instance hold."""
    ledger = read_ledger(instance)
    entries = read_manifest(Path(project.home))
    if ledger.ingest_in_flight or logs_waiting(project.log_path, entries):
        return []  # downstream of a moving warehouse would only be redone
    if not any(entry.usable for entry in entries.values()) and not project.hal_csv and not project.irt_routerdc:
        return []
    version = warehouse_version(entries)
    configs, _ = read_analyses(project.analyses_path)
    order = list(instance.get_dynamic_partitions(analysis_partitions.name))
    registered = [name for name in order if name in configs]  # a file that does not validate is left out
    signatures = {name: stable_hash([version, config_digest(configs[name])]) for name in registered}
    due = [name for name in registered if ledger.due(f"analysis:{name}", signatures[name])]
    runs: list[PlannedRun] = []
    # Usually one run for every analysis (an unchanged one between two due ones costs a query). With
    # HIBAYES_FIT_WORKERS=N the due analyses are first cut into N shares, each its own run(s), which
    # the `mcmc` pool's N slots (slots.size_pools) let fit side by side.
    for share in shares(due, project.fit_workers):
        for start, end in contiguous_ranges(order, set(registered)):
            stretch = order[order.index(start) : order.index(end) + 1]
            span = [name for name in stretch if name in share]
            if span:
                targets = {f"analysis:{name}": signatures[name] for name in span}
                runs.append(_range_run("analysis", ANALYSIS_ASSETS, targets, span[0], span[-1]))
    idle = [name for name in registered if name not in due and f"analysis:{name}" not in ledger.in_flight]
    runs += _reports_after_fits(instance, ledger, idle)
    # Last, so that its run is queued after the analysis runs it would otherwise delay: the queue
    # launches runs made in one tick in the order they came, and HAL/IRT compete for the same cores.
    return [*runs, *_results_run(ledger, project, version)]


def shares(keys: list[str], parts: int) -> list[list[str]]:
    """`keys` cut into at most `parts` shares of consecutive keys, their sizes differing by at most one."""
    size, extra = divmod(len(keys), parts)
    cut, start = [], 0
    for index in range(min(parts, len(keys))):
        end = start + size + (index < extra)
        cut.append(keys[start:end])
        start = end
    return cut


def _results_run(ledger: Ledger, project: ProjectPaths, version: str) -> Iterable[PlannedRun]:
    """HAL and IRT, each refreshed when the warehouse or its settings change; one run for both."""
    signatures = {
        "hal": stable_hash([version, file_digest(Path(project.prices)), file_digest(Path(project.hal_csv) if project.hal_csv else None)]),
        "irt": stable_hash([version, file_digest(Path(project.irt_config)), [file_digest(p) for p in project.irt_routerdc_paths]]),
    }
    due = {target: signature for target, signature in signatures.items() if ledger.due(target, signature)}
    if due:
        assets = (*(HAL_ASSETS if "hal" in due else ()), *(IRT_ASSETS if "irt" in due else ()))
        yield PlannedRun("results", assets, due)


def _range_run(stage: str, assets: tuple[str, ...], targets: dict[str, str], start: str, end: str) -> PlannedRun:
    if start == end:
        return PlannedRun(stage, assets, targets, partition_key=start)
    return PlannedRun(stage, assets, targets, partition_range=(start, end))


def _reports_after_fits(instance: dg.DagsterInstance, ledger: Ledger, analyses: list[str]) -> list[PlannedRun]:
    """The report of each analysis whose latest fits are newer than its report and came from a run
    that had no report to render (fits materialized by hand): a planned, nightly or demo run renders
    the report itself, or holds it back saying why."""
    fits, reports = latest_storage_ids(instance, "model_fit"), latest_storage_ids(instance, "analysis_report")
    runs = []
    for name in analyses:
        fit = fits.get(name)
        if fit is None or fit < reports.get(name, -1):
            continue
        target, signature = f"report:{name}", str(fit)
        if ledger.due(target, signature) and not _report_in_fit_run(instance, name):
            runs.append(PlannedRun("report", REPORT_ASSETS, {target: signature}, partition_key=name))
    return runs


def _report_in_fit_run(instance: dg.DagsterInstance, analysis: str) -> bool:
    """Whether the run that made the analysis's latest fits also had its report to render."""
    record = latest_materialization(instance, "model_fit", analysis)
    planned = instance.get_records_for_run(record.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
    return any(r.event_log_entry.dagster_event.asset_key == dg.AssetKey("analysis_report") for r in planned)
