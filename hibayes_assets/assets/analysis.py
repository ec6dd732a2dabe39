"""Analysis group: one partition per analysis YAML, and one step over a range of them, an analysis at a time:

analysis_data -> analysis_features -> model_fit (+ checks) -> check_results, model_comparison,
comparisons -> analysis_report

The statistics live in `hibayes`; these assets load configs, move files and describe results. What
runs when is decided by the planner (hibayes_assets.planner).
"""


import dataclasses
import hashlib
import json
import re
import shutil
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from hibayes import artifacts
from hibayes.artifacts import Location
from hibayes.config import AnalysisConfig, ConfigError, load_analysis
from hibayes.plugins import ComponentError
from hibayes.warehouse import Warehouse
from hibayes_assets.checks import (
    AFTER_FIT_CHECKERS,
    ALWAYS_RUN,
    FIT_CHECK_SPECS,
    blocking_checkers,
    check_name,
    fit_check_results,
)
from hibayes_assets.history import latest_materialization, latest_metadata
from hibayes_assets.metadata import markdown_table, save_figures, save_table
from hibayes_assets.partitions import analysis_partitions
from hibayes_assets.planner import PLANNED_TAG, config_digest
from hibayes_assets.resources import ProjectPaths, WarehouseResource
from hibayes_assets.slots import FIT_POOL

# A range run covers many analyses; each records its own materialization (and only when its output
# changed), so the step emits events itself instead of one output for the whole range.
ONE_RUN = dg.BackfillPolicy.single_run()
ALL = dg.AllPartitionMapping()


def analysis_config(project: ProjectPaths, analysis: str) -> AnalysisConfig:
    for suffix in (".yaml", ".yml"):
        path = project.analyses_path / f"{analysis}{suffix}"
        if path.exists():
            return load_analysis(path)
    raise dg.Failure(f"analysis '{analysis}': no {analysis}.yaml in {project.analyses_path}")


def analysis_table(analysis: str) -> str:
    return "analysis_data_" + re.sub(r"\W", "_", analysis)


INPUT_SPECS = [
    dg.AssetSpec(
        "analysis_data",
        deps=[dg.AssetDep("eval_samples", partition_mapping=ALL)],
        kinds={"duckdb"},
        description="The analysis dataframe (its extractors' columns), as DuckDB table `analysis_data_<analysis>`: "
        "computed from the warehouse for the built-in extractors, else read by HiBayES's loader (custom "
        "extractors, files_to_process, extracted_data). Errored samples and incomplete logs are left out by "
        "default. A new materialization means the rows changed.",
    ),
    dg.AssetSpec(
        "analysis_features",
        deps=["analysis_data"],
        kinds={"numpy"},
        description="Features, test features, coords and dims after the analysis's processors (files under "
        "features/<analysis> in the artifact store: HIBAYES_ARTIFACTS, else HIBAYES_HOME): what the fits see. A new "
        "materialization means the features or the analysis's settings (its YAML or custom files) changed, and "
        "only then do its fits, checks and report run.",
    ),
]


