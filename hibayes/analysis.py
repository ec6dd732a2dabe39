"""The analysis stages as plain functions over `AnalysisState`, for notebooks, the CLI and the
Dagster assets alike: load -> process -> model (fit, with the checkers) -> communicate.

Notebook use, with HiBayES's names:

    from hibayes.analysis import load_data, process_data, model, model_checks, communicate
    config = load_analysis(Path("config.yaml"))
    state = load_data(config)
    state = process_data(config, state)
    state = model(config, state)          # runs the "before" checkers, fits, then the "after" ones
    state = communicate(config, state)    # figures in state.plots, tables in state.tables
    table = compare(config, state)        # model-against-model comparisons (`comparisons` for more)

Features and fits are stored as files (NumPy .npz + JSON, and NetCDF), never pickle."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hibayes import artifacts
from hibayes import idata as idata_api
from hibayes.artifacts import Location
from hibayes.analysis_state import AnalysisState, ModelAnalysisState
from hibayes.check import CheckOutcome
from hibayes.communicate import COMMUNICATORS
from hibayes.config import AnalysisConfig, CompareConfig, ModelSpec, stable_hash
from hibayes.model import MODELS, FitResult, fit_spec, warm_start
from hibayes.model.warm_start import WarmStart
from hibayes.plugins import component_failure
from hibayes.process import run_processors

if TYPE_CHECKING:
    from hibayes.load.loader import LoadReport

FIT_FORMAT_VERSION = "1"
PROCESSED_DATA_FILE = "processed_data.parquet"
log = logging.getLogger("hibayes")


def import_custom_code(config: AnalysisConfig, stages: tuple[str, ...] | None = None) -> None:
    """Import the config's `path:` files (of every stage, or of `stages`) so their decorated
    builders register, once per process. A file that is missing or does not import raises
    FileNotFoundError or CustomFileError naming it (and the line)."""
    from hibayes.plugins import load_custom_files

    for stage, paths in config.custom_paths.items():
        if stages is None or stage in stages:
            load_custom_files(paths, config.folder, f"custom {stage} file")


def validate(config: AnalysisConfig) -> None:
    """Before anything expensive: every model's required features must be made by the processors.
    Raises a ConfigError naming each missing feature and the processor that would make it."""
    from hibayes.config import ConfigError
    from hibayes.model import missing_features

    import_custom_code(config, ("processor", "model"))
    problems = missing_features(config.processors, config.models)
    if problems:
        raise ConfigError(f"{config.where}: " + "; ".join(problems))
    check_platform(config)


def check_platform(config: AnalysisConfig) -> None:
    """Raise a ConfigError, naming the file and the field, when this machine cannot fit on the
    config's `platform.device_type` (a GPU asked for where JAX sees none)."""
    from hibayes.config import ConfigError
    from hibayes.model.platform import missing_platform

    device_type = config.platform.device_type
    problem = missing_platform(device_type)
    if problem:
        raise ConfigError(
            f"{config.where}: 'platform.device_type' is {device_type}, but {problem}; set 'device_type: cpu' "
            "(or remove it) to fit on the CPU, or run this analysis where JAX has a GPU (jax installed with "
            "its CUDA plugin, e.g. pip install 'jax[cuda12]')"
        )


def load_data(config: AnalysisConfig, display: Any = None) -> AnalysisState:
    """Read the config's logs (or extracted_data) through its extractors into a new state. An
    extractor that raised leaves its columns empty on those rows and is listed in `state.failures`."""
    from hibayes.load.loader import DataLoaderConfig, load_data_with_report

    import_custom_code(config, ("extractor",))
    data, report = load_data_with_report(DataLoaderConfig.from_analysis(config), config.folder, display)
    state = AnalysisState(data=data)
    state.add_log(report.summary(), "load")
    for problem in report.problems():
        state.add_log(problem, "load")
    state.failures.extend(extractor_failures(report))
    return state


def extractor_failures(report: LoadReport) -> list[str]:
    """One line per extractor that raised, with its first examples (each with its file and line)."""
    return [
        f"extractor '{name}' raised on {problem.failed} sample(s); first: {' | '.join(problem.examples)}"
        for name, problem in report.extractor_problems.items()
        if problem.failed
    ]


