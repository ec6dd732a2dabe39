"""Analysis group: one partition per analysis YAML; fits per analysis x model.

analysis_data -> analysis_features -> model_fit (+ checks) -> analysis_report. The statistics live
in `hibayes`; these assets load configs, move files and describe results.
"""


import dataclasses
import json
import re
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from hibayes.config import AnalysisConfig, ConfigError, load_analysis
from hibayes_assets.checks import ALWAYS_RUN, FIT_CHECK_SPECS, fit_check_results
from hibayes_assets.metadata import markdown_table, save_figures
from hibayes_assets.partitions import analysis_partitions, fit_partitions
from hibayes_assets.resources import ProjectPaths, WarehouseResource

# Refresh when upstream changes, without waiting for upstream partitions that do not apply: a fit
# grid cell whose model is not in the analysis is never materialized, and a log that failed to
# ingest should not freeze every analysis.
REFRESH = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())


def analysis_config(project: ProjectPaths, analysis: str) -> AnalysisConfig:
    for suffix in (".yaml", ".yml"):
        path = project.analyses_path / f"{analysis}{suffix}"
        if path.exists():
            return load_analysis(path)
    raise dg.Failure(f"analysis '{analysis}': no {analysis}.yaml in {project.analyses_path}")


def analysis_table(analysis: str) -> str:
    return "analysis_data_" + re.sub(r"\W", "_", analysis)