def _refresh_inputs(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource, config: AnalysisConfig
) -> list[dg.AssetMaterialization]:
    """The analysis's data and features, each recorded only when it changed."""
    from hibayes.analysis import process_data, save_features, validate

    analysis = config.name
    validate(config)
    frame, report = _analysis_frame(config, project, warehouse)
    if report.get("failures"):  # before anything is written: the last complete data stay
        raise dg.Failure(f"{config.where}: " + "; ".join(report["failures"]))
    if frame.empty:
        raise dg.Failure(f"no usable samples ({report})")
    events = []
    data_hash = frame_digest(frame)
    table = analysis_table(config.name)
    if latest_metadata(context.instance, "analysis_data", analysis).get("data_hash") != data_hash:
        rows = warehouse.get().replace_table(table, frame)
        for problem in report.get("problems", []):
            context.log.warning(f"{config.name}: {problem}")
        events.append(dg.AssetMaterialization(
            "analysis_data", partition=analysis,
            metadata={
                "dagster/row_count": rows,
                "table": table,
                "data_hash": data_hash,
                "config_hash": config.digest(),
                "load_report": dg.MetadataValue.json(report),
                "preview": dg.MetadataValue.md(markdown_table(frame, max_rows=10)),
            },
        ))
    try:
        state = process_data(config, frame)
    except (ValueError, KeyError, ComponentError) as err:
        raise dg.Failure(f"{config.where}: processing failed: {err}") from None
    features_dir = project.store.features(config.name)
    stored = save_features(state, features_dir)
    # The settings too: a changed model, checker or communicator is what the results step must redo.
    settings = config_digest(config)
    last = latest_metadata(context.instance, "analysis_features", analysis)
    if (last.get("data_hash"), last.get("settings_hash")) != (stored.digest, settings):
        events.append(dg.AssetMaterialization(
            "analysis_features", partition=analysis,
            metadata={
                "dagster/row_count": len(state.processed_data),
                "features": dg.MetadataValue.json({k: list(getattr(v, "shape", ())) for k, v in stored.features.items()}),
                "coords": dg.MetadataValue.json(stored.coords),
                "data_hash": stored.digest,
                "settings_hash": settings,
                "path": dg.MetadataValue.path(str(features_dir)),
                "processed_data": dg.MetadataValue.md(markdown_table(state.processed_data)),
            },
        ))
    return events


def frame_digest(frame: pd.DataFrame) -> str:
    """A hash of a dataframe's columns, dtypes and values (row order included)."""
    values = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    return hashlib.sha256(values.tobytes() + repr(list(zip(frame.columns, map(str, frame.dtypes)))).encode()).hexdigest()[:16]


def _analysis_frame(config: AnalysisConfig, project: ProjectPaths, warehouse: WarehouseResource) -> tuple[pd.DataFrame, dict]:
    """The analysis dataframe: from the warehouse when the built-in extractors can be computed
    there (no log is read again), else by HiBayES's loader over the config's files or the log dir."""
    from hibayes.analysis import extractor_failures
    from hibayes.load.loader import DataLoaderConfig, load_data_with_report
    from hibayes.load.warehouse_extract import WAREHOUSE_EXTRACTORS, extract_analysis_data

    loader = DataLoaderConfig.from_analysis(config)
    from_warehouse = (
        not loader.files_to_process
        and not loader.extracted_data
        and not loader.extractor_paths
        and all(name in WAREHOUSE_EXTRACTORS for name, _ in loader.extractors)
    )
    if from_warehouse:
        frame, extract_report = extract_analysis_data(warehouse.get(), config)
        return frame, {"source": "warehouse", **extract_report.as_metadata()}
    if not loader.files_to_process and not loader.extracted_data:
        loader = dataclasses.replace(loader, files_to_process=(str(project.log_path),))
    frame, load_report = load_data_with_report(loader)
    return frame, {
        **load_report.as_dict(),
        "inputs": len(load_report.inputs),
        "problems": load_report.problems(),
        "failures": extractor_failures(load_report),
    }


class RefitConfig(dg.Config):
    force: bool = False  # refit even when data, config and library versions are unchanged


