"""IRT group: the response matrix, an IRT fit, anchor items, score estimates from the anchors,
leave-one-model-out validation and routing. The statistics are in `hibayes.irt`; results go to
DuckDB tables `irt_*`, the fit to fits/irt/irt_fit.nc and PNGs under artifacts/irt in the artifact
store (HIBAYES_ARTIFACTS, else HIBAYES_HOME). Settings come from HIBAYES_IRT_CONFIG (an `irt:`
section), the data from the warehouse or, when HIBAYES_IRT_ROUTERDC is set, from RouterDC-style JSON files.

The planner refreshes the group in one run when the warehouse's content or the IRT settings change.
Only `response_matrix` is in the warehouse's pool (`duckdb`, for a DuckDB file): the others fit for
seconds to minutes and touch the warehouse only in short reads and writes (which retry while another
process holds DuckDB's lock), so they never hold the slot that ingests and analyses wait for."""

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import numpy as np
import pandas as pd

from hibayes import artifacts
from hibayes.artifacts import Location
from hibayes_assets.metadata import embedded_png, markdown_table
from hibayes_assets.resources import WAREHOUSE_POOL, ProjectPaths, WarehouseResource

if TYPE_CHECKING:
    from hibayes.irt import AnchorPoints, IRTConfig, IRTFit, ResponseMatrix
    from hibayes.warehouse import Warehouse

GROUP = "irt"
RESPONSES_TABLE = "irt_responses"
WIDE_VIEW = "irt_responses_wide"
# Only samples of logs that finished: a cancelled run's missing items are not wrong answers.
SAMPLES_SQL = """
SELECT s.model, s.task, s.sample_id, s.epoch, s.scaffold, s.input, s.score, s.has_error, e.status AS log_status
FROM samples s JOIN evals e USING (log_key)
ORDER BY s.log_key, s.sample_id, s.epoch
"""


