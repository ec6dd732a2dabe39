"""An analysis over a million Bernoulli rows, end to end through the Dagster assets (issue 15):
`bench_scale.py --measures analysis`.

One analysis YAML (`ANALYSIS_YAML`: two binomial GLMs over the warehouse's samples, grouped to
(model, task) cells: model effects, and model + task effects; r_hat, ess_bulk, divergences, loo and waic; forest plot, summary table and
model comparison) is materialized as the planner's runs would: inputs (analysis_data,
analysis_features), fits (model_fit over the analysis's fit partitions, one range run), report
(check_results, model_comparison, comparisons, analysis_report). Each phase runs in its own child
process against one Dagster instance and HIBAYES_HOME kept in the measure's home folder:

- `cold`: a fresh instance, fits and JAX compilation cache: every run, compiling.
- `warm`: a new process (as the daemon's next run is), the persistent compilation cache warm and
  the features unchanged: the stored fits' NetCDF files removed (their warm-start states kept), so
  model_fit refits as after a data change, from the stored chains (a forced refit would start
  cold), then the report run.

Each run's wall seconds, its process's CPU seconds (user + system, all threads) and the peak RSS
reached during it (VmHWM reset before the run) are recorded, with Dagster's per-step seconds. After
each phase the per-observation pointwise export (`model_comparison_pointwise_per_observation.parquet`)
is checked: one row per scored sample, and per model the sum of its loo_i and waic_i equal to the
model's elpd_loo and elpd_waic within 1e-6.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

ANALYSIS = "bigfit"
ANALYSIS_YAML = """\
# Accuracy per model over a whole corpus: Bernoulli rows grouped to binomial (model, task) cells.
data_loader:
  extractors:
    enabled: [base_extractor]
data_process:
  processors:
    - groupby: {groupby_columns: [model, task]}
    - map_columns: {column_mapping: {model: group}}
    - extract_features: {categorical_features: [group, task], continuous_features: [n_total]}
    - extract_observed_feature: {feature_name: n_correct}
model:
  models:
    - name: linear_group_binomial
      config:
        tag: _model
        main_effects: [group]
        main_effect_params: [intercept, group_effects]
        fit: {samples: 1000, warmup: 500, chains: 4}
    - name: linear_group_binomial
      config:
        tag: _model_task
        main_effects: [group, task]
        main_effect_params: [intercept, group_effects, task_effects]
        fit: {samples: 1000, warmup: 500, chains: 4}
check:
  checkers:
    - r_hat: {threshold: 1.01}
    - ess_bulk: {threshold: 400}
    - divergences: {threshold: 0}
    - loo
    - waic
communicate:
  communicators:
    - forest_plot: {vertical_line: 0, best_model: false, combined: true}
    - summary_table: {best_model: false}
    - model_comparison_plot: {ic: loo}
