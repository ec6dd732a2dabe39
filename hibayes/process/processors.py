"""The built-in processors. Each builder takes its YAML kwargs and returns
`inner(state: AnalysisState, display) -> AnalysisState`, acting on `state.processed_data`.

Each built-in also declares (`declare_produces`) the features it makes for given arguments, so
`hibayes.model.missing_features` can tell, before any fit, which processor a model is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations, product
from typing import Any

import numpy as np
import pandas as pd

from hibayes.analysis_state import AnalysisState, Coords, Dims, Features
from hibayes.features import declare_produces, declared
from hibayes.plugins import ComponentError, component_failure
from hibayes.process.encoding import (
    HIERARCHY,
    LABEL_SEPARATOR,
    ProcessingError,
    category_codes,
    category_levels,
    held_out_mask,
    nested_codes,
    nested_name,
    to_jax_array,
)
from hibayes.registry import Registry, did_you_mean, make_decorator

DataProcessor = Callable[[AnalysisState, Any], AnalysisState]
PROCESSORS: Registry[DataProcessor] = Registry("processor")
process = make_decorator(PROCESSORS)


def run_processors(
    state: AnalysisState, processors: Iterable[tuple[str, dict[str, Any]]], display: Any = None
) -> AnalysisState:
    """Run the processors in order. Each one works on what the one before made, so the first that
    fails stops them: a ProcessingError as it is (it names the processor and the column), any
    other exception as a ComponentError naming the processor, its file and line."""
    for name, kwargs in processors:
        processor = PROCESSORS.build(name, kwargs)
        if state.processed_data is None or state.processed_data.empty:
            raise ProcessingError(f"processor '{name}': there is no data to process (0 rows)")
        try:
            state = processor(state, display)
        except ProcessingError:
            raise
        except Exception as err:
            raise ComponentError(component_failure("processor", name, PROCESSORS.builder(name), err)) from err
    return state


def produced_features(name: str, kwargs: Mapping[str, Any]) -> set[str] | None:
    """The features processor `name` makes with `kwargs`; None when it is not registered or does
    not declare them (a custom processor may make anything)."""
    if name not in PROCESSORS:
        return None
    return declared(PROCESSORS.builder(name), "produces", kwargs)


def feature_hint(feature: str) -> str:
    """Which built-in processor, with which arguments, makes `feature`."""
    if feature == "obs":
        return "extract_observed_feature with feature_name: <the outcome column>"
    for prefix, suffix in (("num_", ""), ("", "_index")):
        if feature.startswith(prefix) and feature.endswith(suffix) and len(feature) > len(prefix + suffix):
            column = feature[len(prefix) : len(feature) - len(suffix)]
            return f"extract_features with categorical_features: [{column}]"
    return f"extract_features with continuous_features: [{feature}]"


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], who: str) -> None:
    for column in columns:
        if column not in frame.columns:
            raise ProcessingError(
                f"{who}: column '{column}' is not in the data{did_you_mean(column, frame.columns)}; "
                f"columns are: {', '.join(map(str, frame.columns))}"
            )


def _nothing(args: Mapping[str, Any]) -> set[str]:
    return set()


@process
@declare_produces(_nothing)
def map_columns(column_mapping: dict[str, str] | None = None) -> DataProcessor:
    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        if column_mapping:
            _require_columns(state.processed_data, column_mapping, "map_columns")
            state.processed_data = state.processed_data.rename(columns=column_mapping)
        return state

    return inner


@process
@declare_produces(_nothing)
def groupby(groupby_columns: list[str] | None = None, *args: Any, **kwargs: Any) -> DataProcessor:
    """Aggregate Bernoulli rows to binomial counts (`n_correct`, `n_total`) per group; other columns
    are dropped. Without columns it leaves the data as is, like HiBayES."""

    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        if not groupby_columns:
            state.add_log("groupby: no groupby_columns given; the data is left as it is", "process")
            return state
        columns = list(groupby_columns)
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
@declare_produces(_nothing)
def drop_rows_with_missing_features(feature_names: list[str] | None = None) -> DataProcessor:
    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        names = list(feature_names or ["model", "task"])
        _require_columns(state.processed_data, names, "drop_rows_with_missing_features")
        kept = state.processed_data.dropna(subset=names)
        if len(kept) < len(state.processed_data):
            state.add_log(
                f"drop_rows_with_missing_features: dropped {len(state.processed_data) - len(kept)} rows "
                f"missing one of {names}",
                "process",
            )
        state.processed_data = kept
        return state

    return inner


@process
@declare_produces(lambda args: {"obs"})
def extract_observed_feature(feature_name: str = "score", test: str | None = None) -> DataProcessor:
    """`features["obs"]` from a column; with `test` (a boolean column) the True rows go to
    `state.test_features["obs"]` instead, for held-out prediction."""

    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        data = state.processed_data
        _require_columns(data, [feature_name, *([test] if test else [])], "extract_observed_feature")
        values = data[feature_name]
        if values.isna().any():
            raise ProcessingError(
                f"extract_observed_feature: column '{feature_name}' has {int(values.isna().sum())} missing values"
            )
        array = values.to_numpy()
        if np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0):
            # pandas makes counts and classes float (sums, columns that once held NaN); Binomial
            # counts and ordered classes must be integers (OrderedLogistic indexes with them).
            array = array.astype(np.int64)
        if test:
            held_out = held_out_mask(data, test, "extract_observed_feature")
            state.features["obs"] = to_jax_array(array[~held_out])
            state.test_features["obs"] = to_jax_array(array[held_out])
        else:
            state.features["obs"] = to_jax_array(array)
        return state

    return inner


def _interaction_pairs(
    interactions: bool | list[list[str]], categorical: list[str], continuous: list[str]
) -> list[tuple[str, str]]:
    """`true` means every pair of categorical features and every continuous x categorical pair;
    a list names the pairs (as newer HiBayES versions allow)."""
    if isinstance(interactions, bool) or interactions is None:
        if not interactions:
            return []
        return [*combinations(categorical, 2), *product(continuous, categorical)]
    pairs = []
    for pair in interactions:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ProcessingError(f"extract_features: interactions must be true/false or a list of pairs; got {pair!r}")
        unknown = [name for name in pair if name not in (*categorical, *continuous)]
        if unknown:
            raise ProcessingError(
                f"extract_features: interaction {list(pair)} names {unknown}, which are not in "
                "categorical_features or continuous_features"
            )
        pairs.append((pair[0], pair[1]))
    return pairs


def _extract_features_produces(args: Mapping[str, Any]) -> set[str]:
    categorical = list(args["categorical_features"] or [])
    continuous = list(args["continuous_features"] or [])
    made = {*continuous, *(f"{c}_index" for c in categorical), *(f"num_{c}" for c in categorical)}
    for a, b in _interaction_pairs(args["interactions"], categorical, continuous):
        if (a in continuous) != (b in continuous):
            made |= {f"{a}_{b}", f"{b}_{a}"}
    for levels in _nested_levels(categorical):
        name = nested_name(levels)
        made |= {f"{name}_index", f"num_{name}", f"{name}_parent"}
    return made


def _nested_levels(categorical: list[str]) -> list[tuple[str, ...]]:
    """(group, subgroup) and (group, subgroup, subsubgroup) when those columns are categorical."""
    present = 0
    while present < len(HIERARCHY) and HIERARCHY[present] in categorical:
        present += 1
    return [HIERARCHY[:depth] for depth in range(2, present + 1)]


@dataclass
class _Extracted:
    """Features for the fit, and for held-out rows when there is a `test` split."""

    held_out: np.ndarray | None
    features: Features = field(default_factory=dict)
    test_features: Features = field(default_factory=dict)
    coords: Coords = field(default_factory=dict)
    dims: Dims = field(default_factory=dict)

    def rows(self, name: str, values: np.ndarray) -> None:
        if self.held_out is None:
            self.features[name] = to_jax_array(values)
        else:
            self.features[name] = to_jax_array(values[~self.held_out])
            self.test_features[name] = to_jax_array(values[self.held_out])

    def constant(self, name: str, value: Any) -> None:
        """Sizes and per-level tables: the same for fitted and held-out rows."""
        self.features[name] = value
        if self.held_out is not None:
            self.test_features[name] = value

    def merge_into(self, state: AnalysisState) -> None:
        state.features.update(self.features)
        state.test_features.update(self.test_features)
        state.coords.update(self.coords)
        state.dims.update(self.dims)


@process
@declare_produces(_extract_features_produces)
def extract_features(
    categorical_features: list[str] | None = None,
    continuous_features: list[str] | None = None,
    *,
    interactions: bool | list[list[str]] = False,
    effect_coding_for_main_effects: bool = False,
    standardise: bool = False,
    test: str | None = None,
    reference_categories: dict[str, Any] | None = None,
    category_order: dict[str, list[Any]] | None = None,
) -> DataProcessor:
    """Model inputs from columns (a no-op without arguments).

    Categorical column `c`: `c_index` (int32 per row), `num_c`, coords `c` (levels in model order)
    and dims `c_effects`; with effect coding also `c_effects_constrained` over `c_constrained`.
    Continuous column `x`: the values, standardised with training-row statistics if asked.
    Interactions: dims `a_b_effects` for categorical pairs; features `g_x` and `x_g` (the x values)
    with dims `g_x_effects`/`x_g_effects` over `g` for continuous x categorical pairs.
    With `group` and `subgroup` (and `subsubgroup`) categorical, also the observed pairs (triples):
    `group_subgroup_index` per row, `num_group_subgroup`, `group_subgroup_parent` (each pair's
    group) and coords `group_subgroup` (and the same for `group_subgroup_subsubgroup`), which
    the three-level models use to nest their effects.
    With `test`, True rows go to `state.test_features`; sizes and levels come from all rows.
    """
    categorical = list(categorical_features or [])
    continuous = list(continuous_features or [])
    overlap = sorted(set(categorical) & set(continuous))
    if overlap:
        raise ProcessingError(f"extract_features: columns cannot be both categorical and continuous: {overlap}")
    pairs = _interaction_pairs(interactions, categorical, continuous)
    orders = category_order or {}
    references = reference_categories or {}

    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        data = state.processed_data
        _require_columns(data, [*categorical, *continuous, *([test] if test else [])], "extract_features")
        out = _Extracted(held_out_mask(data, test, "extract_features") if test else None)

        for column in continuous:
            if not pd.api.types.is_numeric_dtype(data[column]):
                raise ProcessingError(
                    f"extract_features: continuous column '{column}' is not numeric (dtype {data[column].dtype}); "
                    "convert it, or list it under categorical_features"
                )
            values = data[column].to_numpy()
            if standardise:
                values = _standardised(values.astype(np.float64), out.held_out)
                state.processed_data[column] = values
            out.rows(column, values)

        codes: dict[str, np.ndarray] = {}
        labels: dict[str, list[str]] = {}
        for column in categorical:
            levels = category_levels(data[column], column, orders.get(column), references.get(column))
            codes[column] = category_codes(data[column], levels)
            labels[column] = [str(level) for level in levels]
            out.rows(f"{column}_index", codes[column])
            out.constant(f"num_{column}", len(levels))
            out.coords[column] = levels
            out.dims[f"{column}_effects"] = [column]
            if effect_coding_for_main_effects and len(levels) > 1:
                out.coords[f"{column}_constrained"] = levels[:-1]
                out.dims[f"{column}_effects_constrained"] = [f"{column}_constrained"]

        _add_nesting(out, codes, labels)
        for a, b in pairs:
            if a in categorical and b in categorical:
                out.dims[f"{a}_{b}_effects"] = [a, b]
            elif (a in continuous) != (b in continuous):
                x, g = (a, b) if a in continuous else (b, a)
                values = state.processed_data[x].to_numpy()
                for name in (f"{g}_{x}", f"{x}_{g}"):  # models may name the pair either way round
                    out.rows(name, values)
                    out.dims[f"{name}_effects"] = [g]
        out.merge_into(state)
        return state

    return inner


def _standardised(values: np.ndarray, held_out: np.ndarray | None) -> np.ndarray:
    """(x - mean) / (sd + 1e-8) with the training rows' mean and sd (pandas' ddof=1), so that
    held-out rows carry no information into the fit."""
    train = values if held_out is None else values[~held_out]
    return (values - train.mean()) / (train.std(ddof=1) + 1e-8)


def _add_nesting(out: _Extracted, codes: dict[str, np.ndarray], labels: dict[str, list[str]]) -> None:
    """Number the observed (group, subgroup) pairs and (group, subgroup, subsubgroup) triples, so
    that lower-level effects belong to their parent and unequal level counts need no padding."""
    levels = _nested_levels(list(codes))
    if not levels:
        return
    row_node, node_labels = codes[HIERARCHY[0]], labels[HIERARCHY[0]]
    for nest in levels:
        child = nest[-1]
        row_pair, pair_parent = nested_codes(row_node, codes[child])
        pair_child = np.zeros(len(pair_parent), dtype=np.int32)
        pair_child[row_pair] = codes[child]
        name = nested_name(nest)
        out.rows(f"{name}_index", row_pair)
        out.constant(f"num_{name}", len(pair_parent))
        out.constant(f"{name}_parent", to_jax_array(pair_parent))
        node_labels = [
            f"{node_labels[parent]}{LABEL_SEPARATOR}{labels[child][c]}" for parent, c in zip(pair_parent, pair_child)
        ]
        out.coords[name] = node_labels
        row_node = row_pair


@process
@declare_produces(_nothing)
def merge_scout_results(
    scout_scan_path: str,
    scanner_name: str,
    join_on_left: str = "transcript_id",
    join_on_right: str = "transcript_id",
    columns_to_keep: list[str] | None = None,
    prefix: str | None = None,
) -> DataProcessor:
    """Left-join one Inspect Scout scanner's results onto the data, as `{prefix}_{column}` columns
    (prefix defaults to the scanner name). When `join_on_right` is not a result column it is read
    from each result's `transcript_metadata` JSON."""
    try:
        from inspect_scout import scan_results_df
    except ImportError:
        raise ImportError(
            "merge_scout_results needs the inspect-scout package, which is not installed; "
            "install it with `pip install inspect-scout` (or `uv add inspect-scout`)"
        ) from None
    wanted = list(columns_to_keep or ["value", "explanation", "scan_model_usage"])
    final_prefix = prefix or scanner_name

    def inner(state: AnalysisState, display: Any = None) -> AnalysisState:
        _require_columns(state.processed_data, [join_on_left], "merge_scout_results")
        scanners = scan_results_df(scout_scan_path).scanners
        if scanner_name not in scanners:
            raise ProcessingError(
                f"merge_scout_results: no scanner '{scanner_name}' in {scout_scan_path}"
                f"{did_you_mean(scanner_name, scanners)}; scanners: {', '.join(scanners)}"
            )
        results = scanners[scanner_name].copy()
        if join_on_right not in results.columns:
            results[join_on_right] = results["transcript_metadata"].map(lambda meta: _metadata_value(meta, join_on_right))
        kept = [c for c in wanted if c in results.columns]
        if not kept:
            state.add_log(f"merge_scout_results: none of {wanted} are columns of '{scanner_name}'; nothing merged", "process")
            return state
        key = f"{final_prefix}_{join_on_right}"
        results = results[[join_on_right, *kept]].rename(columns={join_on_right: key, **{c: f"{final_prefix}_{c}" for c in kept}})
        repeated = results[key].dropna().duplicated()
        if repeated.any():
            # One transcript with several results would silently duplicate its sample rows.
            raise ProcessingError(
                f"merge_scout_results: {int(repeated.sum())} '{join_on_right}' values have several "
                f"'{scanner_name}' results; keep one result per transcript before merging"
            )
        merged = state.processed_data.merge(results, how="left", left_on=join_on_left, right_on=key)
        if key != join_on_left:
            merged = merged.drop(columns=[key])
        matched = int(merged[f"{final_prefix}_{kept[0]}"].notna().sum())
        state.add_log(
            f"merge_scout_results: '{scanner_name}' matched {matched}/{len(merged)} rows on {join_on_left} <- {join_on_right}",
            "process",
        )
        state.processed_data = merged
        return state

    return inner


def _metadata_value(meta: Any, key: str) -> Any:
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            return None
    return meta.get(key) if isinstance(meta, dict) else None