def process_data(config: AnalysisConfig, state: AnalysisState | pd.DataFrame, display: Any = None) -> AnalysisState:
    """Run the config's processors on the state's data (or on a dataframe)."""
    import_custom_code(config, ("processor",))
    if isinstance(state, pd.DataFrame):
        state = AnalysisState(data=state)
    return run_processors(state, config.processors, display)


def model(config: AnalysisConfig, state: AnalysisState, display: Any = None) -> AnalysisState:
    """Fit every model of the config: the "before" checkers (prior predictive) first, then NUTS,
    then the "after" checkers. Results go to `state.models`; a checker that failed, to
    `state.failures` too."""
    import_custom_code(config, ("model", "checker"))
    for spec in config.models:
        model_fn = MODELS.build(spec.name, spec.kwargs)
        fitted = ModelAnalysisState(
            spec.model_name, model_fn, spec, _as_jax(state.features), state.coords, state.dims,
            test_features=state.test_features, platform_config=config.platform,
        )
        result = fit_with_prior_checks(config, fitted, display)
        fitted.add_diagnostic("fit_seconds", result.seconds)
        state.add_log(f"{spec.model_name}: fitted in {result.seconds:.1f}s ({result.chain_method} chains)", "model")
        run_checks(config, fitted, when="after", display=display)
        state.failures.extend(check_failures(fitted.model_name, fitted.checks.values()))
        state.models = [m for m in state.models if m.model_name != spec.model_name] + [fitted]
    return state


def model_checks(config: AnalysisConfig, state: AnalysisState, display: Any = None) -> AnalysisState:
    """Run the config's "after" checkers again on every fitted model of the state; a checker that
    failed is also listed in `state.failures`."""
    import_custom_code(config, ("checker",))
    for fitted in state.models:
        if fitted.is_fitted:
            outcomes = run_checks(config, fitted, when="after", display=display)
            state.failures.extend(check_failures(fitted.model_name, outcomes))
    return state


def check_failures(model_name: str, outcomes: Iterable[CheckOutcome]) -> list[str]:
    """One line per "error" outcome: a checker that raised (its message says where), returned
    something else than pass/fail/error/NA, or is unknown."""
    return [f"{model_name}: checker '{o.name}' {o.message}" for o in outcomes if o.status == "error"]


check = model_checks


@dataclass(frozen=True)
class StoredFeatures:
    features: dict[str, Any]
    coords: dict[str, list[Any]]
    dims: dict[str, list[str]]
    digest: str
    test_features: dict[str, Any] = field(default_factory=dict)  # held-out rows (a processor's `test` split)


def save_features(state: AnalysisState, folder: Location) -> StoredFeatures:
    """Write the features, test features, coords and dims (`hibayes.artifacts.write_features`, as the
    CLI's saved states have them) and the processed table (parquet) to `folder` in the artifact store."""
    artifacts.write_features(folder, state.features, state.test_features, state.coords, state.dims)
    buffer = io.BytesIO()
    state.processed_data.to_parquet(buffer, index=False)
    artifacts.write_bytes(artifacts.child(folder, PROCESSED_DATA_FILE), buffer.getvalue())
    return load_features(folder)


def load_features(folder: Location) -> StoredFeatures:
    """The features `save_features` wrote. Their digest is of the arrays, coords and dims, and of the
    test features when there are any (so fits of analyses without a split keep their hashes)."""
    stored = artifacts.read_features(folder)
    if stored is None:
        raise FileNotFoundError(f"no features in {folder}: materialize analysis_features first")
    meta = {"coords": stored.coords, "dims": stored.dims}
    hashed = {k: _array_digest(v) for k, v in sorted(stored.features.items())} | {"meta": meta}
    if stored.test_features:
        hashed["test"] = {k: _array_digest(v) for k, v in sorted(stored.test_features.items())}
    return StoredFeatures(
        artifacts.scalars_as_values(stored.features), stored.coords, stored.dims, stable_hash(hashed),
        artifacts.scalars_as_values(stored.test_features),
    )


