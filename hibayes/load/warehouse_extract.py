"""The analysis dataframe from the warehouse: HiBayES extractor columns computed from the ingested
`samples`/`evals` tables, so an analysis never re-reads the logs.

Built-in extractors available this way: `base_extractor`, `metadata_field_extractor`,
`token_extractor`. Unlike the original `base_extractor`, `task` is the task name (the original put
the sample id there); the sample id is in `sample_id`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hibayes.config import AnalysisConfig, ConfigError
from hibayes.registry import did_you_mean
from hibayes.warehouse import Warehouse

BASE_COLUMNS = """
    s.score, s.target, regexp_extract(s.model, '[^/]+$') AS model, s.model AS model_raw, s.dataset,
    s.task, s.sample_id, s.epoch, s.message_count AS num_messages, e.log_path, s.scaffold,
    s.has_error, e.status AS log_status, s.metadata, s.input_tokens, s.output_tokens,
    s.total_tokens, s.cache_read_tokens, s.cache_write_tokens
"""
TOKEN_COLUMNS = ("total_tokens", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
WAREHOUSE_EXTRACTORS = ("base_extractor", "metadata_field_extractor", "token_extractor")


@dataclass(frozen=True)
class ExtractReport:
    rows_read: int
    excluded_errored_samples: int
    excluded_incomplete_logs: int
    rows_without_score: int
    logs: int

    def as_metadata(self) -> dict[str, int]:
        return dict(self.__dict__)


def extract_analysis_data(warehouse: Warehouse, config: AnalysisConfig) -> tuple[pd.DataFrame, ExtractReport]:
    """Rows for one analysis, with errored samples and incomplete logs left out (and counted)."""
    for name, _ in config.extractors:
        if name not in WAREHOUSE_EXTRACTORS:
            raise ConfigError(
                f"{config.where}: extractor '{name}'{did_you_mean(name, WAREHOUSE_EXTRACTORS)} cannot run on "
                f"ingested data; available here: {', '.join(WAREHOUSE_EXTRACTORS)}"
            )
    frame = warehouse.query(f"SELECT {BASE_COLUMNS} FROM samples s JOIN evals e USING (log_key) ORDER BY s.log_key, s.sample_id, s.epoch")
    frame = _restrict_to_files(frame, config)
    rows_read = len(frame)
    errored = frame["has_error"].fillna(False).astype(bool)
    incomplete = frame["log_status"] != "success"
    excluded_errors = int(errored.sum()) if not config.include_errored_samples else 0
    excluded_incomplete = int((incomplete & ~errored).sum()) if not config.include_incomplete_logs else 0
    keep = pd.Series(True, index=frame.index)
    if not config.include_errored_samples:
        keep &= ~errored
    if not config.include_incomplete_logs:
        keep &= ~incomplete
    frame = frame[keep].reset_index(drop=True)

    out = frame[["score", "target", "model", "model_raw", "dataset", "task", "sample_id", "epoch", "num_messages", "log_path", "scaffold"]].copy()
    for name, kwargs in config.extractors:
        if name == "metadata_field_extractor":
            out = out.join(_metadata_field(frame["metadata"], **kwargs))
        elif name == "token_extractor":
            out = out.join(frame[list(TOKEN_COLUMNS)])
    report = ExtractReport(
        rows_read=rows_read,
        excluded_errored_samples=excluded_errors,
        excluded_incomplete_logs=excluded_incomplete,
        rows_without_score=int(out["score"].isna().sum()),
        logs=int(frame["log_path"].nunique()),
    )
    return out, report


def _metadata_field(metadata: pd.Series, field_path: str, default_value: Any = None, rename_to: str | None = None) -> pd.DataFrame:
    def lookup(text: str | None) -> Any:
        value: Any = json.loads(text) if text else {}
        for part in field_path.split("."):
            if not isinstance(value, dict) or part not in value:
                return default_value
            value = value[part]
        return value

    column = rename_to or field_path.replace(".", "_")
    return pd.DataFrame({column: metadata.map(lookup)}, index=metadata.index)


def _restrict_to_files(frame: pd.DataFrame, config: AnalysisConfig) -> pd.DataFrame:
    """Keep rows from the config's `files_to_process` (files or folders), when it names any."""
    if not config.files_to_process:
        return frame
    roots = [_resolve(entry, config) for entry in config.files_to_process]
    paths = frame["log_path"].map(lambda p: Path(p).resolve())
    keep = paths.map(lambda p: any(p == root or root in p.parents for root in roots))
    return frame[keep]


def _resolve(entry: str, config: AnalysisConfig) -> Path:
    """HiBayES's rule: relative to the YAML file's folder first, then the working directory."""
    path = Path(entry).expanduser()
    if path.is_absolute():
        return path.resolve()
    tried = []
    if config.source is not None:
        candidate = (config.source.parent / path).resolve()
        if candidate.exists():
            return candidate
        tried.append(str(candidate))
    candidate = (Path.cwd() / path).resolve()
    if candidate.exists():
        return candidate
    tried.append(str(candidate))
    raise ConfigError(f"{config.where}: files_to_process entry '{entry}' not found; tried {' and '.join(tried)}")
