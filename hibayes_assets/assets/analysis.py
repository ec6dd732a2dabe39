"""Analysis group: one partition per analysis YAML; one fit partition per model an analysis lists.

analysis_data + analysis_features (one step) -> model_fit (+ checks) -> check_results,
model_comparison, comparisons -> analysis_report. The statistics live in `hibayes`; these assets
load configs, move files and describe results. What runs when is decided by the planner (hibayes_assets.planner).
"""


import dataclasses
import hashlib
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from hibayes import artifacts
from hibayes.artifacts import Location
from hibayes.config import AnalysisConfig, ConfigError, load_analysis
from hibayes.plugins import ComponentError
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
from hibayes_assets.partitions import analysis_partitions, fit_key, fit_partitions, split_fit_key
from hibayes_assets.resources import WAREHOUSE_POOL, ProjectPaths, WarehouseResource
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


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "analysis_data",
            group_name="analysis",
            partitions_def=analysis_partitions,
            deps=[dg.AssetDep("eval_samples", partition_mapping=ALL)],
            kinds={"duckdb"},
            description="The analysis dataframe (its extractors' columns), as DuckDB table `analysis_data_<analysis>`: "
            "computed from the warehouse for the built-in extractors, else read by HiBayES's loader (custom "
            "extractors, files_to_process, extracted_data). Errored samples and incomplete logs are left out by "
            "default. A new materialization means the rows changed.",
        ),
        dg.AssetSpec(
            "analysis_features",
            group_name="analysis",
            partitions_def=analysis_partitions,
            deps=["analysis_data"],
            kinds={"numpy"},
            description="Features, test features, coords and dims after the analysis's processors (files under "
            "features/<analysis> in the artifact store: HIBAYES_ARTIFACTS, else HIBAYES_HOME): what the fits see. A new "
            "materialization means the features changed, and only then are the analysis's models refitted.",
        ),
    ],
    partitions_def=analysis_partitions,
    backfill_policy=ONE_RUN,
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def analysis_inputs(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource):
    """Data and features of every analysis in the run's range. Each analysis whose rows or features
    changed records a materialization of its partition; an unchanged one records nothing, so nothing
    downstream of it runs. One analysis's failure is reported and does not stop the others."""
    failures = []
    for analysis in context.partition_keys:
        started = time.perf_counter()
        try:
            events = _refresh_inputs(context, project, warehouse, analysis)
        except Exception as err:  # one analysis's failure, whatever it is, stays in that analysis
            message = err.description if isinstance(err, dg.Failure) else f"{type(err).__name__}: {err}"
            context.log.error(f"analysis '{analysis}': {message}")
            failures.append(f"'{analysis}': {message}")
            continue
        yield from events
        changed = ", ".join(e.asset_key.to_user_string() for e in events) or "nothing (same rows and features as before)"
        context.log.info(f"analysis '{analysis}': {changed} changed ({time.perf_counter() - started:.1f}s)")
    if failures:
        raise dg.Failure(f"{len(failures)} analysis input(s) failed: " + " | ".join(failures))


