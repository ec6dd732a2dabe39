"""Reading the two HAL inputs that are files: the price file and HAL's published metrics CSV.

Price file (``prices.yaml``, the HAL settings file)::

    unit: usd_per_million_tokens      # optional; or usd_per_token / usd_per_thousand_tokens
    currency: USD                     # optional; if present it must be USD
    include_incomplete_logs: false    # optional; true keeps the samples of logs whose status is
                                      # error / cancelled in HAL's tables (flagged either way)
    models:                           # or `prices:`
      mockllm/aurora:                 # the model name exactly as in the samples table
        input: 1.00                   # uncached input tokens                   (required)
        output: 4.00                  # output tokens, reasoning included       (required)
        cache_read: 0.10              # cache-read input tokens                 (optional)
        cache_write: 1.25             # cache-write input tokens                (optional)
        source: https://...           # any key with a text value is documentation

Prices are read in the file's ``unit`` and stored in USD per million tokens. A missing
``cache_read`` / ``cache_write`` price defaults to the ``input`` price (what HAL's
``get_total_cost`` and hal-harness's ``compute_cost_from_inspect_usage`` do); the defaulting is
recorded in the ``cache_read_defaulted`` / ``cache_write_defaulted`` columns.

Keys whose value is text (or a date, or a list of texts) are documentation, at the top level and
in a model's entry, and are ignored; at the top level so are numbers (``version: 2``). Anything else that is wrong (a negative or non-numeric price,
a missing ``input``/``output``, a number under an unknown key such as a misspelt ``ouput``, an
unknown unit) raises `ValueError` naming the file, the model and the field, and saying what was
expected: a price table is configuration, and a half-read one would misprice runs silently.

HAL metrics CSV: ``data/cleaned_all_metrics.csv`` of ``vminvsky/hal-analysis`` (one row per run;
see `read_hal_metrics_csv`).
"""

from __future__ import annotations

import ast
import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from hibayes.registry import did_you_mean

PRICE_FIELDS: tuple[str, ...] = ("input", "output", "cache_read", "cache_write")
PRICE_UNIT = "usd_per_million_tokens"
# Factor from each accepted unit to USD per million tokens.
PRICE_UNITS: dict[str, float] = {
    "usd_per_million_tokens": 1.0,
    "usd_per_1m_tokens": 1.0,
    "usd_per_thousand_tokens": 1e3,
    "usd_per_1k_tokens": 1e3,
    "usd_per_token": 1e6,
}
MODELS_KEYS: tuple[str, ...] = ("models", "prices")
SETTING_KEYS: tuple[str, ...] = ("include_incomplete_logs",)
TOP_LEVEL_KEYS: tuple[str, ...] = (*MODELS_KEYS, "unit", "currency", *SETTING_KEYS)

EXPECTED_SHAPE = (
    "expected a YAML mapping with a 'models:' (or 'prices:') section that maps each model name to "
    "its prices, e.g. 'models: {openai/gpt-4o: {input: 2.5, output: 10.0, cache_read: 1.25}}' "
    "(input and output required; cache_read and cache_write optional), priced in the file's "
    f"'unit' ({', '.join(PRICE_UNITS)}; default {PRICE_UNIT}); keys with text values are "
    "documentation"
)

PRICE_COLUMNS: dict[str, str] = {
    "model": "object",
    "input_per_mtok": "float64",
    "output_per_mtok": "float64",
    "cache_read_per_mtok": "float64",
    "cache_write_per_mtok": "float64",
    "cache_read_defaulted": "bool",
    "cache_write_defaulted": "bool",
}

HAL_REQUIRED_COLUMNS: tuple[str, ...] = (
    "benchmark_name",
    "agent_name_short",
    "model_name_short",
    "accuracy",
    "total_cost",
    "mean_latency",
)


@dataclass(frozen=True)
class PriceFile:
    """A read price file: the price table and the HAL setting kept beside it."""

    prices: pd.DataFrame
    include_incomplete_logs: bool = False


def empty_prices() -> pd.DataFrame:
    """A price table with no model: every run's cost is NaN (never zero)."""
    return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in PRICE_COLUMNS.items()})


def read_price_file(path: str | Path) -> PriceFile:
    """Read ``prices.yaml`` (see the module docstring for the format).

    ``prices`` has one row per model with columns:

    - ``model``: the model name, matched exactly against the samples' ``model`` column;
    - ``input_per_mtok``, ``output_per_mtok``, ``cache_read_per_mtok``, ``cache_write_per_mtok``:
      USD per million tokens of each kind, whatever the file's unit;
    - ``cache_read_defaulted``, ``cache_write_defaulted``: True when that price was absent and
      set to the input price.

    Raises `ValueError` (naming the file, model and field, and what was expected) on any malformed
    entry and `FileNotFoundError` when the file does not exist.
    """
    path = Path(path)
    try:
        # libyaml's parser when PyYAML has it: the same safe constructors, ~10x faster on a price file of 1000 models.
        data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from err
    return price_file_from_mapping(data, source=str(path))


