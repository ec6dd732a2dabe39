"""The analysis dataframe from the warehouse: HiBayES's built-in extractors run on the ingested rows,
so an analysis does not read the logs again.

The extractors are the loader's own. Each built-in in `WAREHOUSE_EXTRACTORS` is a function of
`SampleFacts` (`hibayes.load.extractors`); here the facts come from the `samples`, `scores`,
`evals` and `log_files` tables instead of Inspect's sample objects, and the rows are built by the
loader's `extract_rows`, `merge_results` and `settle_types`. Where a value an extractor needs was
cut from the sample summaries the warehouse was filled from, that log's full samples are read, as
the loader does. So the same config gives the same frame on both paths (columns, dtypes, values);
only the order of rows within a log may differ. Copies of a run are not in these tables
(`hibayes.load.copies`), so each sample counts once here as in the loader.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import groupby
from pathlib import Path
from typing import Any

import pandas as pd

from hibayes.config import AnalysisConfig, ConfigError
from hibayes.load.extractors import TOKEN_COLUMNS, Extractor, SampleFacts, SummaryTooThin
from hibayes.load.inspect_reader import READ_FROM_FULL_SAMPLES
from hibayes.load.log_locations import as_log_file, content_id, file_facts
from hibayes.load.loader import (
    LoadReport,
    LogResult,
    ReadPlan,
    build_extractors,
    extract_rows,
    merge_results,
    read_one_log,
    settle_types,
)
from hibayes.registry import did_you_mean
from hibayes.warehouse import Warehouse

# The built-ins defined on `SampleFacts`: the others need the eval plan or full samples.
WAREHOUSE_EXTRACTORS = (
    "base_extractor",
    "cyber_extractor",
    "metadata_field_extractor",
    "score_normalizer",
    "token_extractor",
)

# Within a log, Inspect's order of samples: by epoch, then by id with numeric ids zero-padded.
_SAMPLES_FROM = f"""
SELECT s.log_key, e.log_path, e.eval_id, e.sha256, e.status AS log_status, f.read_from,
       s.model, s.dataset, s.task, s.scaffold, s.sample_id, s.epoch, s.target, s.metadata,
       {", ".join(f"s.{column}" for column in TOKEN_COLUMNS)}, s.message_count, s.error
FROM samples s JOIN evals e USING (log_key) LEFT JOIN log_files f USING (log_key)
"""
_SAMPLES_ORDER = """
ORDER BY s.log_key, s.epoch,
         CASE WHEN s.sample_id ~ '^[0-9]+$' THEN lpad(s.sample_id, 20, '0') ELSE s.sample_id END