"""
PHASES = ("cold", "warm")
FIT_SECONDS_GOAL = 60.0  # issue 15: fit + checks + report, warm


def replicate_warehouse(source: Path, target: Path, copies: int) -> dict:
    """A warehouse holding `copies` copies of `source`'s ingested rows, each with its log keys, eval
    ids and sample uuids suffixed `~r`: the row counts of a corpus `copies` times the size, for
    when that corpus cannot be generated and ingested in the time there is."""
    import duckdb

    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(target))
    try:
        conn.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        for table, suffixed in (("evals", ("log_key", "eval_id")), ("log_files", ("log_key", "eval_id")),
                                ("samples", ("log_key", "eval_id", "sample_uuid")),
                                ("scores", ("log_key", "eval_id", "sample_uuid"))):
            replaced = ", ".join(f"{column} || '~' || r AS {column}" for column in suffixed)
            conn.execute(f"CREATE TABLE {table} AS SELECT * REPLACE ({replaced}) FROM src.{table}, range({copies}) copies(r)")
        for table in ("ingest_errors",):
            conn.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table}")
        rows = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    finally:
        conn.close()
    return {"seconds": round(time.perf_counter() - started, 1), "samples": rows}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _vm_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024.0 for line in status if line.startswith(field + ":"))


def run_phase(phase: str, home: Path) -> dict:
    """One phase (`cold` or `warm`) of the measure, in this (child) process."""
    analyses = home / "analyses"
    analyses.mkdir(parents=True, exist_ok=True)
    (analyses / f"{ANALYSIS}.yaml").write_text(ANALYSIS_YAML)
    os.environ.update(HIBAYES_HOME=str(home), HIBAYES_ANALYSES_DIR=str(analyses), HIBAYES_LOG_DIR=str(home / "logs"))
    from hibayes.model.platform import configure_host_devices, pin_hash_seed_for_workers

    configure_host_devices()
    pin_hash_seed_for_workers()
    import dagster as dg

    from hibayes.config import load_analysis
    from hibayes.settings import load_settings
    from hibayes_assets.definitions import defs
    from hibayes_assets.partitions import analysis_partitions
    from hibayes_assets.planner import INPUT_ASSETS, RESULT_ASSETS
    from hibayes_assets.resources import build_resources

    settings = load_settings()
    resources = build_resources(settings)
    config = load_analysis(analyses / f"{ANALYSIS}.yaml")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    runs: list[dict] = []
    (home / "dagster").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
        instance.add_dynamic_partitions(analysis_partitions.name, [ANALYSIS])

        def execute(stage: str, assets: tuple[str, ...], partition_key: str | None, tags: dict, run_config: dict) -> None:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the peak below is this run's
            started, cpu_started = time.perf_counter(), _cpu_seconds()
            result = dg.materialize(
                [*defs.assets, *defs.asset_checks], selection=list(assets), partition_key=partition_key,
                instance=instance, resources=resources, raise_on_error=False, tags=tags, run_config={**quiet, **run_config},
            )
            steps = {s.step_key: round(s.end_time - s.start_time, 1) for s in instance.get_run_step_stats(result.run_id)}
            failures = [e.step_failure_data.error.message[:800] for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
            records = instance.all_logs(result.run_id)
            # When each asset of the run was recorded, in seconds from the run's first event.
            materialized_at = {
                r.dagster_event.asset_key.to_user_string(): round(r.timestamp - records[0].timestamp, 1)
                for r in records if r.is_dagster_event and r.dagster_event.event_type_value == "ASSET_MATERIALIZATION"
            }
            runs.append({"stage": stage, "success": result.success, "seconds": round(time.perf_counter() - started, 1),
                         "cpu_seconds": round(_cpu_seconds() - cpu_started, 1), "peak_rss_mb": round(_vm_mb("VmHWM")),
                         "steps": steps, "materialized_at": materialized_at, "failures": failures[:3]})
            print(f"[analysis {phase}] {runs[-1]}", flush=True, file=__import__("sys").stderr)

        if phase == "cold":
            execute("inputs", INPUT_ASSETS, ANALYSIS, {}, {})
        else:
            for fit in (home / "fits" / ANALYSIS).glob("*.nc"):
                fit.unlink()  # as after a data change: no stored fit of these inputs, its chains kept
        # The analysis run's second step: fits, checks, comparisons and report in one process.
        execute("results", RESULT_ASSETS, ANALYSIS, {}, {})
        from hibayes_assets.history import latest_metadata

        warm_started = latest_metadata(instance, "model_fit", ANALYSIS).get("warm_started")
    export = check_pointwise_export(home / "artifacts" / ANALYSIS, home / "warehouse.duckdb", config.model_names)
    return {"phase": phase, "runs": runs, "warm_started": warm_started, "export": export,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0),
            "load_average": os.getloadavg()[0]}


def check_pointwise_export(artifacts: Path, warehouse: Path, models: list[str]) -> dict:
    """The per-observation export against the samples it stands for and the models' elpd."""
    import duckdb
    import numpy as np

    from hibayes import idata as idata_api

    export = artifacts / "model_comparison_pointwise_per_observation.parquet"
    if not export.exists():
        return {"present": False}
    conn = duckdb.connect()
    per_model = {
        model: {"rows": rows, "loo_sum": loo, "waic_sum": waic}
        for model, rows, loo, waic in conn.execute(
            f"SELECT model, count(*), fsum(loo_i), fsum(waic_i) FROM read_parquet('{export}') GROUP BY model"
        ).fetchall()
    }
    conn.close()
    with duckdb.connect(str(warehouse), read_only=True) as store:
        scored = store.execute(f"SELECT count(score) FROM analysis_data_{ANALYSIS}").fetchone()[0]
    worst = 0.0
    for model in models:
        path = artifacts.parent.parent / "fits" / ANALYSIS / f"{model}.nc"
        if not path.exists() or model not in per_model:
            continue
        idata = idata_api.load(path)
        for kind in ("loo", "waic"):
            elpd = idata_api.information_criterion(idata, kind).elpd
            per_model[model][f"elpd_{kind}"] = elpd
            worst = max(worst, abs(per_model[model][f"{kind}_sum"] - elpd))
    return {"present": True, "scored_samples": scored, "per_model": per_model, "max_abs_sum_minus_elpd": worst,
            "one_row_per_sample": all(m["rows"] == scored for m in per_model.values()),
            "sums_equal_elpd": bool(worst < 1e-6) if np.isfinite(worst) else False}


def print_table(results: list[dict]) -> None:
    print()
    print("| phase | run | seconds | CPU s | peak RSS MB | steps (s) |")
    print("|---|---|---|---|---|---|")
    for result in results:
        for run in result["runs"]:
            steps = ", ".join(f"{k} {v}" for k, v in run["steps"].items())
            print(f"| {result['phase']} | {run['stage']}{'' if run['success'] else ' (FAILED)'} | {run['seconds']} | "
                  f"{run['cpu_seconds']} | {run['peak_rss_mb']} | {steps} |")
    for result in results:
        after_inputs = [run for run in result["runs"] if run["stage"] != "inputs"]
        seconds, cpu = sum(r["seconds"] for r in after_inputs), sum(r["cpu_seconds"] for r in after_inputs)
        goal = "met" if seconds < FIT_SECONDS_GOAL else "MISSED"
        print(f"goal ({result['phase']}): fit + checks + report {seconds:.1f} s wall ({cpu:.1f} s CPU, load "
              f"{result['load_average']:.1f}) < {FIT_SECONDS_GOAL:.0f} s: {goal}; warm started: {result['warm_started']}")
        print(f"export ({result['phase']}): {json.dumps(result['export'])}")