def load_processed_data(folder: Location) -> pd.DataFrame:
    """The processed table `save_features` wrote beside the features (empty when there is none)."""
    path = artifacts.child(folder, PROCESSED_DATA_FILE)
    return pd.read_parquet(io.BytesIO(artifacts.read_bytes(path))) if artifacts.exists(path) else pd.DataFrame()


def fit_input_hash(spec: ModelSpec, features: StoredFeatures) -> str:
    """What a fit depends on: the data, the model spec (priors, fit settings) and library versions."""
    import jax
    import numpyro

    return stable_hash(
        {
            "features": features.digest,
            "model": spec.digest(),
            "numpyro": numpyro.__version__,
            "jax": jax.__version__,
            "format": FIT_FORMAT_VERSION,
        }
    )


def stored_fit_hash(config: AnalysisConfig, spec: ModelSpec, features: StoredFeatures) -> str:
    """The hash a stored fit of these inputs carries: data, model spec, prior checks, library versions."""
    before = [(name, kwargs) for name, kwargs in config.checkers if checker_when_known(name) == "before"]
    return stable_hash({"fit": fit_input_hash(spec, features), "before": before})


def fit_problem(config: AnalysisConfig, spec: ModelSpec, features: StoredFeatures, path: Location) -> str | None:
    """Why `path` (in the artifact store) does not hold the fit of the current inputs (None when it does)."""
    if not artifacts.exists(path):
        return "not fitted yet"
    try:
        stored = idata_api.stored_attrs(path)
    except idata_api.UnreadableFitError as err:
        return f"{err}; the next run of model_fit refits it (materialize model_fit, or delete the file)"
    if stored.get("hibayes_input_hash") != stored_fit_hash(config, spec, features):
        return "the stored fit is of other data or settings (its refit failed or has not run)"
    return None


@dataclass
class FitOutcome:
    model_state: ModelAnalysisState
    path: Location
    input_hash: str
    reused: bool
    seconds: float
    chain_method: str
    refit_reason: str = ""  # why a stored fit was not reused though it might have been (unreadable)
    warm_started: bool = False  # started from the previous fit's chains (hibayes.model.warm_start)
    warmup: int = 0


def fit_or_reuse(
    config: AnalysisConfig, spec: ModelSpec, features: StoredFeatures, path: Location, force: bool = False, display: Any = None
) -> FitOutcome:
    """Fit the model (with the config's "before" checkers) unless `path` already holds a fit of
    the same inputs: data, model spec, prior checks and library versions (one hash). `path` is in
    the artifact store (`hibayes.artifacts`): a fit another process wrote there is reused as well."""
    input_hash = stored_fit_hash(config, spec, features)
    model_fn = MODELS.build(spec.name, spec.kwargs)
    state = ModelAnalysisState(
        spec.model_name, model_fn, spec, _as_jax(features.features), features.coords, features.dims,
        test_features=features.test_features, platform_config=config.platform,
    )
    refit_reason = ""
    if not force and artifacts.exists(path):
        try:
            stored = idata_api.load(path)
        except idata_api.UnreadableFitError as err:  # a truncated file: refit, and the new one replaces it
            refit_reason = f"{err}; refitting"
            log.warning(refit_reason)
        else:
            if idata_api.attrs(stored).get("hibayes_input_hash") == input_hash:
                state.inference_data, state.is_fitted = stored, True
                return FitOutcome(state, path, input_hash, True, 0.0, idata_api.attrs(stored).get("hibayes_chain_method", ""))
    warm_path = warm_start.state_path(path)
    # A forced refit (the nightly one, or by hand) starts cold: a fresh, independent run of the sampler.
    result = fit_with_prior_checks(config, state, display, None if force else _warm_start(config, warm_path))
    attrs = {
        "hibayes_input_hash": input_hash,
        "hibayes_model": spec.model_name,
        "hibayes_model_spec": json.dumps({"name": spec.name, "tag": spec.tag, "kwargs": spec.kwargs, "fit": spec.fit.__dict__}, default=str),
        "hibayes_chain_method": result.chain_method,
        "hibayes_fit_seconds": f"{result.seconds:.2f}",
        "hibayes_warmup": str(result.warmup),
        "hibayes_warm_started": str(result.warm_started).lower(),
    }
    idata_api.save(state.inference_data, path, attrs)
    if result.warm_state is not None:
        result.warm_state.save(warm_path)
    else:
        artifacts.delete(warm_path)
    return FitOutcome(
        state, path, input_hash, False, result.seconds, result.chain_method, refit_reason, result.warm_started, result.warmup
    )