"""
SAMPLES_SQL = _SAMPLES_FROM + _SAMPLES_ORDER
_SCORES_FROM = "SELECT log_key, sample_id, epoch, scorer, raw_value FROM scores "
_SCORES_ORDER = "ORDER BY log_key, sample_id, epoch, scorer_rank"
SCORES_SQL = _SCORES_FROM + _SCORES_ORDER
# The same rows of the logs in the list given as the parameter.
BATCH_SAMPLES_SQL = _SAMPLES_FROM + "WHERE s.log_key = ANY(?)" + _SAMPLES_ORDER
BATCH_SCORES_SQL = _SCORES_FROM + "WHERE log_key = ANY(?) " + _SCORES_ORDER
LOG_KEYS_SQL = "SELECT DISTINCT log_key FROM samples ORDER BY log_key"
# Logs whose samples and scores are read at once: the facts of a batch are dropped once its rows
# are built, so memory follows the batch and the rows, not every sample's facts (1M at corpus scale).
EXTRACT_BATCH_LOGS = 500

SampleKey = tuple[str, str, int]  # log_key, sample_id, epoch


class StaleLogError(RuntimeError):
    """A log must be read again, but its file changed or went since it was ingested."""


@dataclass(frozen=True)
class ExtractReport:
    rows_read: int  # sample rows of the logs in scope
    excluded_errored_samples: int  # samples that errored, left out of the logs kept
    excluded_incomplete_logs: int  # sample rows of logs left out for their status
    rows_without_score: int
    logs: int  # logs whose rows are in the frame
    logs_read_in_full: int  # logs read again because their summaries lacked a value
    problems: list[str] = field(default_factory=list)  # the loader's report lines

    def as_metadata(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _StoredEval:
    eval_id: str


@dataclass(frozen=True)
class _StoredLog:
    """What `extract_rows` reads from a log besides its samples."""

    location: str
    eval: _StoredEval


def extract_analysis_data(
    warehouse: Warehouse, config: AnalysisConfig, batch_logs: int = EXTRACT_BATCH_LOGS
) -> tuple[pd.DataFrame, ExtractReport]:
    """Rows for one analysis, with errored samples and incomplete logs left out (and counted),
    read `batch_logs` logs at a time."""
    _check_extractors(config)
    plan = ReadPlan(
        extractors=tuple(config.extractors),
        files=(),
        modules=(),
        full_samples=True,  # used only to read a log again, when its summaries lacked a value
        include_errored_samples=config.include_errored_samples,
        include_incomplete_logs=config.include_incomplete_logs,
    )
    extractors = build_extractors(plan)
    log_keys = [row["log_key"] for row in warehouse.records(LOG_KEYS_SQL)]
    results: list[LogResult] = []
    rows_read = excluded_incomplete = 0
    for start in range(0, len(log_keys), batch_logs):
        batch = [log_keys[start:start + batch_logs]]
        samples = _restrict_to_files(warehouse.records(BATCH_SAMPLES_SQL, batch), config)
        scores = _scores_by_sample(warehouse.records(BATCH_SCORES_SQL, batch))
        rows_read += len(samples)
        for _, group in groupby(samples, key=lambda row: row["log_key"]):
            rows = list(group)
            if rows[0]["log_status"] != "success" and not config.include_incomplete_logs:
                excluded_incomplete += len(rows)
                continue
            results.append(_log_rows(rows, scores, plan, extractors))
    report = LoadReport(source="warehouse")
    frame = merge_results(results, report)
    report.rows = len(frame)
    if "score" in frame.columns:
        report.rows_without_score = int(pd.to_numeric(frame["score"], errors="coerce").isna().sum())
    return settle_types(frame), ExtractReport(
        rows_read=rows_read,
        excluded_errored_samples=report.errored_samples_excluded,
        excluded_incomplete_logs=excluded_incomplete,
        rows_without_score=report.rows_without_score,
        logs=report.logs_read,
        logs_read_in_full=report.logs_read_in_full,
        problems=report.problems(),
    )


def _check_extractors(config: AnalysisConfig) -> None:
    for name, _ in config.extractors:
        if name not in WAREHOUSE_EXTRACTORS:
            raise ConfigError(
                f"{config.where}: extractor '{name}'{did_you_mean(name, WAREHOUSE_EXTRACTORS)} cannot run on "
                f"ingested data; available here: {', '.join(WAREHOUSE_EXTRACTORS)}"
            )


def _log_rows(
    rows: list[dict[str, Any]], scores: dict[SampleKey, dict[str, Any]], plan: ReadPlan,
    extractors: Sequence[tuple[str, Extractor]],
) -> LogResult:
    """One log's rows from its facts, or from its full samples where a summary lacked a value."""
    first = rows[0]
    log = _StoredLog(first["log_path"], _StoredEval(first["eval_id"]))
    try:
        return extract_rows(log, [_facts(row, scores) for row in rows], extractors, plan.include_errored_samples)
    except SummaryTooThin:
        return _read_in_full(first, plan, extractors)


def _facts(row: dict[str, Any], scores: dict[SampleKey, dict[str, Any]]) -> SampleFacts:
    return SampleFacts(
        log_path=row["log_path"],
        model=row["model"],
        dataset=row["dataset"],
        task=row["task"],
        scaffold=row["scaffold"],
        id=row["sample_id"],
        epoch=row["epoch"],
        target=row["target"],
        scores=scores.get((row["log_key"], row["sample_id"], row["epoch"]), {}),
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
        usage=None if row["total_tokens"] is None else {column: row[column] for column in TOKEN_COLUMNS},
        message_count=row["message_count"],
        error=row["error"],
        # Rows ingested before `log_files` existed were always read from summaries.
        from_summary=row["read_from"] != READ_FROM_FULL_SAMPLES,
    )


def _scores_by_sample(rows: Iterable[dict[str, Any]]) -> dict[SampleKey, dict[str, Any]]:
    """Each sample's raw score values by scorer, in the log's order (the values as logged: the
    ingest stored them as JSON)."""
    by_sample: dict[SampleKey, dict[str, Any]] = {}
    for row in rows:
        key = (row["log_key"], row["sample_id"], row["epoch"])
        by_sample.setdefault(key, {})[row["scorer"]] = json.loads(row["raw_value"])
    return by_sample


def _read_in_full(row: dict[str, Any], plan: ReadPlan, extractors: Sequence[tuple[str, Extractor]]) -> LogResult:
    """The log's rows from its full samples, as the loader reads them when a summary lacks a value;
    only from the very file that was ingested, so that the rows are those of the warehouse's run."""
    path = as_log_file(row["log_path"])
    facts = file_facts(path)
    if facts is None or content_id(path, facts) != row["sha256"]:
        raise StaleLogError(
            f"{path}: a value the extractors need was cut from the sample summaries stored in the warehouse, "
            "and the file is gone or has changed since it was ingested; ingest it again"
        )
    return read_one_log(str(path), plan, extractors)


def _restrict_to_files(samples: list[dict[str, Any]], config: AnalysisConfig) -> list[dict[str, Any]]:
    """Keep rows from the config's `files_to_process` (files or folders), when it names any."""
    if not config.files_to_process:
        return samples
    roots = [_resolve(entry, config) for entry in config.files_to_process]

    @cache  # one file system lookup per log, not per sample
    def wanted(log_path: str) -> bool:
        path = Path(log_path).resolve()
        return any(path == root or root in path.parents for root in roots)

    return [row for row in samples if wanted(row["log_path"])]


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
