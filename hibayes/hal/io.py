"""Reading the two HAL inputs that are files: the price table and HAL's published metrics CSV.

Price table (``prices.yaml``)::

    unit: usd_per_million_tokens      # optional; if present it must be exactly this
    models:
      mockllm/aurora:                 # the model name exactly as in the samples table
        input: 1.00                   # USD per 1M uncached input tokens     (required)
        output: 4.00                  # USD per 1M output tokens, reasoning included (required)
        cache_read: 0.10              # USD per 1M cache-read input tokens  (optional)
        cache_write: 1.25             # USD per 1M cache-write input tokens (optional)

A missing ``cache_read`` / ``cache_write`` price defaults to the ``input`` price (what HAL's
``get_total_cost`` and hal-harness's ``compute_cost_from_inspect_usage`` do); the defaulting is
recorded in the ``cache_read_defaulted`` / ``cache_write_defaulted`` columns. Anything else that is
wrong (a negative or non-numeric price, a missing ``input``/``output``, an unknown key such as a
misspelt ``ouput``) raises `ValueError` naming the model and the field: a price table is
configuration, and a half-read one would misprice runs silently.

HAL metrics CSV: ``data/cleaned_all_metrics.csv`` of ``vminvsky/hal-analysis`` (one row per run;
see `read_hal_metrics_csv`).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

PRICE_FIELDS: tuple[str, ...] = ("input", "output", "cache_read", "cache_write")
PRICE_UNIT = "usd_per_million_tokens"

PRICE_COLUMNS: tuple[str, ...] = (
    "model",
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "cache_read_defaulted",
    "cache_write_defaulted",
)

HAL_REQUIRED_COLUMNS: tuple[str, ...] = (
    "benchmark_name",
    "agent_name_short",
    "model_name_short",
    "accuracy",
    "total_cost",
    "mean_latency",
)


def load_prices(path: str | Path) -> pd.DataFrame:
    """Read ``prices.yaml`` into a price table (see the module docstring for the format).

    Returns one row per model with columns:

    - ``model``: the model name, matched exactly against the samples' ``model`` column;
    - ``input_per_mtok``, ``output_per_mtok``, ``cache_read_per_mtok``, ``cache_write_per_mtok``:
      USD per million tokens of each kind;
    - ``cache_read_defaulted``, ``cache_write_defaulted``: True when that price was absent and
      set to the input price.

    Raises `ValueError` (naming the file, model and field) on any malformed entry and
    `FileNotFoundError` when the file does not exist.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from err
    return prices_from_mapping(data, source=str(path))


def prices_from_mapping(data: Any, source: str = "<prices>") -> pd.DataFrame:
    """Validate an already-parsed price mapping (``{"models": {name: {...}}}``); see `load_prices`."""
    if not isinstance(data, Mapping) or "models" not in data:
        raise ValueError(f"{source}: expected a mapping with a top-level 'models' key")
    unit = data.get("unit", PRICE_UNIT)
    if unit != PRICE_UNIT:
        raise ValueError(f"{source}: field 'unit' must be {PRICE_UNIT!r}, got {unit!r}")
    unknown_top = set(data) - {"models", "unit", "currency", "version", "notes", "source"}
    if unknown_top:
        raise ValueError(f"{source}: unknown top-level keys {sorted(unknown_top)}")
    currency = data.get("currency", "USD")
    if str(currency).upper() != "USD":
        raise ValueError(f"{source}: field 'currency' must be 'USD', got {currency!r}")
    models = data["models"]
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"{source}: 'models' must be a non-empty mapping of model name -> prices")

    rows = []
    for model, entry in models.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"{source}: model {model!r}: expected a mapping of prices, got {entry!r}")
        unknown = set(entry) - set(PRICE_FIELDS)
        if unknown:
            raise ValueError(
                f"{source}: model {model!r}: unknown price field(s) {sorted(unknown)}; "
                f"allowed: {list(PRICE_FIELDS)}"
            )
        prices: dict[str, float] = {}
        for field in PRICE_FIELDS:
            if field not in entry or entry[field] is None:
                if field in ("input", "output"):
                    raise ValueError(f"{source}: model {model!r}: field {field!r} is required")
                continue
            value = entry[field]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(
                    f"{source}: model {model!r}: field {field!r} must be a number, got {value!r}"
                )
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"{source}: model {model!r}: field {field!r} must be finite and >= 0, got {value!r}"
                )
            prices[field] = float(value)
        rows.append(
            {
                "model": str(model),
                "input_per_mtok": prices["input"],
                "output_per_mtok": prices["output"],
                "cache_read_per_mtok": prices.get("cache_read", prices["input"]),
                "cache_write_per_mtok": prices.get("cache_write", prices["input"]),
                "cache_read_defaulted": "cache_read" not in prices,
                "cache_write_defaulted": "cache_write" not in prices,
            }
        )
    return pd.DataFrame(rows, columns=list(PRICE_COLUMNS))


def _parse_latency_list(value: Any, row: int) -> list[float]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [float(v) for v in value]
    try:
        parsed = ast.literal_eval(str(value))
    except (ValueError, SyntaxError) as err:
        raise ValueError(f"latencies_per_task, row {row}: not a list literal: {str(value)[:60]!r}") from err
    if not isinstance(parsed, (list, tuple)):
        parsed = [parsed]
    return [float(v) for v in parsed]


def read_hal_metrics_csv(path: str | Path) -> pd.DataFrame:
    """Read HAL's published metrics CSV (``cleaned_all_metrics.csv`` of hal-analysis).

    One row per HAL run, in file order (the order matters for HAL-parity tie-breaking). Columns
    used downstream:

    - ``benchmark_name``: the benchmark; ``agent_name_short``: the scaffold;
      ``model_name_short``: the model (reasoning effort included, e.g. ``o4-mini-2025-04-16 high``);
    - ``accuracy``: HAL's headline metric of the run, 0-1;
    - ``total_cost``: USD for the whole run;
    - ``latencies_per_task``: parsed here into a list of floats (seconds; HAL's "first to last LLM
      call start" per task, so one-call tasks read 0.0); ``mean_latency``: their mean;
    - ``run_id``: HAL's run id (optional).

    Raises `ValueError` naming the missing columns, or the row whose latency list cannot be parsed.
    """
    frame = pd.read_csv(path)
    missing = [c for c in HAL_REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: HAL metrics CSV lacks required column(s) {missing}")
    if "latencies_per_task" in frame.columns:
        frame["latencies_per_task"] = [
            _parse_latency_list(v, i) for i, v in enumerate(frame["latencies_per_task"])
        ]
    return frame