# -- shared plumbing -----------------------------------------------------------------------------
@contextmanager
def _library_calls(context: dg.AssetExecutionContext, project: ProjectPaths, notes: list[str]) -> Iterator[None]:
    """Bad data or settings (ResponseError, IRTConfigError, RouterDCFormatError and the library's other
    ValueErrors, a missing file) become a `dg.Failure` carrying the library's message; the library's
    warnings (dropped samples, fallbacks) are logged and kept for the metadata."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (ValueError, FileNotFoundError) as err:
            raise dg.Failure(
                description=f"{context.asset_key.to_user_string()}: {err} [the IRT settings: {_settings_file(project)}]",
                metadata={"error": type(err).__name__, "message": str(err)},
            ) from None
        finally:
            for message in dict.fromkeys(str(w.message) for w in caught if w.category is UserWarning):
                context.log.warning(message)
                notes.append(message)


def _settings_file(project: ProjectPaths) -> str:
    path = Path(project.irt_config)
    where = f"{path}" if path.exists() else f"{path} (missing: defaults in use; copy examples/irt.yaml there to change them)"
    return f"edit {where}, or point HIBAYES_IRT_CONFIG at another file"


def _irt_config(project: ProjectPaths) -> "tuple[IRTConfig, str]":
    """The settings and where they came from: HIBAYES_IRT_CONFIG, or the defaults when it is missing."""
    from hibayes.irt import IRTConfig

    path = Path(project.irt_config)
    if not path.exists():
        return IRTConfig(), f"IRTConfig defaults (no file at {path}; set HIBAYES_IRT_CONFIG)"
    return IRTConfig.from_yaml(path, section="irt"), str(path)


def _config_metadata(config: "IRTConfig", source: str, notes: list[str], started: float) -> dict[str, Any]:
    metadata: dict[str, Any] = {"config_source": source, "config": dg.MetadataValue.json(config.to_dict())}
    if notes:
        metadata["warnings"] = dg.MetadataValue.md("\n".join(f"- {note}" for note in notes))
    metadata["seconds"] = round(time.perf_counter() - started, 3)
    return metadata


def _load_responses(store: "Warehouse") -> "ResponseMatrix":
    """The response matrix that `response_matrix` stored (same respondent and item order)."""
    from hibayes.irt import ResponseMatrix

    if not all(store.has_table(table) for table in ("irt_items", "irt_respondents", RESPONSES_TABLE)):
        raise dg.Failure("no stored response matrix: materialize `response_matrix` first")
    items = store.query("SELECT * FROM irt_items ORDER BY position")
    respondents = store.query("SELECT * FROM irt_respondents ORDER BY position")
    cells = store.query(f"SELECT respondent, item, successes, trials FROM {RESPONSES_TABLE}")
    r_pos = {name: n for n, name in enumerate(respondents["respondent"])}
    i_pos = {name: n for n, name in enumerate(items["item"])}
    successes = np.zeros((len(r_pos), len(i_pos)))
    trials = np.zeros((len(r_pos), len(i_pos)), dtype=np.int64)
    rows, cols = cells["respondent"].map(r_pos).to_numpy(), cells["item"].map(i_pos).to_numpy()
    successes[rows, cols] = cells["successes"].to_numpy(float)
    trials[rows, cols] = cells["trials"].to_numpy(np.int64)
    return ResponseMatrix(
        respondents=list(r_pos), items=list(i_pos), successes=successes, trials=trials,
        item_table=items.drop(columns="position"),
        respondent_table=respondents.drop(columns=["position", "role", "rule"], errors="ignore"),
        rule=str(respondents["rule"].iloc[0]) if "rule" in respondents and len(respondents) else "none",
    )


def _fit_path(project: ProjectPaths) -> Location:
    return project.store.fit("irt", "irt_fit")


def _load_fit(project: ProjectPaths, train: "ResponseMatrix") -> "IRTFit":
    from hibayes import idata as idata_api
    from hibayes.irt import IRTFit

    path = _fit_path(project)
    if not artifacts.exists(path):
        raise dg.Failure(f"no IRT fit at {path}: materialize `irt_fit` first")
    fit = IRTFit.from_inference_data(idata_api.load(path))
    if fit.respondents != train.respondents or fit.items != train.items:
        raise dg.Failure(
            f"the IRT fit at {path} was made on other respondents or items than the current response matrix "
            "and new_models: materialize `irt_fit` again"
        )
    return fit


def _load_anchors(store: "Warehouse", fit: "IRTFit") -> "AnchorPoints":
    """The anchors that `anchor_points` stored (the clustered representation is not kept)."""
    from hibayes.irt import AnchorPoints

    anchors = store.query("SELECT * FROM irt_anchors ORDER BY position")
    clusters = store.query("SELECT * FROM irt_item_clusters ORDER BY position")
    if clusters["item"].tolist() != fit.items:
        raise dg.Failure("the stored anchors were chosen on other items than the IRT fit: materialize `anchor_points` again")
    return AnchorPoints(
        items=anchors["item"].tolist(), index=anchors["position"].to_numpy(int), weights=anchors["weight"].to_numpy(float),
        train_variance=anchors["train_variance"].to_numpy(float), cluster_of_anchor=anchors["cluster"].to_numpy(int),
        labels=clusters["cluster"].to_numpy(int), embedding=None, method=str(anchors["method"].iloc[0]),
        n_clusters=int(clusters["cluster"].max()) + 1, all_items=clusters["item"].tolist(),
    )


def _save_plot(fig: Any, project: ProjectPaths, name: str) -> tuple[str, dg.MetadataValue]:
    from hibayes.irt import save_figure

    path = artifacts.child(project.store.report(GROUP), f"{name}.png")
    with artifacts.writing(path) as png:
        save_figure(fig, png)
        thumbnail = embedded_png(png, name)
    return str(path), thumbnail


def _samples(project: ProjectPaths, warehouse: WarehouseResource) -> tuple[pd.DataFrame, str, dict[str, int]]:
    from hibayes.irt import read_routerdc

    paths = project.irt_routerdc_paths
    if paths:
        return read_routerdc(paths), "RouterDC: " + ", ".join(str(p) for p in paths), {}
    frame = warehouse.get().query(SAMPLES_SQL)
    incomplete = frame["log_status"] != "success"
    return frame[~incomplete].drop(columns="log_status"), "warehouse samples", {"n_incomplete_log_rows": int(incomplete.sum())}


def _split(responses: "ResponseMatrix", config: "IRTConfig") -> "tuple[ResponseMatrix, ResponseMatrix | None]":
    from hibayes.irt import split_respondents

    return split_respondents(responses, config.new_models)


def _training_responses(project: ProjectPaths, store: "Warehouse") -> "tuple[IRTConfig, str, ResponseMatrix]":
    """The IRT config, where it came from, and the training respondents' responses (all but the
    config's new models)."""
    config, source = _irt_config(project)
    train, _ = _split(_load_responses(store), config)
    return config, source, train