@dg.asset(
    group_name="analysis",
    partitions_def=analysis_partitions,
    deps=[dg.AssetDep("eval_samples", partition_mapping=dg.AllPartitionMapping())],
    kinds={"duckdb"},
    pool="duckdb",
    automation_condition=REFRESH,
    description="The analysis dataframe (extractor columns), as DuckDB table `analysis_data_<analysis>`: "
    "computed from the warehouse for the built-in extractors, else read by HiBayES's loader (custom "
    "extractors, files_to_process, extracted_data). Errored samples and incomplete logs are left out by default.",
)
def analysis_data(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    config = _config_or_fail(project, context.partition_key)
    frame, report = _analysis_frame(config, project, warehouse)
    if frame.empty:
        raise dg.Failure(f"analysis '{config.name}': no usable samples ({report})")
    rows = warehouse.get().replace_table(analysis_table(config.name), frame)
    for problem in report.get("problems", []):
        context.log.warning(f"{config.name}: {problem}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "table": analysis_table(config.name),
            "config_hash": config.digest(),
            "load_report": dg.MetadataValue.json(report),
            "preview": dg.MetadataValue.md(markdown_table(frame, max_rows=10)),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


def _analysis_frame(config: AnalysisConfig, project: ProjectPaths, warehouse: WarehouseResource) -> tuple[pd.DataFrame, dict]:
    """The analysis dataframe: from the warehouse when the built-in extractors can be computed
    there (no log is read again), else by HiBayES's loader over the config's files or the log dir."""
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
        report = {"source": "warehouse", **extract_report.as_metadata()}
        if extract_report.excluded_errored_samples:
            report["problems"] = [f"left out {extract_report.excluded_errored_samples} samples that errored"]
        return frame, report
    if not loader.files_to_process and not loader.extracted_data:
        loader = dataclasses.replace(loader, files_to_process=(str(project.log_path),))
    frame, load_report = load_data_with_report(loader)
    return frame, {**load_report.as_dict(), "inputs": len(load_report.inputs), "problems": load_report.problems()}


@dg.asset(
    group_name="analysis",
    partitions_def=analysis_partitions,
    deps=[analysis_data],
    kinds={"numpy"},
    pool="duckdb",
    automation_condition=REFRESH,
    description="Features, coords and dims after the analysis's processors (files under HIBAYES_HOME/features).",
)
def analysis_features(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from hibayes.analysis import process_data, save_features, validate

    started = time.perf_counter()
    config = _config_or_fail(project, context.partition_key)
    data = warehouse.get().query(f'SELECT * FROM "{analysis_table(config.name)}"')
    try:
        validate(config)
    except ConfigError as err:
        raise dg.Failure(str(err)) from None
    try:
        state = process_data(config, data)
    except (ValueError, KeyError) as err:
        raise dg.Failure(f"{config.where}: processing failed: {err}") from None
    stored = save_features(state, project.features_path(config.name))
    shapes = {k: list(getattr(v, "shape", ())) for k, v in stored.features.items()}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(state.processed_data),
            "features": dg.MetadataValue.json(shapes),
            "coords": dg.MetadataValue.json(stored.coords),
            "data_hash": stored.digest,
            "path": dg.MetadataValue.path(str(project.features_path(config.name))),
            "processed_data": dg.MetadataValue.md(markdown_table(state.processed_data)),
            "seconds": round(time.perf_counter() - started, 3),
        },
        data_version=dg.DataVersion(stored.digest),
    )


class RefitConfig(dg.Config):
    force: bool = False  # refit even when data, config and library versions are unchanged


# A multi-asset only to make every output optional (`can_subset`): a skipped grid cell then emits
# neither a materialization nor check results.
@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "model_fit",
            group_name="analysis",
            partitions_def=fit_partitions,
            deps=[
                dg.AssetDep(
                    analysis_features,
                    partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="analysis"),
                )
            ],
            kinds={"numpyro"},
            automation_condition=dg.AutomationCondition.eager(),
            description="A NumPyro NUTS fit of one model of one analysis, stored as NetCDF (ArviZ "
            "InferenceData). Cells of the analysis x model grid whose model is not in the analysis are skipped.",
        )
    ],
    check_specs=FIT_CHECK_SPECS,
    partitions_def=fit_partitions,
    pool="mcmc",
    can_subset=True,
)
def model_fit(context: dg.AssetExecutionContext, config: RefitConfig, project: ProjectPaths):
    from hibayes.analysis import checker_when_known, fit_or_reuse, import_custom_code, load_features, run_checks
    from hibayes.model.platform import available_devices, enable_compilation_cache

    keys = context.partition_key.keys_by_dimension
    analysis, model_name = keys["analysis"], keys["model"]
    settings = _config_or_fail(project, analysis)
    if model_name not in settings.model_names:
        context.log.info(f"model '{model_name}' is not part of analysis '{analysis}': nothing to fit")
        return
    spec = settings.model(model_name)
    import_custom_code(settings, ("model", "checker"))
    enable_compilation_cache(project.jax_cache_path)
    features = load_features(project.features_path(analysis))
    path = project.fit_path(analysis, model_name)
    context.log.info(
        f"fitting {model_name} on '{analysis}': {spec.fit.chains} chains x ({spec.fit.warmup} warmup + "
        f"{spec.fit.samples} draws) on {available_devices()} host devices"
    )
    outcome = fit_or_reuse(settings, spec, features, path, force=config.force)
    wanted = [name for name, _ in settings.checkers if checker_when_known(name) == "after"]
    checks = run_checks(settings, outcome.model_state, list(dict.fromkeys([*ALWAYS_RUN, *wanted])))
    context.log.info(
        ("reused the stored fit" if outcome.reused else f"fitted in {outcome.seconds:.1f}s")
        + "; "
        + ", ".join(f"{c.name} {c.status}" for c in checks)
    )
    _, plots = save_figures(outcome.model_state.plots, project.artifacts_path(analysis) / model_name)
    checks_path(path).write_text(json.dumps([c.as_dict() for c in checks], default=str))
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "input_hash": outcome.input_hash,
            "reused_stored_fit": outcome.reused,
            "chains": spec.fit.chains,
            "draws_per_chain": spec.fit.samples,
            "chain_method": outcome.chain_method,
            "fit_seconds": round(outcome.seconds, 2),
            "checks": dg.MetadataValue.md(markdown_table(pd.DataFrame([c.as_dict() for c in checks]))),
            **{f"diag/{c.name}": c.value for c in checks if c.value is not None},
            **plots,
        },
        data_version=dg.DataVersion(outcome.input_hash),
    )
    yield from fit_check_results(checks)


@dg.asset(
    group_name="analysis",
    partitions_def=analysis_partitions,
    deps=[
        dg.AssetDep(
            "model_fit",
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="analysis"),
        )
    ],
    kinds={"matplotlib"},
    automation_condition=REFRESH & dg.AutomationCondition.all_deps_blocking_checks_passed(),
    description="Every communicator's output for the analysis: forest plot and summary table (PNG/CSV "
    "under HIBAYES_HOME/artifacts), previewed here.",
)
def analysis_report(context: dg.AssetExecutionContext, project: ProjectPaths) -> dg.MaterializeResult:
    import matplotlib

    matplotlib.use("Agg")
    from hibayes.analysis import load_features, run_communicators
    from hibayes.analysis_state import AnalysisState

    started = time.perf_counter()
    config = _config_or_fail(project, context.partition_key)
    features = load_features(project.features_path(config.name))
    state = AnalysisState(data=_processed(project, config.name), features=features.features, coords=features.coords, dims=features.dims)
    state.models = _fitted_models(project, config)
    missing = [name for name in config.model_names if name not in {m.model_name for m in state.models}]
    if not state.models:
        raise dg.Failure(f"analysis '{config.name}': no fitted models yet (missing: {', '.join(missing)})")
    results = run_communicators(config, state)
    out_dir = project.artifacts_path(config.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, object] = {"communicators": dg.MetadataValue.json(results)}
    written, plots = save_figures(state.plots, out_dir)
    metadata.update(plots)
    for name, table in state.tables.items():
        path = out_dir / f"{name}.csv"
        table.to_csv(path, index=False)
        written.append(path)
        metadata[f"table/{name}"] = dg.MetadataValue.md(markdown_table(table, max_rows=40))
    for stage, entry in state.logs:
        context.log.warning(f"{stage}: {entry}")
    failed = [name for name, status in results.items() if status == "error"]
    if failed:
        messages = "; ".join(entry for stage, entry in state.logs if stage == "communicate")
        raise dg.Failure(f"analysis '{config.name}': communicator(s) {', '.join(failed)} failed: {messages}")
    if missing:
        context.log.warning(f"no fit yet for: {', '.join(missing)}")
    metadata["files"] = dg.MetadataValue.json([str(p) for p in written])
    metadata["models"] = dg.MetadataValue.json([m.model_name for m in state.models])
    metadata["seconds"] = round(time.perf_counter() - started, 3)
    return dg.MaterializeResult(metadata=metadata)