def _refresh_inputs(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource, analysis: str
) -> list[dg.AssetMaterialization]:
    from hibayes.analysis import process_data, save_features, validate

    config = _config_or_fail(project, analysis)
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
    if latest_metadata(context.instance, "analysis_features", analysis).get("data_hash") != stored.digest:
        events.append(dg.AssetMaterialization(
            "analysis_features", partition=analysis,
            metadata={
                "dagster/row_count": len(state.processed_data),
                "features": dg.MetadataValue.json({k: list(getattr(v, "shape", ())) for k, v in stored.features.items()}),
                "coords": dg.MetadataValue.json(stored.coords),
                "data_hash": stored.digest,
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


# Each fit records its own materialization and check results (log events for its partition), so one
# run can fit several models of an analysis in one process: one start-up and one JAX import.
@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "model_fit",
            group_name="analysis",
            partitions_def=fit_partitions,
            deps=[dg.AssetDep("analysis_features", partition_mapping=ALL)],
            kinds={"numpyro"},
            description="A NumPyro NUTS fit of one model of one analysis (partition `<analysis>/<model>`, one per "
            "model the analysis lists), stored as NetCDF (ArviZ InferenceData) under fits/ in the artifact store. An "
            "unchanged fit (same features, model settings and library versions) is loaded instead of resampled, "
            "whichever worker wrote it. Reads its "
            "own analysis's features. A fit that fails a blocking check fails its run.",
        )
    ],
    check_specs=FIT_CHECK_SPECS,
    partitions_def=fit_partitions,
    backfill_policy=ONE_RUN,
    pool=FIT_POOL,
    can_subset=True,
)
def model_fit(context: dg.AssetExecutionContext, config: RefitConfig, project: ProjectPaths):
    """Fit every model in the run's range of fit partitions; one fit's failure does not stop the
    others, and the step fails at the end naming each fit that failed or failed a blocking check."""
    from hibayes.model.platform import enable_compilation_cache

    enable_compilation_cache(project.jax_cache_path)
    problems = []
    for key in context.partition_keys:
        try:
            materialization, checks, checker_failures = _fit_one(context, project, key, force=config.force)
        except Exception as err:
            message = err.description if isinstance(err, dg.Failure) else f"{type(err).__name__}: {err}"
            context.log.error(f"{key}: {message}")
            problems.append(f"{key}: {message}")
            continue
        yield materialization
        for check in checks:
            context.log_event(check)
        problems += [
            f"{key}: {check.check_name} failed: {check.description}"
            for check in checks if not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        ] + checker_failures
    if problems:
        raise dg.Failure(f"{len(problems)} fit problem(s): " + " | ".join(problems))


def _fit_one(
    context: dg.AssetExecutionContext, project: ProjectPaths, key: str, force: bool
) -> tuple[dg.AssetMaterialization, list[dg.AssetCheckEvaluation], list[str]]:
    """The fit's materialization, its asset check results, and the failures of the checkers
    that have no asset check (custom ones), in the CLI's words."""
    from hibayes.analysis import (
        check_failures,
        check_platform,
        checker_when_known,
        fit_or_reuse,
        import_custom_code,
        load_features,
        run_checks,
    )
    from hibayes.model.platform import available_devices

    analysis, model_name = split_fit_key(key)
    settings = _config_or_fail(project, analysis)
    if model_name not in settings.model_names:
        raise dg.Failure(
            f"model '{model_name}' is no longer part of {settings.where} (it lists {', '.join(settings.model_names)}); "
            "the analysis_configs sensor removes this partition"
        )
    spec = settings.model(model_name)
    check_platform(settings)  # its inputs step checked it; a fit launched by hand has not
    import_custom_code(settings, ("model", "checker"))
    features = load_features(project.store.features(analysis))
    path = project.store.fit(analysis, model_name)
    context.log.info(
        f"fitting {key}: {spec.fit.chains} chains x ({spec.fit.warmup} warmup + {spec.fit.samples} draws) "
        f"on {available_devices(settings.platform.device_type)} {settings.platform.device_type} devices"
    )
    outcome = fit_or_reuse(settings, spec, features, path, force=force)
    if outcome.refit_reason:
        context.log.warning(f"{key}: {outcome.refit_reason}")
    wanted = [name for name, _ in settings.checkers if checker_when_known(name) == "after"]
    checks = run_checks(settings, outcome.model_state, list(dict.fromkeys([*ALWAYS_RUN, *wanted])))
    context.log.info(
        f"{key}: " + ("reused the stored fit" if outcome.reused else f"fitted in {outcome.seconds:.1f}s"
                      + (" from the previous fit's chains" if outcome.warm_started else ""))
        + "; " + ", ".join(f"{c.name} {c.status}" for c in checks)
    )
    _, plots = save_figures(outcome.model_state.plots, artifacts.child(project.store.report(analysis), model_name))
    artifacts.write_text(artifacts.fit_checks(path), json.dumps([c.as_dict() for c in checks], default=str))
    materialization = dg.AssetMaterialization(
        "model_fit", partition=key,
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "input_hash": outcome.input_hash,
            "reused_stored_fit": outcome.reused,
            **({"refit_reason": outcome.refit_reason} if outcome.refit_reason else {}),
            "chains": spec.fit.chains,
            "draws_per_chain": spec.fit.samples,
            **({} if outcome.reused else {"warmup_per_chain": outcome.warmup, "warm_started": outcome.warm_started}),
            "chain_method": outcome.chain_method,
            "fit_seconds": round(outcome.seconds, 2),
            "checks": dg.MetadataValue.md(markdown_table(pd.DataFrame([c.as_dict() for c in checks]))),
            **{f"diag/{c.name}": c.value for c in checks if c.value is not None},
            **plots,
        },
    )
    # This run's outcomes, the "before" checkers' included when it fitted.
    without_asset_check = [c for c in outcome.model_state.checks.values() if c.name not in AFTER_FIT_CHECKERS]
    return materialization, list(fit_check_results(checks, partition=key)), check_failures(key, without_asset_check)


