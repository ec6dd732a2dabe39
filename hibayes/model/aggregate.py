"""Identical rows fitted once, weighted by how often they occur.

Judge scores and correctness data repeat themselves: HiBayES's q3 example has 1,048 rows but 58
distinct (grader, LLM, score) rows. The likelihood of n identical rows is the likelihood of one
raised to the power n, so sampling on distinct rows with the observed site's log-density scaled by
the counts targets exactly the same posterior for a fraction of the work per gradient.

Afterwards the row-shaped results (the observed data, per-row deterministic sites) are expanded
back to one entry per original row, so nothing downstream can tell the difference. The pointwise
log-likelihood that LOO and WAIC need is not: each distinct row's column is kept once with its
count as weight (`hibayes.model.pointwise`), which LOO and WAIC read as that many identical
columns, without a (draws x rows) matrix. So are the predictive checks' draws of `obs`: counts of
each distinct row's values per draw (`hibayes.model.grouped_predictive`), read per row on demand.

This is only done when it is safe: the features that are per-row are those whose first axis has
the row count (`*_parent` arrays of nested levels excepted); the model is traced on the full and
the grouped features, and if a latent sample site changes shape (a per-observation random effect)
or a site changes shape in a way that is not one row axis, the rows are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

OBSERVED_SITE = "obs"
# Grouping pays for itself only when it removes a good share of the rows.
MAX_DISTINCT_SHARE = 0.5
NOT_PER_ROW_SUFFIXES = ("_parent",)


@dataclass(frozen=True)
class RowGroups:
    """How the original rows map onto their distinct rows."""

    n_rows: int
    first: np.ndarray  # for each distinct row, the index of its first occurrence
    inverse: np.ndarray  # for each original row, the index of its distinct row
    counts: np.ndarray  # how many original rows each distinct row stands for
    row_features: tuple[str, ...]
    row_sites: dict[str, int]  # site -> axis of rows (the sites to expand back)

    @property
    def n_distinct(self) -> int:
        return len(self.first)

    def grouped_features(self, features: dict[str, Any]) -> dict[str, Any]:
        return {
            name: (np.asarray(value)[self.first] if name in self.row_features else value)
            for name, value in features.items()
        }


def group_identical_rows(model_fn: Callable[[dict[str, Any]], None], features: dict[str, Any]) -> RowGroups | None:
    """The row groups for fitting `model_fn` on `features`, or None when grouping would not help
    or would not be exact for this model."""
    observed = features.get(OBSERVED_SITE)
    if observed is None or np.ndim(observed) == 0:
        return None
    n_rows = int(np.shape(observed)[0])
    row_features = tuple(
        name
        for name, value in features.items()
        if np.ndim(value) >= 1 and np.shape(value)[0] == n_rows and not name.endswith(NOT_PER_ROW_SUFFIXES)
    )
    inverse = _distinct_row_ids(features, row_features, n_rows)
    _, first, counts = np.unique(inverse, return_index=True, return_counts=True)
    if len(first) > MAX_DISTINCT_SHARE * n_rows:
        return None
    groups = RowGroups(n_rows, first, inverse, counts.astype(np.float32), row_features, {})
    row_sites = _row_sites(model_fn, features, groups)
    if row_sites is None or OBSERVED_SITE not in row_sites:
        return None
    return RowGroups(n_rows, first, inverse, groups.counts, row_features, row_sites)


def weighted(model_fn: Callable[[dict[str, Any]], None], counts: np.ndarray) -> Callable[[dict[str, Any]], None]:
    """`model_fn` with its observed site's log-density multiplied by each distinct row's count."""
    from numpyro.primitives import Messenger

    class CountWeights(Messenger):
        def process_message(self, msg: dict[str, Any]) -> None:
            if msg["type"] == "sample" and msg["name"] == OBSERVED_SITE and msg.get("is_observed"):
                msg["scale"] = counts if msg["scale"] is None else msg["scale"] * counts

    def weighted_model(features: dict[str, Any]) -> None:
        with CountWeights():
            model_fn(features)

    weighted_model.__name__ = getattr(model_fn, "__name__", "model")
    return weighted_model


def _distinct_row_ids(features: dict[str, Any], row_features: tuple[str, ...], n_rows: int) -> np.ndarray:
    columns = {}
    for name in row_features:
        values = np.asarray(features[name]).reshape(n_rows, -1)
        for j in range(values.shape[1]):
            columns[f"{name}[{j}]"] = values[:, j]
    frame = pd.DataFrame(columns)
    return frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()


def _row_sites(model_fn: Callable[[dict[str, Any]], None], features: dict[str, Any], groups: RowGroups) -> dict[str, int] | None:
    """Sites whose shape follows the rows, with their row axis; None if grouping is not exact."""
    full = _site_shapes(model_fn, features)
    grouped = _site_shapes(model_fn, groups.grouped_features(features))
    if full is None or grouped is None or set(full) != set(grouped):
        return None
    row_sites = {}
    for name, (kind, shape) in full.items():
        other = grouped[name][1]
        if shape == other:
            continue
        if kind == "latent" or len(shape) != len(other):
            return None
        axes = [a for a, (s, t) in enumerate(zip(shape, other)) if s != t]
        if len(axes) != 1 or shape[axes[0]] != groups.n_rows or other[axes[0]] != groups.n_distinct:
            return None
        row_sites[name] = axes[0]
    return row_sites


def _site_shapes(model_fn: Callable[[dict[str, Any]], None], features: dict[str, Any]) -> dict[str, tuple[str, tuple[int, ...]]] | None:
    import jax
    from numpyro import handlers

    try:
        trace = handlers.trace(handlers.seed(model_fn, jax.random.PRNGKey(0))).get_trace(features)
    except Exception:  # noqa: BLE001 - a model that cannot be traced here is simply fitted as is
        return None
    shapes = {}
    for name, site in trace.items():
        if site["type"] == "sample":
            kind = "observed" if site["is_observed"] else "latent"
            shapes[name] = (kind, tuple(np.shape(site["value"])))
        elif site["type"] == "deterministic":
            shapes[name] = ("deterministic", tuple(np.shape(site["value"])))
    return shapes