# -- assets --------------------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    deps=[dg.AssetDep("eval_samples", partition_mapping=dg.AllPartitionMapping())],
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="Respondents (model, or model + scaffold) x items (task + sample id), binarised by the "
    "config's rule: long table `irt_responses` (one row per answered cell), a wide VIEW `irt_responses_wide` "
    "(one row per item, one column per respondent), and `irt_items`, `irt_respondents`. Reads the warehouse, "
    "or the RouterDC JSON files in HIBAYES_IRT_ROUTERDC.",
)
def response_matrix(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from hibayes.irt import build_response_matrix, wide_select_sql

    started, notes = time.perf_counter(), []
    with _library_calls(context, project, notes):
        config, source = _irt_config(project)
        samples, data_source, counts = _samples(project, warehouse)
        responses = build_response_matrix(samples, config)
        _, new = _split(responses, config)
    new_names = set(new.respondents) if new is not None else set()
    respondents = responses.respondent_table.assign(
        position=range(len(responses.respondents)),
        role=["new" if name in new_names else "train" for name in responses.respondents],
        rule=responses.rule,
    )
    store = warehouse.get()
    rows = store.replace_table(RESPONSES_TABLE, responses.to_long())
    store.replace_table("irt_items", responses.item_table.assign(position=range(len(responses.items))))
    store.replace_table("irt_respondents", respondents)
    store.replace_view(WIDE_VIEW, wide_select_sql(RESPONSES_TABLE, responses.respondents))
    wide = store.query(f'SELECT * FROM "{WIDE_VIEW}" LIMIT 8')
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "source": data_source,
            "respondents": len(responses.respondents),
            "items": len(responses.items),
            "tasks": int(responses.item_table["task"].nunique()),
            "binarise_rule": responses.rule,
            **{key: int(value) for key, value in {**counts, **responses.counts}.items()},
            "respondent_table": dg.MetadataValue.md(
                markdown_table(respondents[["respondent", "role", "n_items", "accuracy"]], 40)
            ),
            "wide_view": dg.MetadataValue.md(f"`{WIDE_VIEW}`, first rows:\n\n" + markdown_table(wide, 8)),
            **_config_metadata(config, source, notes, started),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[response_matrix],
    kinds={"numpyro", "duckdb"},
    description="The IRT model (1PL, 2PL or MIRT; SVI, MAP or NUTS) fitted to the training respondents "
    "(all but the config's new_models), as NetCDF at fits/irt/irt_fit.nc in the artifact store; item parameters "
    "in `irt_item_parameters`, abilities in `irt_abilities`; fit diagnostics in the metadata.",
)
def irt_fit(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from hibayes.irt import fit_irt
    from hibayes.model.platform import enable_compilation_cache

    started, notes = time.perf_counter(), []
    store = warehouse.get()
    with _library_calls(context, project, notes):
        config, source, train = _training_responses(project, store)
        enable_compilation_cache(project.jax_cache_path)
        fit = fit_irt(train, config)
    path = _fit_path(project)
    with artifacts.writing(path) as local:
        fit.to_netcdf(local, responses=train)
    store.replace_table("irt_item_parameters", fit.item_frame(config.interval))
    abilities = fit.respondent_frame(config.interval)
    store.replace_table("irt_abilities", abilities)
    diagnostics = {f"diag/{k}": v for k, v in fit.diagnostics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    context.log.info(f"{fit.model} ({fit.method}, D={fit.dims}) on {len(train.respondents)} x {len(train.items)}: " + ", ".join(
        f"{k.removeprefix('diag/')} {v:.4g}" for k, v in diagnostics.items()))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "model": fit.model,
            "dims": fit.dims,
            "method": fit.method,
            "training_respondents": len(train.respondents),
            "items": len(train.items),
            **diagnostics,
            "abilities": dg.MetadataValue.md(markdown_table(abilities, 40)),
            **_config_metadata(config, source, notes, started),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[irt_fit],
    kinds={"duckdb", "matplotlib"},
    description="n anchor items chosen by weighted k-means on the items' fitted IRT parameters (or their "
    "correctness), one anchor per cluster, weighted by its cluster's share of the items: `irt_anchors`, "
    "every item's cluster in `irt_item_clusters`, and a plot of the clusters.",
)
def anchor_points(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from hibayes.irt import item_weights, plot_anchor_clusters, select_anchors

    started, notes = time.perf_counter(), []
    store = warehouse.get()
    with _library_calls(context, project, notes):
        config, source, train = _training_responses(project, store)
        fit = _load_fit(project, train)
        n_items = len(train.items)
        if config.n_anchors > n_items:
            notes.append(f"n_anchors {config.n_anchors} is more than the {n_items} items: every item is an anchor")
            context.log.warning(notes[-1])
        anchors = select_anchors(
            train, min(config.n_anchors, n_items), fit=fit, space=config.anchor_space,
            weights=item_weights(train, config.balance), seed=config.seed, restarts=config.kmeans_restarts,
        )
    frame = anchors.to_frame().assign(method=anchors.method)
    is_anchor = np.zeros(n_items, bool)
    is_anchor[anchors.index] = True
    store.replace_table("irt_anchors", frame)
    store.replace_table("irt_item_clusters", pd.DataFrame(
        {"item": anchors.all_items, "position": range(n_items), "cluster": anchors.labels, "is_anchor": is_anchor}
    ))
    texts = train.item_table.set_index("item")["input"].fillna("").astype(str).str.slice(0, 60)
    path, plot = _save_plot(plot_anchor_clusters(anchors), project, "anchor_clusters")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(frame),
            "anchors": anchors.n,
            "clusters": anchors.n_clusters,
            "items": n_items,
            "method": anchors.method,
            "anchor_items": dg.MetadataValue.md(markdown_table(frame.assign(input=frame["item"].map(texts))[
                ["item", "weight", "cluster_size", "train_variance", "input"]], 40)),
            "plot/anchor_clusters": plot,
            "files": dg.MetadataValue.json([path]),
            **_config_metadata(config, source, notes, started),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[anchor_points],
    kinds={"duckdb", "matplotlib"},
    description="Per respondent, its score on all items estimated from its answers to the anchors only: "
    "anchor (weighted mean), p-IRT and gp-IRT, each with an interval, next to the true score where every "
    "item was answered. New models are the point; training respondents (role 'train') are in-sample. "
    "Table `irt_estimates` and a plot.",
)
def performance_estimates(
    context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from hibayes.irt import estimate_performance, gp_parameters, item_weights, plot_estimates
    from hibayes.model.platform import enable_compilation_cache

    started, notes = time.perf_counter(), []
    store = warehouse.get()
    with _library_calls(context, project, notes):
        config, source = _irt_config(project)
        responses = _load_responses(store)
        train, new = _split(responses, config)
        fit = _load_fit(project, train)
        anchors = _load_anchors(store, fit)
        weights = item_weights(train, config.balance)
        enable_compilation_cache(project.jax_cache_path)
        gp = gp_parameters(train, fit, anchors, config, weights=weights)
        new_names = set(new.respondents) if new is not None else set()
        roles = {name: ("new" if name in new_names else "train") for name in responses.respondents}
        estimates = estimate_performance(fit, anchors, responses, gp=gp, config=config, weights=weights, roles=roles)
    estimates = estimates.sort_values("role", key=lambda role: role != "new", kind="stable").reset_index(drop=True)
    rows = store.replace_table("irt_estimates", estimates)
    path, plot = _save_plot(plot_estimates(estimates, title=f"Score estimated from {anchors.n} anchor items"), project, "estimates")
    shown = ["respondent", "role", "n_seen", "true_score", "anchor", "anchor_lo", "anchor_hi",
             "pirt", "pirt_lo", "pirt_hi", "gpirt", "gpirt_lo", "gpirt_hi"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "new_models": len(new_names),
            "interval": config.interval,
            "gp/bias": gp.bias,
            "gp/sigma2": gp.sigma2,
            "gp/method": gp.method,
            "gp/mu": float(estimates["gp_mu"].dropna().iloc[0]) if estimates["gp_mu"].notna().any() else float("nan"),
            "estimates": dg.MetadataValue.md(markdown_table(estimates[shown], 40)),
            "plot/estimates": plot,
            "files": dg.MetadataValue.json([path]),
            **_config_metadata(config, source, notes, started),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[response_matrix],
    kinds={"numpyro", "duckdb"},
    description="Leave-one-model-out: each training respondent in turn (or each of `validation_folds` folds of "
    "them, when there are more respondents) is left out of the IRT fit, "
    "estimated from its answers to the anchors only and compared with its true score. Per respondent in "
    "`irt_validation`; per estimator (anchor, p-IRT, gp-IRT, a random sample of as many items, and the "
    "no-data baseline `train_mean`) MAE, RMSE, bias and interval coverage in `irt_validation_summary`.",
)
def irt_validation(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from hibayes.irt import item_weights, leave_one_model_out, plot_estimates, summarise_validation
    from hibayes.model.platform import enable_compilation_cache

    started, notes = time.perf_counter(), []
    store = warehouse.get()
    with _library_calls(context, project, notes):
        config, source, train = _training_responses(project, store)
        enable_compilation_cache(project.jax_cache_path)
        results = leave_one_model_out(
            train, config, weights=item_weights(train, config.balance),
            groups=train.item_table["task"].to_numpy(), progress=context.log.info,
        )
        summary = summarise_validation(results)
    # True / False / None per row: a nullable boolean, so a column of Nones is not typed NULL in DuckDB
    results = results.astype({column: "boolean" for column in results.columns if column.startswith("covered_")})
    store.replace_table("irt_validation", results)
    store.replace_table("irt_validation_summary", summary)
    path, plot = _save_plot(
        plot_estimates(results, title="Leave-one-model-out: each model estimated without its own data"), project, "validation"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(results),
            "held_out": len(results),
            **{f"mae/{row.estimator}": float(row.mae) for row in summary.itertuples()},
            "summary": dg.MetadataValue.md(markdown_table(summary, 10)),
            "per_respondent": dg.MetadataValue.md(markdown_table(
                results[["respondent", "true_score", "anchor", "pirt", "gpirt", "random", "train_mean"]], 40)),
            "plot/validation": plot,
            "files": dg.MetadataValue.json([path]),
            **_config_metadata(config, source, notes, started),
        }
    )


@dg.asset(
    group_name=GROUP,
    deps=[response_matrix],
    kinds={"numpyro", "duckdb", "matplotlib"},
    description="Routing: items are split into train and test (the data's own split when it has one); a "
    "MIRT fitted on the train items, item parameters moved to each test item from its nearest train items "
    "(TF-IDF of the item text), and each test item sent to the respondent most likely to get it right. "
    "Accuracy per task, routed vs best single model vs oracle (`irt_routing`), the choices "
    "(`irt_routing_choices`), per-respondent accuracy (`irt_routing_models`) and a plot.",
)
def routing_report(context: dg.AssetExecutionContext, project: ProjectPaths, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from hibayes.irt import evaluate_routing, plot_routing, split_items
    from hibayes.model.platform import enable_compilation_cache

    started, notes = time.perf_counter(), []
    store = warehouse.get()
    with _library_calls(context, project, notes):
        config, source = _irt_config(project)
        responses = _load_responses(store)
        train_items, test_items = split_items(responses, config.routing_test_fraction, seed=config.seed)
        enable_compilation_cache(project.jax_cache_path)
        result = evaluate_routing(train_items, test_items, config)
    store.replace_table("irt_routing", result.report)
    store.replace_table("irt_routing_choices", result.choices)
    store.replace_table("irt_routing_models", result.model_accuracy)
    path, plot = _save_plot(plot_routing(result.report), project, "routing")
    overall = result.report.set_index("task").loc["ALL"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(result.report),
            "train_items": len(train_items.items),
            "test_items": len(test_items.items),
            "routed_accuracy": float(overall["routed_accuracy"]),
            "best_single_model": str(overall["best_single_model"]),
            "best_single_accuracy": float(overall["best_single_accuracy"]),
            "oracle_accuracy": float(overall["oracle_accuracy"]),
            "knn_accuracy": float(overall.get("knn_accuracy", float("nan"))),
            "report": dg.MetadataValue.md(markdown_table(result.report, 40)),
            "plot/routing": plot,
            "files": dg.MetadataValue.json([path]),
            **_config_metadata(config, source, notes, started),
        }
    )