def _warm_start(config: AnalysisConfig, path: Location) -> WarmStart | None:
    """The previous fit's chains, held to the analysis's own r_hat and divergences thresholds."""
    stored = warm_start.WarmStart.load(path)
    if stored is None:
        return None
    checkers = dict(config.checkers)
    r_hat = checkers["r_hat"].get("threshold", warm_start.MAX_R_HAT) if "r_hat" in checkers else None
    divergences = checkers["divergences"].get("threshold", 0) if "divergences" in checkers else None
    return stored.limits(r_hat, divergences)


def fit_with_prior_checks(
    config: AnalysisConfig, fitted: ModelAnalysisState, display: Any = None, warm: WarmStart | None = None
) -> FitResult:
    """The "before" checkers (prior predictive), then NUTS (from `warm`, the previous fit's
    chains, when it fits); the prior groups they drew are kept next to the posterior."""
    run_checks(config, fitted, when="before", display=display)
    result = fit_spec(
        fitted.model_config, fitted.features, fitted.coords, fitted.dims, config.platform.chain_method, warm, config.platform.device_type
    )
    prior = fitted.inference_data
    fitted.inference_data = result.inference_data if prior is None else idata_api.extend(result.inference_data, prior, replace=False)
    fitted.is_fitted = True
    return result


def checker_when_known(name: str) -> str:
    from hibayes.check import CHECKERS, checker_when

    return checker_when(name) if name in CHECKERS else "after"


def run_checks(
    config: AnalysisConfig,
    model_state: ModelAnalysisState,
    names: list[str] | None = None,
    when: str = "after",
    display: Any = None,
) -> list[CheckOutcome]:
    """Run the config's checkers of one stage ("before" or "after" fitting), or just `names` with
    the config's kwargs when it sets them; outcomes are also kept in `model_state.checks`."""
    from hibayes.check import run_checks as run_stage

    wanted = [(name, config.checker_kwargs(name)) for name in names] if names else config.checkers
    return run_stage(wanted, model_state, when, display)


def communicate(config: AnalysisConfig, state: AnalysisState, display: Any = None) -> AnalysisState:
    """Run the config's communicators; each one's result is logged in `state.logs`, and each
    failure also listed in `state.failures`."""
    for name, status in run_communicators(config, state, display).items():
        state.add_log(f"{name}: {status}", "communicate")
    return state


def run_communicators(config: AnalysisConfig, state: AnalysisState, display: Any = None) -> dict[str, str]:
    """Run the config's communicators and return each one's result. One that raised is "error",
    and the others still run; each "error" is logged and listed in `state.failures`, naming the
    communicator, its file and line."""
    import_custom_code(config, ("communicator",))
    results = {}
    for index, (name, kwargs) in enumerate(config.communicators):
        failure = None
        try:
            state, status = COMMUNICATORS.build(name, kwargs)(state, display)
        except Exception as err:
            status = "error"
            failure = component_failure("communicator", name, COMMUNICATORS.builder(name) if name in COMMUNICATORS else None, err)
        if status == "error":
            failure = failure or f"communicator '{name}' returned 'error'"
            state.add_log(failure, "communicate")
            state.failures.append(failure)
        results[name if name not in results else f"{name}_{index}"] = status
    return results


@dataclass(frozen=True)
class ComparisonResult:
    """The comparisons of an analysis (`hibayes.comparisons.COMPARISON_COLUMNS`, one row per pair)
    and, in words, which rows were compared and where the posterior columns come from (or why
    they are empty)."""

    table: pd.DataFrame
    rows: str
    posterior: str
    listed: bool = False  # the config lists its contrasts: the first is the one to announce

    @property
    def headline(self) -> str | None:
        from hibayes.comparisons import headline

        return headline(self.table, listed=self.listed)

    def figure(self, title: str | None = None) -> Any:
        from hibayes.comparisons import plot_comparisons

        return plot_comparisons(self.table, title=title)