HELD_BACK = "Held back, like the report, while a fit is missing, out of date or failed a blocking check."
RESULT_SPECS = [
    dg.AssetSpec(
        "model_fit",
        deps=["analysis_features"],
        kinds={"numpyro"},
        description="The NumPyro NUTS fits of every model the analysis lists (one file per model, NetCDF, ArviZ "
        "InferenceData, under fits/<analysis> in the artifact store). A model whose features, settings and library "
        "versions are unchanged keeps its stored fit, whichever worker wrote it; the others are refitted, from the "
        "previous fit's chains when there is one (hibayes.model.warm_start). The metadata has one row per model; "
        "the checks, one result per checker over all the models. A fit that fails a blocking check holds the report "
        "back and fails its run.",
    ),
    dg.AssetSpec(
        "check_results",
        deps=["model_fit"],
        kinds={"duckdb"},
        description="Every checker's outcome for every fit of the analysis (model, checker, status, value, "
        "threshold, message) as rows of the DuckDB table `check_results`.",
    ),
    dg.AssetSpec(
        "model_comparison",
        deps=["model_fit"],
        kinds={"duckdb", "arviz"},
        description="ArviZ's comparison of the analysis's fitted models by PSIS-LOO (elpd, se, elpd_diff, dse, "
        "weights, warnings) and the best model, chosen taking the standard error of the difference into "
        "account. DuckDB table `model_comparison`, CSV and PNG under artifacts/<analysis> in the artifact store, and "
        "beside them `model_comparison_pointwise.csv`: each model's pointwise elpd, one row per log-likelihood "
        "column with the observations it stands for and its row's features, and "
        "`model_comparison_pointwise_per_observation.parquet`: each model's loo_i, pareto_k and waic_i, one row per "
        "observation (scored sample or binomial trial). " + HELD_BACK,
    ),
    dg.AssetSpec(
        "comparisons",
        deps=["model_fit"],
        kinds={"duckdb", "matplotlib"},
        description="Every pair of models (or the config's `compare.contrasts`) compared on the items both answered "
        "(hibayes.comparisons): the difference in mean score with naive CLT, clustered, paired and paired clustered "
        "intervals, McNemar mid-p or a permutation test with Holm and BH adjustments, the minimum detectable "
        "difference, and the posterior HDI and P(A > B) from a fitted model. DuckDB table `comparisons`, "
        "comparisons.csv and comparisons.png under artifacts/<analysis> in the artifact store, and the headline pair. "
        + HELD_BACK,
    ),
    dg.AssetSpec(
        "analysis_report",
        deps=["model_fit", "comparisons"],
        kinds={"matplotlib"},
        description="Every communicator's output for the analysis (forest plot, summary table, ...: PNG/CSV under "
        "artifacts/<analysis> in the artifact store), previewed here, with the `comparisons` table, plot and headline "
        "when they are of the same fits. Rendered only from the current fit of every model of the analysis: when a "
        "fit is missing, out of date or failed a blocking check, the report is held back (the run fails saying "
        "which) and the files from the last good fits stay.",
    ),
]


# One step takes each analysis from its data to its report in one process (one JAX import, the fits
# loaded once for the comparison and the report), an analysis at a time, so a report comes as soon
# as its own fits are done, and an analysis whose features did not change stops after its data. (In
# Dagster a step after this one would only run if this one yielded an output for the whole range.)
# It holds the `mcmc` slot while it fits, never the warehouse's: its writes (a table per analysis,
# its checks and comparisons) open DuckDB for a moment, waiting while another process holds it.
@dg.multi_asset(
    specs=[
        spec.replace_attributes(group_name="analysis", partitions_def=analysis_partitions)
        for spec in [*INPUT_SPECS, *RESULT_SPECS]
    ],
    check_specs=FIT_CHECK_SPECS,
    partitions_def=analysis_partitions,
    backfill_policy=ONE_RUN,
    pool=FIT_POOL,
    can_subset=True,
)
def analysis(context: dg.AssetExecutionContext, config: RefitConfig, project: ProjectPaths, warehouse: WarehouseResource):
    """Every analysis of the run's range, from its data to its report (the selected assets of it),
    each recording its own materializations, and only when its output changed. One analysis's
    failure does not stop the others; the step fails at the end naming each."""
    import matplotlib

    matplotlib.use("Agg")
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    if "model_fit" in selected:
        from hibayes.model.platform import enable_compilation_cache

        enable_compilation_cache(project.jax_cache_path)
    problems = []
    for name in context.partition_keys:
        started = time.perf_counter()
        try:
            found = yield from _analysis(context, project, warehouse, name, selected, config.force)
        except Exception as err:  # one analysis's failure, whatever it is, stays in that analysis
            found = [_failure_message(err)]
        for problem in found:
            context.log.error(f"analysis '{name}': {problem}")
        problems += [f"'{name}': {problem}" for problem in found]
        context.log.info(f"analysis '{name}': done in {time.perf_counter() - started:.1f}s")
    if problems:
        raise dg.Failure(f"{len(problems)} problem(s): " + " | ".join(problems))


