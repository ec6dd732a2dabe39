"""The built-in processors. Each builder takes its YAML kwargs and returns
`inner(state: AnalysisState, display) -> AnalysisState`, acting on `state.processed_data`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from hibayes.analysis_state import AnalysisState
from hibayes.registry import Registry, did_you_mean, make_decorator

DataProcessor = Callable[[AnalysisState, Any], AnalysisState]
PROCESSORS: Registry[DataProcessor] = Registry("processor")
process = make_decorator(PROCESSORS)


class ProcessingError(ValueError):
    pass


def run_processors(
    state: AnalysisState, processors: Iterable[tuple[str, dict[str, Any]]], display: Any = None
) -> AnalysisState:
    for name, kwargs in processors:
        processor = PROCESSORS.build(name, kwargs)
        if state.processed_data is None or state.processed_data.empty:
            raise ProcessingError(f"processor '{name}': there is no data to process (0 rows)")
        state = processor(state, display)
    return state


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], who: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise ProcessingError(
                f"{who}: column '{column}' is not in the data{did_you_mean(column, frame.columns)}; "
                f"columns are: {', '.join(map(str, frame.columns))}"
            )


def to_jax_array(values: pd.Series | np.ndarray) -> Any:
    """Integers to int32, floats to float32, bools stay bool: the dtypes NumPyro models expect."""
    import jax.numpy as jnp

    array = np.asarray(values)
    if array.dtype == object:
        raise ProcessingError("cannot turn a column of mixed or text values into a numeric feature")
    if np.issubdtype(array.dtype, np.bool_):
        return jnp.asarray(array)
    if np.issubdtype(array.dtype, np.integer):
        return jnp.asarray(array, dtype=jnp.int32)
    return jnp.asarray(array, dtype=jnp.float32)


@process
def map_columns(column_mapping: dict[str, str] | None = None) -> DataProcessor:
    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        if column_mapping:
            _require_columns(state.processed_data, column_mapping, "map_columns")
            state.processed_data = state.processed_data.rename(columns=column_mapping)
        return state

    return inner


@process
def groupby(groupby_columns: list[str] | None = None, *args: Any, **kwargs: Any) -> DataProcessor:
    """Aggregate Bernoulli rows to binomial counts (`n_correct`, `n_total`) per group."""

    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        columns = list(groupby_columns or ["model"])
        data = state.processed_data
        _require_columns(data, [*columns, "score"], "groupby")
        scored = data.dropna(subset=["score"])
        if len(scored) < len(data):
            state.add_log(f"groupby: dropped {len(data) - len(scored)} rows without a numeric score", "process")
        state.processed_data = (
            scored.groupby(columns, *args, **{"observed": True, **kwargs})
            .agg(n_correct=("score", "sum"), n_total=("score", "count"))
            .reset_index()
        )
        return state

    return inner


@process
def drop_rows_with_missing_features(feature_names: list[str] | None = None) -> DataProcessor:
    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        names = list(feature_names or ["model", "task"])
        _require_columns(state.processed_data, names, "drop_rows_with_missing_features")
        state.processed_data = state.processed_data.dropna(subset=names)
        return state

    return inner


@process
def extract_observed_feature(feature_name: str = "score", test: str | None = None) -> DataProcessor:
    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        data = state.processed_data
        _require_columns(data, [feature_name], "extract_observed_feature")
        values = data[feature_name]
        if values.isna().any():
            raise ProcessingError(
                f"extract_observed_feature: column '{feature_name}' has {int(values.isna().sum())} missing values"
            )
        if np.issubdtype(values.dtype, np.floating) and np.all(np.mod(values, 1) == 0) and feature_name.startswith("n_"):
            values = values.astype(np.int64)  # counts arrive as float sums; Binomial wants integers
        state.features["obs"] = to_jax_array(values.to_numpy())
        return state

    return inner


@process
def extract_features(
    categorical_features: list[str] | None = None,
    continuous_features: list[str] | None = None,
    *,
    standardise: bool = False,
    reference_categories: dict[str, Any] | None = None,
    category_order: dict[str, list[Any]] | None = None,
) -> DataProcessor:
    """Index arrays for categorical columns and arrays for continuous ones (no-op without args)."""

    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        data = state.processed_data
        _require_columns(data, [*(categorical_features or []), *(continuous_features or [])], "extract_features")
        for column in categorical_features or []:
            levels = _levels(data[column], column, (category_order or {}).get(column), (reference_categories or {}).get(column))
            index = pd.Categorical(data[column], categories=levels).codes
            state.features[f"{column}_index"] = to_jax_array(index.astype(np.int32))
            state.features[f"num_{column}"] = len(levels)
            state.coords[column] = list(levels)
            state.dims[f"{column}_effects"] = [column]
        for column in continuous_features or []:
            values = data[column].astype(float)
            if standardise:
                values = (values - values.mean()) / (values.std() + 1e-8)
                state.processed_data[column] = values
            if np.all(np.mod(data[column].astype(float), 1) == 0) and not standardise:
                state.features[column] = to_jax_array(data[column].astype(np.int64).to_numpy())
            else:
                state.features[column] = to_jax_array(values.to_numpy())
        return state

    return inner


def _levels(values: pd.Series, column: str, order: list[Any] | None, reference: Any) -> list[Any]:
    present = sorted(values.dropna().unique().tolist(), key=str)
    if values.isna().any():
        raise ProcessingError(f"extract_features: column '{column}' has missing values; drop them first")
    if order is not None:
        missing = [v for v in present if v not in order]
        if missing:
            raise ProcessingError(f"extract_features: category_order for '{column}' lacks levels {missing}")
        return list(order)
    if reference is not None:
        if reference not in present:
            raise ProcessingError(
                f"extract_features: reference category {reference!r} is not a level of '{column}'; levels: {present}"
            )
        return [reference, *[v for v in present if v != reference]]
    return present