def comparisons(config: AnalysisConfig, state: AnalysisState) -> ComparisonResult:
    """Every pair of models (or the config's `compare.contrasts`) compared on the items both
    answered: `hibayes.comparisons.compare_models` on the per-item rows of `state.data` (see
    `comparison_frame`), with the posterior of `state.models`' chosen fit (see
    `comparison_posterior`). Raises ComparisonError (a ValueError) naming the config file."""
    from hibayes.comparisons import ComparisonError, compare_models

    frame, rows = comparison_frame(config, state.data)
    wanted = {name for pair in config.compare.contrasts or () for name in pair} or set(frame["model"])
    draws, posterior = comparison_posterior(config, state)
    if draws is not None and not wanted <= set(draws.columns):
        missing = sorted(wanted - set(draws.columns))
        draws, posterior = None, f"{posterior}; but it has no cells of {', '.join(missing)}, so the posterior columns are empty"
    try:
        table = compare_models(
            frame, score_col="score", model_col="model", item_col="item",
            cluster_col="cluster" if "cluster" in frame.columns else None,
            contrasts=config.compare.contrasts, posterior=draws,
        )
    except ComparisonError as err:
        raise _naming_the_config(config, err) from None
    return ComparisonResult(table, rows, posterior, listed=config.compare.contrasts is not None)


def check_comparable(config: AnalysisConfig, data: pd.DataFrame) -> None:
    """Raise the ComparisonError `comparisons` would raise on this data (a missing or non-numeric
    column, an item in two clusters, a contrast naming a model without scores) before anything is
    fitted."""
    from hibayes.comparisons import ComparisonError, item_table

    frame, _ = comparison_frame(config, data)
    try:
        scores, _ = item_table(frame, cluster_col="cluster" if "cluster" in frame.columns else None)
    except ComparisonError as err:
        raise _naming_the_config(config, err) from None
    unknown = sorted({name for pair in config.compare.contrasts or () for name in pair} - set(scores.columns))
    if unknown:
        raise ComparisonError(
            f"{config.where}: 'compare.contrasts' names models without scores: {', '.join(unknown)}; "
            f"the models are: {', '.join(map(str, scores.columns))}"
        )


def _naming_the_config(config: AnalysisConfig, err: Exception) -> Exception:
    """A comparison error with the config file in front, as every stage's errors have it."""
    from hibayes.comparisons import ComparisonError

    return ComparisonError(f"{config.where}: comparisons: {err}")


def compare(config: AnalysisConfig, state: AnalysisState) -> pd.DataFrame:
    """The comparisons table of `comparisons` (the stage's answer, for notebooks)."""
    return comparisons(config, state).table