def _analysis(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource, analysis: str,
    selected: set[str], force: bool,
) -> Generator[dg.AssetMaterialization, None, list[str]]:
    """One analysis's selected assets, in order; returns its problems (a fit that failed, or failed a
    blocking check). In a planned run (the daemon's, the demo's), an analysis whose features and
    settings did not change stops after them; a run launched by hand goes on (fits unchanged are
    kept). A report held back raises, and the stages after it do not run."""
    config = _config_or_fail(project, analysis)
    if selected & {"analysis_data", "analysis_features"}:
        events = _refresh_inputs(context, project, warehouse, config)
        yield from events
        unchanged = not any(event.asset_key == dg.AssetKey("analysis_features") for event in events)
        if unchanged and context.run.tags.get(PLANNED_TAG) == "true":
            context.log.info(f"analysis '{analysis}': same rows, features and settings as before: its results stand")
            return []
    problems = (yield from _fit_models(context, project, config, force)) if "model_fit" in selected else []
    try:  # a report held back after a fit failed: the fit's own error stays in the problems
        yield from _reports(context, project, warehouse, config, selected)
    except Exception as err:
        problems.append(_failure_message(err))
    return problems


def _reports(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource, config: AnalysisConfig,
    selected: set[str],
) -> Iterator[dg.AssetMaterialization]:
    """The selected assets after the fits, in order."""
    analysis = config.name
    if "check_results" in selected:
        yield dg.AssetMaterialization("check_results", partition=analysis, metadata=_check_results(project, warehouse, config))
    shown = None
    if "model_comparison" in selected:
        metadata = _model_comparison(project, warehouse, config)
        yield dg.AssetMaterialization("model_comparison", partition=analysis, metadata=metadata)
    if "comparisons" in selected:
        metadata = _comparisons(context, project, warehouse, config)
        yield dg.AssetMaterialization("comparisons", partition=analysis, metadata=metadata)
        shown = {report_key: metadata[key] for key, report_key in COMPARISONS_SHOWN.items() if key in metadata}
    if "analysis_report" in selected:
        yield dg.AssetMaterialization("analysis_report", partition=analysis, metadata=_report(context, project, config, shown))


def _failure_message(err: Exception) -> str:
    """What a failure says: a dg.Failure's own description, else the error's type and text."""
    return err.description if isinstance(err, dg.Failure) else f"{type(err).__name__}: {err}"


