"""Pure NumPy/pandas helpers behind the processors: category levels, nested level codes, the
train/test mask and JAX dtypes. No state, no registry, so models can reuse them too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

# The three-level models index this hierarchy; `extract_features` numbers its observed
# (group, subgroup) pairs and (group, subgroup, subsubgroup) triples when these columns are present.
HIERARCHY = ("group", "subgroup", "subsubgroup")
LABEL_SEPARATOR = ", "  # "gpt-4o, coding": reads like the label of a two-dimensional coordinate


class ProcessingError(ValueError):
    pass


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


def category_levels(values: pd.Series, column: str, order: Sequence[Any] | None, reference: Any) -> list[Any]:
    """The levels of a categorical column in model order: `order` as given, else `reference`
    first and the rest sorted, else sorted. The first level is the dummy-coding reference."""
    if values.isna().any():
        raise ProcessingError(
            f"extract_features: column '{column}' has {int(values.isna().sum())} missing values; "
            "drop them first (drop_rows_with_missing_features)"
        )
    present = _sorted(values.unique().tolist())
    if order is not None:
        order = list(order)
        duplicated = sorted({str(v) for v in order if order.count(v) > 1})
        unlisted = [v for v in present if v not in order]
        unseen = [v for v in order if v not in present]
        if duplicated or unlisted or unseen:
            raise ProcessingError(
                f"extract_features: category_order for '{column}' must list each level of the data once; "
                f"repeated: {duplicated}, missing: {unlisted}, not in the data: {unseen}"
            )
        return order
    if reference is not None:
        if reference not in present:
            raise ProcessingError(
                f"extract_features: reference category {reference!r} is not a level of '{column}'; levels: {present}"
            )
        return [reference, *[v for v in present if v != reference]]
    return present


def _sorted(levels: list[Any]) -> list[Any]:
    """Natural order (1, 2, 10; "a", "b"), falling back to text order for mixed types."""
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def category_codes(values: pd.Series, levels: list[Any]) -> np.ndarray:
    lookup = {level: code for code, level in enumerate(levels)}
    return values.map(lookup).to_numpy(dtype=np.int32)


def nested_codes(parent: np.ndarray, child: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number the observed (parent, child) pairs in (parent, child) order.

    Returns each row's pair number and each pair's parent code. A child level seen under two
    parents gives two pairs: nested effects belong to a pair, not to the child level alone.
    """
    pairs, row_pair = np.unique(
        np.stack([np.asarray(parent), np.asarray(child)], axis=1), axis=0, return_inverse=True
    )
    return row_pair.reshape(-1).astype(np.int32), pairs[:, 0].astype(np.int32)


def nested_name(levels: Sequence[str]) -> str:
    """`group_subgroup` for the (group, subgroup) pairs: feature prefix and coordinate name."""
    return "_".join(levels)


def held_out_mask(frame: pd.DataFrame, column: str, who: str) -> np.ndarray:
    """The rows that a boolean `test` column marks as held out (True) for prediction."""
    values = frame[column]
    if values.isna().any() or not set(values.unique().tolist()) <= {True, False}:
        raise ProcessingError(
            f"{who}: test column '{column}' must hold only True/False (True = held-out row); "
            f"found {sorted(map(str, values.unique().tolist()))[:5]}"
        )
    return values.to_numpy(dtype=bool)