FIT_DEP = dg.AssetDep("model_fit", partition_mapping=ALL)


@dg.asset(
    group_name="analysis",
    partitions_def=analysis_partitions,
    # After `comparisons` in the report run, whose table and plot it shows.
    deps=[FIT_DEP, "comparisons"],
    kinds={"matplotlib"},
    description="Every communicator's output for the analysis (forest plot, summary table, ...: PNG/CSV under "
    "artifacts/<analysis> in the artifact store), previewed here, with the `comparisons` table, plot and headline when "
    "they are of the same fits. Rendered only from the current fit of every model "
    "of the analysis: when a fit is missing, out of date or failed a blocking check, the report is held back "
    "(this asset fails saying which) and the files from the last good fits stay.",
)
def analysis_report(context: dg.AssetExecutionContext, project: ProjectPaths) -> dg.MaterializeResult:
    import matplotlib

    matplotlib.use("Agg")
    from hibayes.analysis import run_communicators
    from hibayes.analysis_state import AnalysisState

    started = time.perf_counter()
    config = _config_or_fail(project, context.partition_key)
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
        raise dg.Failure(f"analysis '{config.name}': " + "; ".join(state.failures))
    metadata.update(_current_comparisons(context, config, models))
    metadata["files"] = dg.MetadataValue.json([str(p) for p in written])
    metadata["models"] = dg.MetadataValue.json([m.model_name for m in state.models])
    metadata["seconds"] = round(time.perf_counter() - started, 3)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name="analysis",
    partitions_def=analysis_partitions,
    deps=[FIT_DEP],
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Every checker's outcome for every fit of the analysis (model, checker, status, value, "
    "threshold, message) as rows of the DuckDB table `check_results`.",
)
def check_results(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    config = _config_or_fail(project, context.partition_key)
    rows = []
    for model_name in config.model_names:
        path = artifacts.fit_checks(project.store.fit(config.name, model_name))
        if artifacts.exists(path):
            rows += [{"model": model_name, **outcome} for outcome in json.loads(artifacts.read_text(path))]
    table = pd.DataFrame(rows, columns=["model", "name", "status", "value", "threshold", "message"])
    warehouse.get().replace_rows("check_results", "analysis", config.name, table)
    failed = table[table["status"].isin(["fail", "error"])]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "failed": len(failed),
            "results": dg.MetadataValue.md(markdown_table(table.drop(columns="message"), 60)),
        }
    )