def _fit_models(
    context: dg.AssetExecutionContext, project: ProjectPaths, config: AnalysisConfig, force: bool
) -> Generator[dg.AssetMaterialization, None, list[str]]:
    """Fit (or keep) every model of the analysis; one model's failure does not stop the others.
    Records one materialization and one result per checker; returns the problems: fits that
    failed, failed a blocking check, or whose custom checkers failed, in the CLI's words."""
    from hibayes.analysis import check_platform, checker_when_known, import_custom_code, load_features

    check_platform(config)  # its inputs step checked it; a fit launched by hand has not
    import_custom_code(config, ("model", "checker"))
    features = load_features(project.store.features(config.name))
    after = [name for name, _ in config.checkers if checker_when_known(name) == "after"]
    checkers = list(dict.fromkeys([*ALWAYS_RUN, *after]))
    rows, plots, outcomes, problems = [], {}, {}, []
    for spec in config.models:
        try:
            row, model_plots, checks, checker_failures = _fit_model(context, project, config, spec, features, checkers, force)
        except Exception as err:
            message = _failure_message(err)
            rows.append({"model": spec.model_name, "fit": f"failed: {message}"})
            problems.append(f"model '{spec.model_name}': {message}")
            continue
        rows.append(row)
        plots.update(model_plots)
        outcomes[spec.model_name] = checks
        problems += [
            f"model '{spec.model_name}': {check_name(c.name)} failed: {c.message}"
            for c in checks if c.status in ("fail", "error") and c.name in blocking_checkers()
        ] + checker_failures
    if not outcomes:
        return problems
    fitted = [row for row in rows if row.get("fit", "").startswith("fitted")]
    check_rows = [{"model": model, **c.as_dict()} for model, checks in outcomes.items() for c in checks]
    yield dg.AssetMaterialization(
        "model_fit", partition=config.name,
        metadata={
            "path": dg.MetadataValue.path(str(project.store.fits(config.name))),
            "models": dg.MetadataValue.md(markdown_table(pd.DataFrame(rows))),
            "refitted": dg.MetadataValue.json([row["model"] for row in fitted]),
            "reused_stored_fit": not fitted,
            "warm_started": dg.MetadataValue.json([row["model"] for row in fitted if row.get("warm_started")]),
            "fit_seconds": round(sum(row.get("seconds", 0.0) for row in fitted), 2),
            "input_hashes": dg.MetadataValue.json({row["model"]: row["input_hash"] for row in rows if "input_hash" in row}),
            "checks": dg.MetadataValue.md(markdown_table(pd.DataFrame(check_rows).drop(columns="message"), 60)),
            **plots,
        },
    )
    for check in fit_check_results(outcomes, partition=config.name):
        context.log_event(check)
    return problems


def _fit_model(
    context: dg.AssetExecutionContext, project: ProjectPaths, config: AnalysisConfig, spec, features, checkers: list[str],
    force: bool,
) -> tuple[dict, dict, list, list[str]]:
    """One model's fit (or its stored one): its row of the metadata table, its plots, its checks'
    outcomes, and the failures of the checkers that have no asset check (custom ones)."""
    from hibayes.analysis import check_failures, fit_or_reuse, run_checks
    from hibayes.model.platform import available_devices

    where = f"{config.name}/{spec.model_name}"
    path = project.store.fit(config.name, spec.model_name)
    context.log.info(
        f"fitting {where}: {spec.fit.chains} chains x ({spec.fit.warmup} warmup + {spec.fit.samples} draws) "
        f"on {available_devices(config.platform.device_type)} {config.platform.device_type} devices"
    )
    outcome = fit_or_reuse(config, spec, features, path, force=force)
    if outcome.refit_reason:
        context.log.warning(f"{where}: {outcome.refit_reason}")
    checks = run_checks(config, outcome.model_state, checkers)
    context.log.info(
        f"{where}: " + ("reused the stored fit" if outcome.reused else f"fitted in {outcome.seconds:.1f}s"
                        + (" from the previous fit's chains" if outcome.warm_started else ""))
        + "; " + ", ".join(f"{c.name} {c.status}" for c in checks)
    )
    _, plots = save_figures(outcome.model_state.plots, artifacts.child(project.store.report(config.name), spec.model_name))
    artifacts.write_text(artifacts.fit_checks(path), json.dumps([c.as_dict() for c in checks], default=str))
    row = {
        "model": spec.model_name,
        "fit": "reused" if outcome.reused else "fitted" + (" warm" if outcome.warm_started else " cold"),
        "seconds": round(outcome.seconds, 2),
        "chains": spec.fit.chains,
        "draws_per_chain": spec.fit.samples,
        "warmup_per_chain": None if outcome.reused else outcome.warmup,
        "warm_started": outcome.warm_started,
        "chain_method": outcome.chain_method,
        "input_hash": outcome.input_hash,
        **({"refit_reason": outcome.refit_reason} if outcome.refit_reason else {}),
    }
    # This run's outcomes, the "before" checkers' included when it fitted.
    without_asset_check = [c for c in outcome.model_state.checks.values() if c.name not in AFTER_FIT_CHECKERS]
    model_plots = {key.replace("plot/", f"plot/{spec.model_name}/", 1): value for key, value in plots.items()}
    return row, model_plots, checks, check_failures(spec.model_name, without_asset_check)


