"""`make demo`: materialize the whole asset graph headless into the local Dagster instance.

    python -m hibayes_assets.demo [--force-refit]

It fills HIBAYES_LOG_DIR and HIBAYES_ANALYSES_DIR from `examples/` when they are empty, registers
the partitions the sensors would register, and materializes every asset in process, recording the
runs in DAGSTER_HOME so `make ui` shows them. A second run reuses what is unchanged: logs whose
content did not change are not re-ingested, and fits whose data, config and library versions did
not change are loaded, not resampled.
"""

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hibayes.model.platform import configure_host_devices

configure_host_devices()

import dagster as dg  # noqa: E402

from hibayes.config import ConfigError, list_analyses, load_analysis  # noqa: E402
from hibayes.load.inspect_reader import file_sha256, list_log_files, log_key_for  # noqa: E402
from hibayes.settings import Settings, load_settings  # noqa: E402
from hibayes_assets.checks import BLOCKING, check_name  # noqa: E402
from hibayes_assets.partitions import (  # noqa: E402
    analysis_partitions,
    contiguous_ranges,
    fit_key,
    log_partitions,
    model_partitions,
    range_tags,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Dagster's per-event DEBUG lines would bury the demo's own progress lines.
INGEST_ASSETS = ["inspect_log", "eval_samples", "ingest_errors"]
HAL_ASSETS = ["run_metrics", "cost_frontier", "win_rates", "hal_report"]
IRT_ASSETS = ["response_matrix", "irt_fit", "anchor_points", "performance_estimates", "irt_validation", "routing_report"]
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
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    fits: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    reports: dict[str, list[str]] = field(default_factory=dict)
    irt: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    problem_logs: dict[str, str] = field(default_factory=dict)


def run_demo(settings: Settings, force_refit: bool = False) -> DemoSummary:
    from hibayes_assets.definitions import defs

    instance = dg.DagsterInstance.get()
    assets = list(defs.assets or [])
    checks = list(defs.asset_checks or [])
    resources = defs.resources
    summary = DemoSummary()

    def materialize(
        selection: list[str],
        partition_key: str | dg.MultiPartitionKey | None,
        run_config: dict | None = None,
        tags: dict[str, str] | None = None,
    ) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*assets, *checks], selection=selection, partition_key=partition_key, instance=instance,
            resources=resources, raise_on_error=False, tags={"hibayes/trigger": "make demo", **(tags or {})},
            run_config={**QUIET, **(run_config or {})},
        )

    logs = list_log_files(settings.log_dir)
    keys = [log_key_for(path, settings.log_dir) for path in logs]
    instance.add_dynamic_partitions(log_partitions.name, keys)
    print(f"[1/6] ingest: {len(keys)} log files in {settings.log_dir}")
    ingested = _ingested_shas(settings)
    changed = {key for path, key in zip(logs, keys) if ingested.get(key) != file_sha256(path)}
    summary.unchanged = [key for key in keys if key not in changed]
    order = list(instance.get_dynamic_partitions(log_partitions.name))
    for start, end in contiguous_ranges(order, changed):
        result = materialize(INGEST_ASSETS, None, tags=range_tags(start, end))
        span = order[order.index(start) : order.index(end) + 1]
        if not result.success:
            summary.failures.append(f"ingest of {start} .. {end} failed")
            continue
        summary.ingested += span
    for key, status in _log_statuses(settings, summary.ingested).items():
        if status != "success":
            print(f"      {status:<10} {key}")
            summary.problem_logs[key] = status
    print(f"      {len(summary.ingested)} ingested, {len(summary.unchanged)} unchanged")

    print("[2/6] HAL: run metrics, cost and latency frontiers, win rates, report")
    result = materialize(HAL_ASSETS, None)
    if result.success:
        summary.reports["hal"] = result.asset_materializations_for_node("hal_report")[0].metadata["files"].value
    else:
        summary.failures.append("HAL analysis failed (see the run in the UI)")

    print("[3/6] IRT: response matrix, fit, anchor points, estimates, validation, routing", flush=True)
    started = time.perf_counter()
    result = materialize(IRT_ASSETS, None)
    print(f"      {time.perf_counter() - started:.1f}s")
    _irt_summary(result, summary)

    configs = []
    for path in list_analyses(settings.analyses_dir):
        try:
            configs.append(load_analysis(path))
        except ConfigError as err:
            summary.failures.append(f"{path}: {err}")
            print(f"      skipping analysis: {err}")
    instance.add_dynamic_partitions(analysis_partitions.name, [c.name for c in configs])
    instance.add_dynamic_partitions(model_partitions.name, sorted({m for c in configs for m in c.model_names}))
    for config in configs:
        print(f"[4/6] analysis '{config.name}': data and features")
        result = materialize(["analysis_data", "analysis_features"], config.name)
        if not result.success:
            summary.failures.append(f"analysis '{config.name}': data/features failed")
            continue
        blocked = []
        for model_name in config.model_names:
            print(f"[5/6] fit {config.name} / {model_name} ...", flush=True)
            started = time.perf_counter()
            run_config = {"ops": {"model_fit": {"config": {"force": force_refit}}}}
            result = materialize(["model_fit"], fit_key(config.name, model_name), run_config=run_config)
            statuses = {
                ev.check_name: "pass" if ev.passed else ("FAIL" if ev.severity == dg.AssetCheckSeverity.ERROR else "warn")
                for ev in result.get_asset_check_evaluations()
            }
            summary.fits.append((config.name, model_name, statuses))
            print(f"      {time.perf_counter() - started:.1f}s  " + "  ".join(f"{k}={v}" for k, v in statuses.items()))
            if not result.success:
                summary.failures.append(f"fit {config.name}/{model_name} failed")
            blocking = {check_name(checker) for checker in BLOCKING}
            blocked += [f"{model_name}:{name}" for name, status in statuses.items() if status == "FAIL" and name in blocking]
        if blocked:
            summary.failures.append(f"report '{config.name}' blocked by failed checks: {', '.join(blocked)}")
            continue
        print(f"[6/6] comparison, check results and report '{config.name}'")
        result = materialize(["check_results", "model_comparison", "analysis_report"], config.name)
        if result.success:
            files = result.asset_materializations_for_node("analysis_report")[0].metadata["files"].value
            summary.reports[config.name] = files
        else:
            summary.failures.append(f"report '{config.name}' failed")
    return summary