def comparison_frame(config: AnalysisConfig, data: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """(model, item, score[, cluster]) rows, one per sample x epoch, and which rows they are.

    The rows are the analysis data after the config's processors that come before its first
    `groupby` (which turns samples into counts): the analysis's own row filters apply (the
    example analyses drop the judge task's 0..10 ratings from their 0/1 scores) and its
    `map_columns` renames are followed, so `compare:` names the extractors' columns. When those
    rows lack a column (a custom processor aggregated them), the analysis data before processing
    is used. The default item is `task/sample_id`: Inspect's sample ids repeat across tasks."""
    from hibayes.comparisons import ComparisonError

    prefix = _before_first_groupby(config)
    import_custom_code(config, ("processor",))
    processed = run_processors(AnalysisState(data=data.copy()), prefix).processed_data if prefix else data
    shown = ", ".join(name for name, _ in prefix)
    try:
        return _comparison_columns(config.compare, processed, renamed(prefix)), (
            f"{len(processed)} rows of the analysis data after {shown}" if prefix else f"{len(processed)} rows of the analysis data"
        )
    except ComparisonError as err:
        if not prefix:
            raise _naming_the_config(config, err) from None
    try:
        return _comparison_columns(config.compare, data, {}), f"{len(data)} rows of the analysis data before processing"
    except ComparisonError as err:
        raise _naming_the_config(config, err) from None


def comparison_columns(config: AnalysisConfig) -> list[str] | None:
    """The analysis data's columns that `comparison_frame` reads, or None when processors run on
    the rows before their first `groupby` (a filter may read any column)."""
    if _before_first_groupby(config):
        return None
    settings = config.compare
    names = ["model", settings.score, *([settings.item] if settings.item is not None else ["sample_id", "task"])]
    return list(dict.fromkeys([*names, *([settings.cluster] if settings.cluster is not None else [])]))


def _before_first_groupby(config: AnalysisConfig) -> list[tuple[str, dict[str, Any]]]:
    """The processors before the first `groupby` (which turns samples into counts)."""
    prefix = []
    for name, kwargs in config.processors:
        if name == "groupby" and kwargs.get("groupby_columns"):
            break
        prefix.append((name, kwargs))
    return prefix


def renamed(processors: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """Each column's name after the `map_columns` steps among `processors` (those renamed only)."""
    names: dict[str, str] = {}
    for name, kwargs in processors:
        if name == "map_columns":
            mapping = kwargs.get("column_mapping") or {}
            names = {old: mapping.get(new, new) for old, new in names.items()}
            names.update({old: new for old, new in mapping.items() if old not in names})
    return names


def _comparison_columns(settings: CompareConfig, rows: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    from hibayes.comparisons import ComparisonError

    def column(name: str, key: str) -> pd.Series:
        actual = names.get(name, name)
        if actual not in rows.columns:
            raise ComparisonError(
                f"no column '{actual}' for {key} (set 'compare.{key}'); the rows have: {', '.join(map(str, rows.columns))}"
            )
        return rows[actual]

    frame = pd.DataFrame({"model": column("model", "model").astype(str), "score": column(settings.score, "score")})
    if settings.item is not None:
        frame["item"] = column(settings.item, "item")
    else:
        sample = column("sample_id", "item").astype(str)
        task = names.get("task", "task")
        frame["item"] = rows[task].astype(str) + "/" + sample if task in rows.columns else sample
    if settings.cluster is not None and (settings.cluster_given or names.get(settings.cluster, settings.cluster) in rows.columns):
        frame["cluster"] = column(settings.cluster, "cluster")
    return frame


def comparison_posterior(config: AnalysisConfig, state: AnalysisState) -> tuple[pd.DataFrame | None, str]:
    """Draws of each evaluated model's mean score from the fit named by `compare.posterior`, else
    the best by LOO (`get_best_model`), else the first fitted model; None with the reason when no
    fit gives them (`hibayes.model.mean_scores`). The cells' models come from the processed data's
    model column (after the config's renames)."""
    from hibayes.model.mean_scores import mean_score_draws

    fitted = [m for m in state.models if m.is_fitted and m.inference_data is not None]
    if not fitted:
        return None, "no fitted model (run the model stage first), so the posterior columns are empty"
    if config.compare.posterior is not None:
        chosen, why = state.get_model(config.compare.posterior), "named by compare.posterior"
    elif len(fitted) == 1:
        chosen, why = fitted[0], "the only fitted model"
    else:
        try:
            chosen, why = state.get_best_model(), "the best by PSIS-LOO"
        except ValueError as err:
            chosen, why = fitted[0], f"the first model: the fits could not be compared ({err})"
    model_column = renamed(config.processors).get("model", "model")
    processed = state.processed_data if state.processed_data is not None else pd.DataFrame()
    if model_column not in processed.columns:
        return None, f"{chosen.model_name} ({why}): the processed data has no '{model_column}' column to match its cells to models"
    result = mean_score_draws(chosen.model_name, chosen.model, chosen.features, chosen.inference_data, processed[model_column].tolist())
    return result.draws, f"{why}; {result.note}"


def _as_jax(features: dict[str, Any]) -> dict[str, Any]:
    import jax.numpy as jnp

    return {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in features.items()}


def _array_digest(array: np.ndarray) -> str:
    return f"{array.dtype}{array.shape}" + hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