def _report(
    context: dg.AssetExecutionContext, project: ProjectPaths, config: AnalysisConfig, comparisons_shown: dict | None
) -> dict[str, object]:
    """Every communicator's output, from the current fits (held back when one is not); with the
    comparisons of this run, else the latest ones when they are of the same fits."""
    from hibayes.analysis import run_communicators
    from hibayes.analysis_state import AnalysisState

    started = time.perf_counter()
    features, models = _current_fits(project, config)
    state = AnalysisState(
        data=_processed(project, config.name), features=features.features, coords=features.coords, dims=features.dims,
        test_features=features.test_features,
    )
    state.models = models
    results = run_communicators(config, state)
    out_dir = project.store.report(config.name)
    metadata: dict[str, object] = {"communicators": dg.MetadataValue.json(results)}
    written, plots = save_figures(state.plots, out_dir)
    metadata.update(plots)
    for name, table in state.tables.items():
        written.append(save_table(table, artifacts.child(out_dir, f"{name}.csv")))
        metadata[f"table/{name}"] = dg.MetadataValue.md(markdown_table(table, max_rows=40))
    for stage, entry in state.logs:
        context.log.warning(f"{stage}: {entry}")
    if state.failures:  # the same lines as the CLI's: each communicator, its file and line
        raise dg.Failure("; ".join(state.failures))
    metadata.update(comparisons_shown if comparisons_shown is not None else _current_comparisons(context, config, models))
    metadata["files"] = dg.MetadataValue.json([str(p) for p in written])
    metadata["models"] = dg.MetadataValue.json([m.model_name for m in state.models])
    metadata["seconds"] = round(time.perf_counter() - started, 3)
    return metadata


def _check_results(project: ProjectPaths, warehouse: WarehouseResource, config: AnalysisConfig) -> dict[str, object]:
    rows = []
    for model_name in config.model_names:
        path = artifacts.fit_checks(project.store.fit(config.name, model_name))
        if artifacts.exists(path):
            rows += [{"model": model_name, **outcome} for outcome in json.loads(artifacts.read_text(path))]
    table = pd.DataFrame(rows, columns=["model", "name", "status", "value", "threshold", "message"])
    warehouse.get().replace_rows("check_results", "analysis", config.name, table)
    failed = table[table["status"].isin(["fail", "error"])]
    return {
        "dagster/row_count": len(table),
        "failed": len(failed),
        "results": dg.MetadataValue.md(markdown_table(table.drop(columns="message"), 60)),
    }


def _model_comparison(project: ProjectPaths, warehouse: WarehouseResource, config: AnalysisConfig) -> dict[str, object]:
    from hibayes.communicate import compare_models, plot_comparison, pointwise_table

    _, models = _current_fits(project, config)
    table, best, reason = compare_models(models)
    warehouse.get().replace_rows("model_comparison", "analysis", config.name, table)
    out_dir = project.store.report(config.name)
    csv = save_table(table, artifacts.child(out_dir, "model_comparison.csv"))
    save_table(pointwise_table(models), artifacts.child(out_dir, "model_comparison_pointwise.csv"))
    observations = _save_per_observation(models, artifacts.child(out_dir, "model_comparison_pointwise_per_observation.parquet"))
    metadata: dict[str, object] = {
        "pointwise_rows": observations,
        # The model `best_model` plots show; `verdict` says whether it is better than the others.
        "best_model": best,
        "verdict": reason,
        "table": dg.MetadataValue.md(markdown_table(table, 20)),
        "path": dg.MetadataValue.path(str(csv)),
    }
    if len(models) > 1:
        metadata.update(save_figures({"model_comparison": plot_comparison(table)}, out_dir)[1])
    return metadata