@dg.asset(
    group_name="analysis",
    partitions_def=analysis_partitions,
    deps=[FIT_DEP],
    kinds={"duckdb", "arviz"},
    pool=WAREHOUSE_POOL,
    description="ArviZ's comparison of the analysis's fitted models by PSIS-LOO (elpd, se, elpd_diff, dse, "
    "weights, warnings) and the best model, chosen taking the standard error of the difference into "
    "account. DuckDB table `model_comparison`, CSV and PNG under artifacts/<analysis> in the artifact store, and "
    "beside them `model_comparison_pointwise.csv`: each model's pointwise elpd, one row per log-likelihood "
    "column with the observations it stands for and its row's features, and "
    "`model_comparison_pointwise_per_observation.parquet`: each model's loo_i, pareto_k and waic_i, one row per "
    "observation (scored sample or binomial trial). "
    "Held back, like the report, while a fit is missing, out of date or failed a blocking check.",
)
def model_comparison(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    import matplotlib

    matplotlib.use("Agg")
    from hibayes.communicate import compare_models, plot_comparison, pointwise_table

    config = _config_or_fail(project, context.partition_key)
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
    return dg.MaterializeResult(metadata=metadata)


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


@dg.asset(
    group_name="analysis",
    partitions_def=analysis_partitions,
    deps=[FIT_DEP],
    kinds={"duckdb", "matplotlib"},
    # No `duckdb` slot: it computes for seconds and writes a few rows (a write retries while another
    # process holds DuckDB's lock), so the other analyses' report steps do not queue behind it.
    description="Every pair of models (or the config's `compare.contrasts`) compared on the items both answered "
    "(hibayes.comparisons): the difference in mean score with naive CLT, clustered, paired and paired clustered "
    "intervals, McNemar mid-p or a permutation test with Holm and BH adjustments, the minimum detectable "
    "difference, and the posterior HDI and P(A > B) from a fitted model. DuckDB table `comparisons`, "
    "comparisons.csv and comparisons.png under artifacts/<analysis> in the artifact store, and the headline pair. "
    "Held back, like the report, while a fit is missing, out of date or failed a blocking check.",
)
def comparisons(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    import matplotlib

    matplotlib.use("Agg")
    from hibayes.analysis import comparisons as compare_pairs
    from hibayes.analysis_state import AnalysisState
    from hibayes.comparisons import COMPARISON_COLUMNS, ComparisonError

    config = _config_or_fail(project, context.partition_key)
    _, models = _current_fits(project, config)
    store = warehouse.get()
    state = AnalysisState(data=store.table(analysis_table(config.name)), processed_data=_processed(project, config.name))
    state.models = models
    try:
        result = compare_pairs(config, state)
    except ComparisonError as err:
        if "compare" in config.raw:
            raise dg.Failure(str(err)) from None
        # The defaults are a bonus to a config written without them: they never hold its report back.
        context.log.warning(f"no comparisons: {err}")
        store.replace_rows("comparisons", "analysis", config.name, pd.DataFrame(columns=list(COMPARISON_COLUMNS)))
        return dg.MaterializeResult(
            metadata={"headline": f"no comparisons: {err}", "fits": comparisons_fits(config, models), "dagster/row_count": 0}
        )
    store.replace_rows("comparisons", "analysis", config.name, result.table)
    out_dir = project.store.report(config.name)
    csv = save_table(result.table, artifacts.child(out_dir, "comparisons.csv"))
    _, plots = save_figures({"comparisons": result.figure(title=config.name)}, out_dir)
    shown = result.table.drop(columns=["se_naive", "se_clustered", "se_paired", "se_paired_clustered", "p_paired_t"])
    return dg.MaterializeResult(
        metadata={
            "headline": result.headline or "no pair of models to compare",
            "table": dg.MetadataValue.md(markdown_table(shown, 40)),
            **plots,
            "rows": result.rows,
            "posterior": result.posterior,
            "fits": comparisons_fits(config, models),
            "dagster/row_count": len(result.table),
            "path": dg.MetadataValue.path(str(csv)),
        }
    )


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


# The report run's steps (comparison, report) run in one process: they share the loaded fits, and
# with them each model's cached LOO, as long as no file changed in between.
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
            problems.append(f"{spec.model_name}: {problem} (partition '{fit_key(config.name, spec.model_name)}')")
            continue
        try:
            inference_data = idata_api.load(path)
        except idata_api.UnreadableFitError as err:
            problems.append(
                f"{spec.model_name}: {err}; materialize partition '{fit_key(config.name, spec.model_name)}' "
                "of model_fit to refit it"
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
            f"analysis '{config.name}': held back, the outputs from the last good fits stay: " + "; ".join(problems),
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