def _irt_summary(result: dg.ExecuteInProcessResult, summary: DemoSummary) -> None:
    """The IRT group's plots and headline numbers, from its metadata; a failure's own message."""

    def metadata(node: str) -> dict:
        found = result.asset_materializations_for_node(node)  # empty when the step failed or was skipped
        return {k: v.value for k, v in found[0].metadata.items()} if found else {}

    matrix, validation, routing = metadata("response_matrix"), metadata("irt_validation"), metadata("routing_report")
    files = [path for node in IRT_PLOTS for path in metadata(node).get("files", [])]
    if files:
        summary.reports["irt"] = files
    if matrix:
        summary.irt.append(f"{matrix['respondents']} respondents x {matrix['items']} items from {matrix['source']} ({matrix['config_source']})")
    if validation:
        mae = ", ".join(f"{name} {validation[f'mae/{key}']:.3f}" for key, name in (
            ("anchor", "anchor"), ("pirt", "p-IRT"), ("gpirt", "gp-IRT"), ("random", "random"), ("train_mean", "no-data baseline")))
        summary.irt.append(f"leave-one-model-out MAE: {mae}")
    if routing:
        summary.irt.append(
            f"routing, {routing['test_items']} test items: routed {routing['routed_accuracy']:.3f}, best single model "
            f"{routing['best_single_accuracy']:.3f} ({routing['best_single_model']}), oracle {routing['oracle_accuracy']:.3f}"
        )
    for event in result.get_step_failure_events():
        failure = event.step_failure_data.user_failure_data
        message = failure.description if failure and failure.description else event.step_failure_data.error.message.strip()
        summary.failures.append(f"IRT: {message}")
        print(f"      {message}")


def _ingested_shas(settings: Settings) -> dict[str, str]:
    """The sha256 of every log as last ingested, from the warehouse's `evals` and `ingest_errors`."""
    from hibayes.warehouse import Warehouse

    if not settings.warehouse_path.exists():
        return {}
    found = Warehouse(settings.warehouse_path).query("SELECT log_key, sha256 FROM evals")
    return dict(zip(found["log_key"], found["sha256"]))


def _log_statuses(settings: Settings, keys: list[str]) -> dict[str, str]:
    from hibayes.warehouse import Warehouse

    if not keys:
        return {}
    found = Warehouse(settings.warehouse_path).query("SELECT log_key, status FROM evals WHERE log_key IN ?", [keys])
    statuses = dict(zip(found["log_key"], found["status"]))
    return {key: statuses.get(key, "unreadable") for key in keys}


def print_summary(settings: Settings, summary: DemoSummary, seconds: float) -> None:
    from hibayes.warehouse import Warehouse

    counts = Warehouse(settings.warehouse_path).count_rows()
    print("\n== HiBayES demo summary ==")
    n_logs = len(summary.ingested) + len(summary.unchanged)
    print(f"logs:     {n_logs} in {settings.log_dir} ({len(summary.ingested)} read this run, {len(summary.unchanged)} unchanged)")
    for key, status in summary.problem_logs.items():
        print(f"            {key}: {status} (reason in table ingest_errors)")
    print(f"samples:  {counts['samples']} rows, {counts['scores']} scores, {counts['ingest_errors']} ingest errors  ({settings.warehouse_path})")
    for analysis, model_name, statuses in summary.fits:
        print(f"fit:      {analysis}/{model_name}: " + ", ".join(f"{k.removeprefix('check_')} {v}" for k, v in statuses.items()))
    for line in summary.irt:
        print(f"irt:      {line}")
    for analysis, files in summary.reports.items():
        print(f"report:   {analysis}:")
        for path in files:
            print(f"            {path}")
    for failure in summary.failures:
        print(f"PROBLEM:  {failure}")
    print(f"took {seconds:.1f}s; Dagster instance in {settings.dagster_home}; `make ui` to browse it")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hibayes_assets.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--force-refit", action="store_true", help="resample every fit even when nothing changed")
    parser.add_argument("--prepare-only", action="store_true", help="only set up the instance folder and example inputs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = load_settings()
    prepare(settings)
    if args.prepare_only:
        return 0
    summary = run_demo(settings, force_refit=args.force_refit)
    print_summary(settings, summary, time.perf_counter() - started)
    return 1 if summary.failures and not summary.reports else 0


if __name__ == "__main__":
    sys.exit(main())