def _save_per_observation(models: list, location: Location) -> int:
    """Each model's pointwise LOO and WAIC, one row per observation, as Parquet in the artifact store
    (written locally in batches, then moved or uploaded whole); the rows written."""
    from hibayes.communicate import write_pointwise_per_observation

    with tempfile.TemporaryDirectory(prefix="hibayes-pointwise-") as folder:
        local = Path(folder) / "pointwise.parquet"
        rows = write_pointwise_per_observation(models, local)
        if rows:
            with artifacts.writing(location) as target:
                shutil.move(local, target)
    return rows


# The `comparisons` metadata the report shows, under the report's keys.
COMPARISONS_SHOWN = {
    "headline": "comparisons/headline",
    "table": "table/comparisons",
    "plot/comparisons": "plot/comparisons",
    "rows": "comparisons/rows",
    "posterior": "comparisons/posterior",
}


def _comparisons(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource, config: AnalysisConfig
) -> dict[str, object]:
    from hibayes.analysis import comparisons as compare_pairs
    from hibayes.analysis_state import AnalysisState
    from hibayes.comparisons import COMPARISON_COLUMNS, ComparisonError

    _, models = _current_fits(project, config)
    store = warehouse.get()
    state = AnalysisState(data=_comparison_rows(store, config), processed_data=_processed(project, config.name))
    state.models = models
    try:
        result = compare_pairs(config, state)
    except ComparisonError as err:
        if "compare" in config.raw:
            raise dg.Failure(str(err)) from None
        # The defaults are a bonus to a config written without them: they never hold its report back.
        context.log.warning(f"no comparisons: {err}")
        store.replace_rows("comparisons", "analysis", config.name, pd.DataFrame(columns=list(COMPARISON_COLUMNS)))
        return {"headline": f"no comparisons: {err}", "fits": comparisons_fits(config, models), "dagster/row_count": 0}
    store.replace_rows("comparisons", "analysis", config.name, result.table)
    out_dir = project.store.report(config.name)
    csv = save_table(result.table, artifacts.child(out_dir, "comparisons.csv"))
    _, plots = save_figures({"comparisons": result.figure(title=config.name)}, out_dir)
    shown = result.table.drop(columns=["se_naive", "se_clustered", "se_paired", "se_paired_clustered", "p_paired_t"])
    return {
        "headline": result.headline or "no pair of models to compare",
        "table": dg.MetadataValue.md(markdown_table(shown, 40)),
        **plots,
        "rows": result.rows,
        "posterior": result.posterior,
        "fits": comparisons_fits(config, models),
        "dagster/row_count": len(result.table),
        "path": dg.MetadataValue.path(str(csv)),
    }


def _comparison_rows(store: Warehouse, config: AnalysisConfig) -> pd.DataFrame:
    """The analysis data, only the columns the comparisons read when they are all there (a million
    rows of log paths and targets take seconds to read); whole otherwise, so that an error names
    every column."""
    from hibayes.analysis import comparison_columns

    table, columns = analysis_table(config.name), comparison_columns(config)
    if columns and set(columns) <= set(store.column_types(table)):
        return store.query("SELECT " + ", ".join(f'"{column}"' for column in columns) + f' FROM "{table}"')
    return store.table(table)


def comparisons_fits(config: AnalysisConfig, models: list) -> str:
    """What a `comparisons` result is of: the config and each fit's inputs."""
    from hibayes import idata as idata_api
    from hibayes.config import stable_hash

    return stable_hash([config.digest(), [(m.model_name, idata_api.attrs(m.inference_data).get("hibayes_input_hash")) for m in models]])