def load_prices(path: str | Path) -> pd.DataFrame:
    """The price table of ``prices.yaml`` (`read_price_file` without the settings)."""
    return read_price_file(path).prices


def prices_from_mapping(data: Any, source: str = "<prices>") -> pd.DataFrame:
    """The price table of an already-parsed price mapping; see `read_price_file`."""
    return price_file_from_mapping(data, source).prices


def price_file_from_mapping(data: Any, source: str = "<prices>") -> PriceFile:
    """Validate an already-parsed price file (``{"models": {name: {...}}, ...}``); see `read_price_file`."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: {EXPECTED_SHAPE}; got {_kind(data)}")
    _check_top_level_keys(data, source)
    per_million = _unit_factor(data.get("unit", PRICE_UNIT), source)
    currency = data.get("currency", "USD")
    if str(currency).upper() != "USD":
        raise ValueError(f"{source}: field 'currency' must be 'USD' (prices are in US dollars), got {currency!r}")
    models = _models_section(data, source)
    rows = [_model_prices(str(model), entry, per_million, source) for model, entry in models.items()]
    return PriceFile(
        prices=pd.DataFrame(rows, columns=list(PRICE_COLUMNS)),
        include_incomplete_logs=_flag(data, "include_incomplete_logs", source),
    )


def _kind(value: Any) -> str:
    return "an empty file" if value is None else f"a {type(value).__name__} ({str(value)[:60]!r})"


def _is_documentation(value: Any) -> bool:
    """Text, dates and lists of them document a price; a number under an unknown key of a model's
    entry is more likely a misspelt price field, so it is not documentation."""
    if value is None or isinstance(value, (str, datetime.date)):
        return True
    return isinstance(value, list) and all(isinstance(v, (str, datetime.date)) for v in value)


def _check_top_level_keys(data: Mapping[str, Any], source: str) -> None:
    """At the top level a number documents too (``version: 2``); a mapping or a true/false under
    an unknown key is a misspelt section or setting, which must not be ignored."""
    for key, value in data.items():
        plain_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if key not in TOP_LEVEL_KEYS and not (_is_documentation(value) or plain_number):
            hint = f"; {EXPECTED_SHAPE}" if isinstance(value, Mapping) else ""
            raise ValueError(
                f"{source}: unknown top-level key {key!r}{did_you_mean(str(key), TOP_LEVEL_KEYS)}; allowed: "
                f"{', '.join(TOP_LEVEL_KEYS)}, and keys with text or number values as documentation{hint}"
            )


def _unit_factor(unit: Any, source: str) -> float:
    """How many USD per million tokens one price in `unit` is."""
    spelled = str(unit).strip().lower().replace(" ", "_").replace("-", "_")
    if spelled.startswith("per_"):
        spelled = "usd_" + spelled
    if spelled not in PRICE_UNITS:
        raise ValueError(f"{source}: field 'unit' must be one of {', '.join(PRICE_UNITS)}, got {unit!r}")
    return PRICE_UNITS[spelled]


def _models_section(data: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    present = [key for key in MODELS_KEYS if key in data]
    if len(present) != 1:
        found = "both 'models' and 'prices'" if present else f"top-level keys {sorted(map(str, data))}"
        raise ValueError(f"{source}: {EXPECTED_SHAPE}; found {found}")
    models = data[present[0]]
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"{source}: '{present[0]}' must be a non-empty mapping of model name -> prices; "
                         f"{EXPECTED_SHAPE}; got {_kind(models)}")
    return models


def _flag(data: Mapping[str, Any], key: str, source: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{source}: field {key!r} must be true or false, got {value!r}")
    return value


def _model_prices(model: str, entry: Any, per_million: float, source: str) -> dict[str, Any]:
    """One row of the price table, in USD per million tokens."""
    where = f"{source}: model {model!r}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a mapping of prices such as {{input: 2.5, output: 10.0}}, got {entry!r}")
    for key, value in entry.items():
        if key not in PRICE_FIELDS and not _is_documentation(value):
            raise ValueError(
                f"{where}: unknown price field {key!r}{did_you_mean(str(key), PRICE_FIELDS)}; allowed: "
                f"{', '.join(PRICE_FIELDS)}, and keys with text values as documentation"
            )
    prices: dict[str, float] = {}
    for field in PRICE_FIELDS:
        if entry.get(field) is None:
            if field in ("input", "output"):
                raise ValueError(f"{where}: field {field!r} is required (a price per token in the file's unit)")
            continue
        value = entry[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: field {field!r} must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}: field {field!r} must be finite and >= 0, got {value!r}")
        prices[field] = float(value) * per_million
    return {
        "model": model,
        "input_per_mtok": prices["input"],
        "output_per_mtok": prices["output"],
        "cache_read_per_mtok": prices.get("cache_read", prices["input"]),
        "cache_write_per_mtok": prices.get("cache_write", prices["input"]),
        "cache_read_defaulted": "cache_read" not in prices,
        "cache_write_defaulted": "cache_write" not in prices,
    }


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