def checks_path(fit_path: Path) -> Path:
    """The checker outcomes of a fit, next to its NetCDF file (read into DuckDB by `check_results`)."""
    return fit_path.with_suffix(".checks.json")


FIT_DEP = dg.AssetDep(
    "model_fit", partition_mapping=dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="analysis")
)


@dg.asset(
    group_name="analysis",
    partitions_def=analysis_partitions,
    deps=[FIT_DEP],
    kinds={"duckdb"},
    pool="duckdb",
    automation_condition=REFRESH,
    description="Every checker's outcome for every fit of the analysis (model, checker, status, value, "
    "threshold, message) as rows of the DuckDB table `check_results`.",
)
def check_results(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    config = _config_or_fail(project, context.partition_key)
    rows = []
    for model_name in config.model_names:
        path = checks_path(project.fit_path(config.name, model_name))
        if path.exists():
            rows += [{"model": model_name, **outcome} for outcome in json.loads(path.read_text())]
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
    pool="duckdb",
    automation_condition=REFRESH,
    description="ArviZ's comparison of the analysis's fitted models by PSIS-LOO (elpd, se, elpd_diff, dse, "
    "weights, warnings) and the best model, chosen taking the standard error of the difference into "
    "account. DuckDB table `model_comparison`, CSV and PNG under HIBAYES_HOME/artifacts/<analysis>.",
)
def model_comparison(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    import matplotlib

    matplotlib.use("Agg")
    from hibayes import idata as idata_api
    from hibayes.communicate import compare_models

    config = _config_or_fail(project, context.partition_key)
    models = _fitted_models(project, config)
    if not models:
        raise dg.Failure(f"analysis '{config.name}': no fitted models to compare")
    table, best, reason = compare_models(models)
    warehouse.get().replace_rows("model_comparison", "analysis", config.name, table)
    out_dir = project.artifacts_path(config.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "model_comparison.csv", index=False)
    metadata: dict[str, object] = {
        "best_model": best,
        "reason": reason,
        "table": dg.MetadataValue.md(markdown_table(table, 20)),
        "path": dg.MetadataValue.path(str(out_dir / "model_comparison.csv")),
    }
    if len(models) > 1:
        metadata.update(save_figures({"model_comparison": idata_api.plot_compare(table)}, out_dir)[1])
    return dg.MaterializeResult(metadata=metadata)


def _fitted_models(project: ProjectPaths, config: AnalysisConfig) -> list:
    """The analysis's stored fits as model states (models without a fit yet are left out)."""
    from hibayes import idata as idata_api
    from hibayes.analysis import import_custom_code, load_features
    from hibayes.analysis_state import ModelAnalysisState
    from hibayes.model import MODELS

    import_custom_code(config, ("model",))
    features = load_features(project.features_path(config.name))
    models = []
    for spec in config.models:
        path = project.fit_path(config.name, spec.model_name)
        if path.exists():
            models.append(
                ModelAnalysisState(
                    spec.model_name, MODELS.build(spec.name, spec.kwargs), spec, features.features,
                    features.coords, features.dims, inference_data=idata_api.load(path), is_fitted=True,
                )
            )
    return models


def _processed(project: ProjectPaths, analysis: str) -> pd.DataFrame:
    path = project.features_path(analysis) / "processed_data.parquet"
    return pd.read_parquet(path) if Path(path).exists() else pd.DataFrame()


def _config_or_fail(project: ProjectPaths, analysis: str) -> AnalysisConfig:
    try:
        return analysis_config(project, analysis)
    except ConfigError as err:
        raise dg.Failure(str(err)) from None