def _current_comparisons(context: dg.AssetExecutionContext, config: AnalysisConfig, models: list) -> dict[str, object]:
    """The latest `comparisons` metadata for the report (prefixed `comparisons/`), when it is of the
    report's own config and fits; else a line saying it is not."""
    latest = latest_materialization(context.instance, "comparisons", config.name)
    metadata = latest.asset_materialization.metadata if latest is not None and latest.asset_materialization else {}
    fits = metadata.get("fits")
    if fits is None or fits.value != comparisons_fits(config, models):
        return {"comparisons/headline": "not of the current fits: materialize `comparisons`"}
    return {shown: metadata[key] for key, shown in COMPARISONS_SHOWN.items() if key in metadata}


# The comparison, the comparisons and the report of an analysis share its loaded fits, and with them
# each model's cached LOO, as long as no file changed in between.
_LOADED_FITS: dict[tuple, tuple] = {}


def _current_fits(project: ProjectPaths, config: AnalysisConfig) -> tuple:
    """The analysis's features and, for every model it lists, the stored fit of those features
    as a model state. Raises a Failure naming each model whose fit is missing, out of date or
    failed a blocking check: a report of some fits, or of stale ones, would mislead."""
    features_dir = project.store.features(config.name)
    files = [artifacts.child(features_dir, artifacts.FEATURES_FILE), artifacts.child(features_dir, artifacts.TEST_FEATURES_FILE)]
    for name in config.model_names:
        path = project.store.fit(config.name, name)
        files += [path, artifacts.fit_checks(path)]
    key = (config.name, config.digest(), tuple((str(p), artifacts.signature(p)) for p in files))
    if key not in _LOADED_FITS:
        _LOADED_FITS.clear()
        _LOADED_FITS[key] = _load_current_fits(project, config)
    return _LOADED_FITS[key]


def _load_current_fits(project: ProjectPaths, config: AnalysisConfig) -> tuple:
    from hibayes import idata as idata_api
    from hibayes.analysis import fit_problem, import_custom_code, load_features
    from hibayes.analysis_state import ModelAnalysisState
    from hibayes.model import MODELS

    import_custom_code(config, ("model",))
    features = load_features(project.store.features(config.name))
    models, problems = [], []
    for spec in config.models:
        path = project.store.fit(config.name, spec.model_name)
        problem = fit_problem(config, spec, features, path) or _blocking_failure(path)
        if problem:
            problems.append(f"model '{spec.model_name}': {problem}")
            continue
        try:
            inference_data = idata_api.load(path)
        except idata_api.UnreadableFitError as err:
            problems.append(
                f"model '{spec.model_name}': {err}; materialize partition '{config.name}' of model_fit to refit it"
            )
            continue
        models.append(
            ModelAnalysisState(
                spec.model_name, MODELS.build(spec.name, spec.kwargs), spec, features.features,
                features.coords, features.dims, inference_data=inference_data, is_fitted=True,
                test_features=features.test_features,
            )
        )
    if problems:
        raise dg.Failure(
            "results held back, the outputs from the last good fits stay: " + "; ".join(problems),
            metadata={"held_back_by": dg.MetadataValue.json(problems)},
        )
    return features, models


def _blocking_failure(fit_path: Location) -> str | None:
    path = artifacts.fit_checks(fit_path)
    outcomes = json.loads(artifacts.read_text(path)) if artifacts.exists(path) else []
    failed = [o for o in outcomes if o["name"] in blocking_checkers() and o["status"] in ("fail", "error")]
    return "; ".join(f"failed blocking check {check_name(o['name'])}: {o['message']}" for o in failed) or None


def _processed(project: ProjectPaths, analysis: str) -> pd.DataFrame:
    from hibayes.analysis import load_processed_data

    return load_processed_data(project.store.features(analysis))


def _config_or_fail(project: ProjectPaths, analysis: str) -> AnalysisConfig:
    try:
        return analysis_config(project, analysis)
    except ConfigError as err:
        raise dg.Failure(str(err)) from None
