"""The errors table every HAL stage returns next to its result.

Bad input never disappears silently: each stage either raises a `ValueError` that names the
offending field (malformed configuration, missing columns) or keeps going and records one row per
problem here (a model missing from the price table, a run with no scored samples, a negative
latency, ...).

Columns of an errors DataFrame (`ERROR_COLUMNS`):

- ``source``: the stage that found the problem (``prices``, ``run_metrics``, ``hal_csv``,
  ``cost_frontier``, ``latency_frontier``, ``win_rates``, ``model_means``, ``uncertainty``).
- ``severity``: ``error`` (a value could not be computed and is NaN / the row was left out of a
  computation), ``warning`` (a value was computed but is suspect, e.g. a zero total cost), or
  ``info`` (something was skipped on purpose, e.g. no uncertainty without sample counts).
- ``benchmark``, ``model``, ``scaffold``: the run concerned (NA when the problem is wider).
- ``field``: the input column or setting at fault (``total_cost``, ``prices``, ``score``, ...).
- ``message``: a sentence saying what was wrong and what was done about it.
- ``count``: how many input rows (samples or runs) the problem covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

ERROR_COLUMNS: tuple[str, ...] = (
    "source",
    "severity",
    "benchmark",
    "model",
    "scaffold",
    "field",
    "message",
    "count",
)

SEVERITIES = ("error", "warning", "info")


def error_row(
    source: str,
    severity: str,
    field: str,
    message: str,
    *,
    benchmark: Any = None,
    model: Any = None,
    scaffold: Any = None,
    count: int | None = None,
) -> dict[str, Any]:
    """One errors-table row as a dict (see the module docstring for the columns)."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return {
        "source": source,
        "severity": severity,
        "benchmark": benchmark,
        "model": model,
        "scaffold": scaffold,
        "field": field,
        "message": message,
        "count": count,
    }


def make_errors(rows: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """Build an errors DataFrame with the standard columns (empty when `rows` is empty)."""
    frame = pd.DataFrame(list(rows), columns=list(ERROR_COLUMNS))
    for column in ERROR_COLUMNS:
        if column != "count":
            frame[column] = frame[column].astype("object")
    frame["count"] = frame["count"].astype("Int64")
    return frame


def concat_errors(*frames: pd.DataFrame | None) -> pd.DataFrame:
    """Stack several errors tables (None and empty tables are skipped)."""
    parts = [f for f in frames if f is not None and len(f)]
    if not parts:
        return make_errors()
    return make_errors(pd.concat(parts, ignore_index=True).to_dict("records"))
