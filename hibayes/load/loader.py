"""HiBayES's loading stage: the `data_loader:` section of a config, and `load_data`.

    data_loader:
      paths:
        files_to_process: [logs/, more.eval, manifest.txt]   # or extracted_data: [data.csv]
        cache_path: cache.jsonl
      extractors:
        path: custom_extractors.py
        enabled: [base_extractor, {metadata_field_extractor: {field_path: difficulty}}]
      include_errored_samples: false
      include_incomplete_logs: false

What it does, and where it differs from HiBayES:
- Relative paths are tried against the YAML file's folder, then the working directory (HiBayES
  uses the working directory only, which this rule still covers); a path found in neither is an
  error naming both places. Lines of a `.txt` manifest are tried against the manifest's folder,
  then the working directory. Folders are searched recursively for `.eval` and `.json` logs.
  A URL of a log (`s3://bucket/run.eval`) goes to Inspect as it is; a URL of a folder
  (`s3://bucket/prefix/`) is listed by fsspec by the same rules as a local folder.
- `extracted_data` (CSV, parquet, JSON array or JSON lines, JSONL) is read as the data, without
  extractors; it cannot be combined with `files_to_process`.
- `cache_path` keeps HiBayES's rule: when the file exists it is read (JSON lines) and returned as
  the data, and the logs and extractors are not used. Nothing writes it. The report says so.
- Each log is read once with Inspect's own reader: only the header and the sample summaries when
  every enabled extractor can work from summaries (see `hibayes.load.extractors`) and the log's
  writer put what they need there, the full log otherwise. Rows follow the inputs' order, and
  within a log the order Inspect gives full samples. Large sets of logs (`PARALLEL_MIN_BYTES_*`) are
  read by a pool of processes started with `spawn`: JAX may already be loaded in this process, and
  forking it can deadlock. Spawn imports the main module again, so a script calling `load_data`
  needs the `if __name__ == "__main__":` guard (or `workers=1`). Extractors defined in `__main__`
  (a notebook) run in this process.
- Every row carries `log`, `id`, `epoch` and `error` (Inspect's `samples_df` names); an extractor
  column of the same name replaces them, as in HiBayES. HiBayES also carried the other
  `samples_df` columns (`metadata_*`, `score_*`, `model_usage`, ...); these are not built here,
  so that this path and the warehouse path give the same columns.
- Samples that errored, and logs whose status is not "success", are left out unless
  `include_errored_samples` / `include_incomplete_logs` say otherwise; an unreadable log is
  skipped. Both are counted in the `LoadReport`, with the reasons.
- A log holding the same run (eval_id) as an input before it, a copy, is skipped with a reason
  naming both files, so each sample counts once (see `hibayes.load.copies`).
- A failing extractor leaves its columns empty for that row (as in HiBayES) but is counted per
  extractor, with the first messages, in the report; so are values an extractor could not read.
- A column mixing Python types (which parquet cannot store) is an error naming the column and the
  types; a column mixing ints and floats becomes float.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import math
import multiprocessing
import numbers
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from hibayes.config import (
    EXTRACTOR_KEYS,
    PATHS_KEYS,
    SECTION_KEYS,
    AnalysisConfig,
    ConfigError,
    _check_keys,
    _components,
    check_extractor_arguments,
)
from hibayes.load.copies import same_run_message
from hibayes.load.extractors import EXTRACTORS, Extractor, ExtractorWarning, SummaryTooThin
from hibayes.load.inspect_reader import LOG_SUFFIXES, error_text, list_log_files, summaries_complete
from hibayes.load.log_locations import is_url, log_file, scan_remote
from hibayes.plugins import import_file, raised_at, resolve_path

LOGGER = logging.getLogger("hibayes.load")
DEFAULT_EXTRACTORS: tuple[tuple[str, dict[str, Any]], ...] = (("base_extractor", {}),)
TABLE_SUFFIXES = (".csv", ".parquet", ".json", ".jsonl")
# Below these sizes of logs, reading in this process beats a pool, whose spawned workers each
# spend 2-4 s importing inspect_ai. Measured on a busy 2-core machine with copies of the example
# logs: 13 MB in full, 6.3 s here against 9.8 s with 2 workers; 63 MB in full, 67 s against 47 s;
# 63 MB from summaries, 12.5 s against 14.7 s.
PARALLEL_MIN_BYTES_FULL = 32 * 2**20
PARALLEL_MIN_BYTES_SUMMARIES = 256 * 2**20
MAX_WORKERS = 8
MAX_EXAMPLES = 3
IDENTITY_COLUMNS = ("log", "id", "epoch", "error")


class MixedTypesError(TypeError):
    """Columns holding values of several Python types, which parquet cannot store."""


# ---------------------------------------------------------------------------------------------
# The data_loader section
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataLoaderConfig:
    """The `data_loader:` section, validated. `extractors` holds (registry name, kwargs) pairs; the
    extractors are built when loading, after the custom files in `extractor_paths` are imported.
    `paths.output_dir` is accepted and ignored, as HiBayES did."""

    files_to_process: tuple[str, ...] = ()
    extracted_data: tuple[str, ...] = ()
    cache_path: str | None = None
    extractor_paths: tuple[str, ...] = ()
    extractors: tuple[tuple[str, dict[str, Any]], ...] = DEFAULT_EXTRACTORS
    include_errored_samples: bool = False
    include_incomplete_logs: bool = False
    source: Path | None = None  # the YAML file: named in errors, and its folder anchors relative paths

    @property
    def where(self) -> str:
        return str(self.source) if self.source else "data_loader"

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None, source: Path | None = None) -> DataLoaderConfig:
        """Parse the mapping under `data_loader:`."""
        where = str(source) if source else "data_loader"
        loader = _mapping(raw, where, "data_loader")
        _check_keys(loader, SECTION_KEYS["data_loader"], where, "key in 'data_loader'")
        paths = _mapping(loader.get("paths"), where, "data_loader.paths")
        _check_keys(paths, PATHS_KEYS, where, "key in 'data_loader.paths'")
        extractors = _mapping(loader.get("extractors"), where, "data_loader.extractors")
        _check_keys(extractors, EXTRACTOR_KEYS, where, "key in 'data_loader.extractors'")

        files = _path_list(paths.get("files_to_process"), where, "data_loader.paths.files_to_process")
        tables = _path_list(paths.get("extracted_data"), where, "data_loader.paths.extracted_data")
        if files and tables:
            raise ConfigError(
                f"{where}: data_loader.paths has both 'files_to_process' and 'extracted_data'; give one: "
                "files_to_process reads Inspect logs through the extractors, extracted_data reads a "
                "prepared table as it is"
            )
        cache = paths.get("cache_path")
        if cache is not None and not isinstance(cache, (str, Path)):
            raise ConfigError(f"{where}: data_loader.paths.cache_path must be a path, got {cache!r}")
        enabled = _components(extractors.get("enabled"), where, "data_loader.extractors.enabled")
        check_extractor_arguments(enabled, where)
        return cls(
            files_to_process=files,
            extracted_data=tables,
            cache_path=str(cache) if cache is not None else None,
            extractor_paths=_path_list(extractors.get("path"), where, "data_loader.extractors.path"),
            extractors=tuple(enabled) or DEFAULT_EXTRACTORS,
            include_errored_samples=_flag(loader, "include_errored_samples", where),
            include_incomplete_logs=_flag(loader, "include_incomplete_logs", where),
            source=source,
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> DataLoaderConfig:
        """Read a YAML file: a whole analysis config (its `data_loader:` section is used) or, as in
        HiBayES, a file holding the section's keys at the top."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
        section = raw.get("data_loader") if isinstance(raw, dict) and "data_loader" in raw else raw
        return cls.from_dict(section, source=path)

    @classmethod
    def from_analysis(cls, config: AnalysisConfig) -> DataLoaderConfig:
        """The loader section of a parsed analysis config."""
        return cls.from_dict(config.raw.get("data_loader"), config.source)


def _mapping(value: Any, where: str, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: '{what}' must be a mapping, got {type(value).__name__}")
    return dict(value)


def _path_list(value: Any, where: str, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, Path)) else value
    if not isinstance(items, list) or not all(isinstance(item, (str, Path)) for item in items):
        raise ConfigError(f"{where}: '{what}' must be a path or a list of paths, got {value!r}")
    return tuple(str(item) for item in items)


def _flag(loader: Mapping[str, Any], key: str, where: str) -> bool:
    value = loader.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: 'data_loader.{key}' must be true or false, got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------
@dataclass
class ExtractorProblems:
    """What went wrong with one enabled extractor: calls that raised (the row lacks its columns)
    and values it flagged with an `ExtractorWarning` (left NaN), with the first messages."""

    failed: int = 0
    warned: int = 0
    examples: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failed += 1
        self._example(message)

    def warn(self, message: str) -> None:
        self.warned += 1
        self._example(message)

    def _example(self, message: str) -> None:
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(message)

    def merge(self, other: ExtractorProblems) -> None:
        self.failed += other.failed
        self.warned += other.warned
        self.examples.extend(other.examples[: MAX_EXAMPLES - len(self.examples)])


@dataclass
class SkippedLog:
    path: str
    reason: str


@dataclass
class LoadReport:
    """What `load_data` read, left out and could not read. Every field is JSON-serialisable."""

    source: str  # "logs", "extracted_data" or "cache"
    inputs: list[str] = field(default_factory=list)  # the files read, in order
    rows: int = 0
    logs_read: int = 0
    logs_read_in_full: int = 0  # logs whose full samples were read (the rest: summaries only)
    errored_samples_excluded: int = 0
    rows_without_score: int = 0
    skipped_logs: list[SkippedLog] = field(default_factory=list)
    extractor_problems: dict[str, ExtractorProblems] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    workers: int = 1

    def problems(self) -> list[str]:
        """One line per thing the user should know about, worst first."""
        lines = [f"skipped {s.path}: {s.reason}" for s in self.skipped_logs]
        for name, problem in self.extractor_problems.items():
            counts = [f"failed on {problem.failed} samples"] if problem.failed else []
            counts += [f"flagged {problem.warned} values"] if problem.warned else []
            lines.append(f"extractor {name} {' and '.join(counts)}; first: {' | '.join(problem.examples)}")
        if self.errored_samples_excluded:
            lines.append(
                f"left out {self.errored_samples_excluded} samples that errored "
                "(include_errored_samples: true keeps them)"
            )
        if self.rows_without_score:
            lines.append(f"{self.rows_without_score} rows have no numeric score")
        return lines + self.notes

    def summary(self) -> str:
        if self.source != "logs":
            return f"read {len(self.inputs)} file(s) from {self.source} into {self.rows} rows"
        return (
            f"read {self.logs_read} logs ({self.logs_read_in_full} with full samples, {self.workers} "
            f"process(es)) into {self.rows} rows; skipped {len(self.skipped_logs)} logs"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
def load_data(
    config: DataLoaderConfig, config_dir: Path | None = None, display: Any = None, *, workers: int | None = None
) -> pd.DataFrame:
    """The analysis data of `config`. Its `LoadReport` is logged through `display.logger` and kept,
    as a dict without the list of inputs, in `data.attrs["load_report"]`."""
    data, _ = load_data_with_report(config, config_dir, display, workers=workers)
    return data


def load_data_with_report(
    config: DataLoaderConfig, config_dir: Path | None = None, display: Any = None, *, workers: int | None = None
) -> tuple[pd.DataFrame, LoadReport]:
    """`load_data`, also returning the report. `config_dir` defaults to the YAML file's folder;
    `workers` forces the number of reading processes (1: read in this process)."""
    base = config_dir or (config.source.parent if config.source else None)
    if config.extracted_data:
        data, report = _load_extracted(config, base)
    elif (cache := _existing_cache(config, base)) is not None:
        data = pd.read_json(cache, lines=True)
        report = LoadReport(source="cache", inputs=[str(cache)])
        report.notes.append(
            f"read cache_path {cache} as the data: files_to_process and the extractors were not used "
            "(HiBayES's rule; nothing writes this file, so delete it to read the logs again)"
        )
    else:
        data, report = _load_logs(config, base, workers)
        if config.cache_path:
            report.notes.append(
                f"cache_path '{config.cache_path}' does not exist, so the logs were read; it is only "
                "ever read, never written"
            )
    report.rows = len(data)
    if "score" in data.columns:
        report.rows_without_score = int(pd.to_numeric(data["score"], errors="coerce").isna().sum())
    _publish(report, display)
    data = settle_types(data)
    # pandas copies attrs into every derived frame: keep the long list of inputs out of them
    data.attrs["load_report"] = {key: value for key, value in report.as_dict().items() if key != "inputs"}
    return data, report


def _publish(report: LoadReport, display: Any) -> None:
    logger = getattr(display, "logger", None) or LOGGER
    logger.info(report.summary())
    for line in report.problems():
        logger.warning(line)
    update_stat = getattr(display, "update_stat", None)
    if update_stat is not None:
        update_stat("Samples found", report.rows)
        update_stat("Logs read", report.logs_read)
        update_stat("Logs skipped", len(report.skipped_logs))
        update_stat("Extractor errors", sum(p.failed for p in report.extractor_problems.values()))


def _existing_cache(config: DataLoaderConfig, base: Path | None) -> Path | None:
    if not config.cache_path:
        return None
    try:
        return resolve_path(config.cache_path, base, "cache_path")
    except FileNotFoundError:
        return None


def _load_extracted(config: DataLoaderConfig, base: Path | None) -> tuple[pd.DataFrame, LoadReport]:
    paths = [resolve_path(entry, base, "extracted_data file") for entry in config.extracted_data]
    report = LoadReport(source="extracted_data", inputs=[str(p) for p in paths])
    if config.extractors != DEFAULT_EXTRACTORS or config.extractor_paths:
        report.notes.append("extractors are not applied to extracted_data: the table is used as it is")
    data = pd.concat([read_table(path) for path in paths], ignore_index=True)
    return data, report


def read_table(path: Path) -> pd.DataFrame:
    """One extracted_data file. A `.json` file may be a JSON array of records or JSON lines."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".jsonl" or (suffix == ".json" and not _starts_with_bracket(path)):
        return pd.read_json(path, lines=True)
    if suffix == ".json":
        return pd.read_json(path, orient="records")
    raise ConfigError(
        f"extracted_data file {path}: unsupported format '{suffix}'; supported: {', '.join(TABLE_SUFFIXES)}"
    )


def _starts_with_bracket(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith(b"[")


# ---------------------------------------------------------------------------------------------
# Finding the logs
# ---------------------------------------------------------------------------------------------
def expand_inputs(entries: Sequence[str], config_dir: Path | None, where: str = "data_loader") -> list[str]:
    """Log files named by `files_to_process` entries (files, folders, `.txt` manifests, URLs), in
    order, each once."""
    found: list[str] = []
    for entry in entries:
        if entry.endswith(".txt") and not is_url(entry):
            manifest = resolve_path(entry, config_dir, "files_to_process manifest")
            for number, line in enumerate(manifest.read_text().splitlines(), start=1):
                if line.strip():
                    found.extend(_expand_entry(line.strip(), manifest.parent, f"line {number} of {manifest}:"))
        else:
            found.extend(_expand_entry(entry, config_dir, "files_to_process entry"))
    if not found:
        raise ConfigError(f"{where}: data_loader.paths.files_to_process names no logs")
    return list(dict.fromkeys(found))


def _expand_entry(entry: str, base: Path | None, what: str) -> list[str]:
    if is_url(entry):
        return [entry] if entry.endswith(LOG_SUFFIXES) else _list_remote(entry, what)
    path = resolve_path(entry, base, what).resolve()
    if path.is_dir():
        logs = [str(p) for p in list_log_files(path)]
        if not logs:
            raise ConfigError(f"{what} '{entry}': the folder {path} holds no .eval or .json logs")
        return logs
    if path.suffix == ".txt":
        raise ConfigError(f"{what} '{entry}': a manifest cannot list another manifest")
    if path.suffix not in LOG_SUFFIXES:
        hint = " (a prepared table goes under extracted_data)" if path.suffix.lower() in TABLE_SUFFIXES else ""
        raise ConfigError(f"{what} '{entry}' is not an Inspect log (.eval or .json){hint}")
    return [str(path)]


def _list_remote(url: str, what: str) -> list[str]:
    """Logs under a URL (`s3://bucket/prefix/`), by the rules of a local folder."""
    folder = url.rstrip("/")
    logs = [str(log_file(folder, key)) for key in scan_remote(folder).found]
    if not logs:
        raise ConfigError(f"{what} '{url}': holds no .eval or .json logs")
    return logs


# ---------------------------------------------------------------------------------------------
# Reading the logs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadPlan:
    """How to read each log, in a form a spawned worker can rebuild the extractors from: the
    enabled (name, kwargs) pairs and what to import so that their builders are registered."""

    extractors: tuple[tuple[str, dict[str, Any]], ...]
    files: tuple[str, ...]  # custom `path:` files
    modules: tuple[str, ...]  # other modules defining enabled builders
    full_samples: bool
    include_errored_samples: bool
    include_incomplete_logs: bool


@dataclass
class LogResult:
    path: str
    eval_id: str | None = None  # the run the log holds; None when it could not be read
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    read_in_full: bool = False
    errored_excluded: int = 0
    problems: dict[str, ExtractorProblems] = field(default_factory=dict)


def _load_logs(config: DataLoaderConfig, base: Path | None, workers: int | None) -> tuple[pd.DataFrame, LoadReport]:
    if not config.files_to_process:
        raise ConfigError(
            f"{config.where}: data_loader.paths gives neither files_to_process (Inspect logs) nor extracted_data"
        )
    custom_files = [
        str(import_file(resolve_path(entry, base, "custom extractor file")).__file__)
        for entry in config.extractor_paths
    ]
    modules, in_process_only = _builder_modules(config.extractors, custom_files)
    plan = ReadPlan(
        extractors=config.extractors,
        files=tuple(custom_files),
        modules=tuple(modules),
        full_samples=not all(getattr(EXTRACTORS.builder(n), "reads_summaries", False) for n, _ in config.extractors),
        include_errored_samples=config.include_errored_samples,
        include_incomplete_logs=config.include_incomplete_logs,
    )
    paths = expand_inputs(config.files_to_process, base, config.where)
    report = LoadReport(source="logs", inputs=paths, workers=_worker_count(paths, workers, plan.full_samples))
    if report.workers > 1 and in_process_only:
        report.notes.append(f"read the logs in this process only: {in_process_only}")
        report.workers = 1
    extractors = build_extractors(plan)  # unknown names and arguments fail here, with suggestions
    if report.workers > 1:
        results = _read_in_workers(paths, plan, report.workers)
    else:
        results = [read_one_log(path, plan, extractors) for path in paths]
    return merge_results(results, report), report


def merge_results(results: Sequence[LogResult], report: LoadReport) -> pd.DataFrame:
    """The rows of every log, in order, with what each log reported added to `report`. A log
    holding the run of a log before it is skipped as a copy, whatever else it holds."""
    rows: list[dict[str, Any]] = []
    first_with_run: dict[str, str] = {}
    for result in results:
        if result.eval_id is not None:
            first = first_with_run.setdefault(result.eval_id, result.path)
            if first != result.path:
                report.skipped_logs.append(SkippedLog(result.path, same_run_message(result.path, first, result.eval_id)))
                continue
        if result.skipped:
            report.skipped_logs.append(SkippedLog(result.path, result.skipped))
            continue
        report.logs_read += 1
        report.logs_read_in_full += result.read_in_full
        report.errored_samples_excluded += result.errored_excluded
        for name, problems in result.problems.items():
            report.extractor_problems.setdefault(name, ExtractorProblems()).merge(problems)
        rows.extend(result.rows)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(IDENTITY_COLUMNS))


def _read_in_workers(paths: Sequence[str], plan: ReadPlan, workers: int) -> list[LogResult]:
    """One result per path, in the order of `paths`, from a pool of spawned processes."""
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(_read_in_worker, paths, itertools.repeat(plan)))
    except BrokenProcessPool as err:
        raise RuntimeError(
            "a log-reading worker process died. Workers are started with 'spawn', which imports the "
            "main module again: in a script, call load_data under `if __name__ == \"__main__\":`, "
            "or pass workers=1 to read in this process"
        ) from err


def _builder_modules(
    extractors: Sequence[tuple[str, dict[str, Any]]], custom_files: Sequence[str]
) -> tuple[list[str], str | None]:
    """Modules a worker must import to register the enabled builders (besides the custom files),
    or the reason the builders can only run in this process."""
    modules: list[str] = []
    for name, _ in extractors:
        module_name = EXTRACTORS.builder(name).__module__
        module_file = getattr(sys.modules.get(module_name), "__file__", None)
        if module_name == "__main__" or module_file is None:
            return [], f"extractor '{name}' is defined in {module_name}, which a new process cannot import"
        if module_file not in custom_files and module_name not in modules:
            modules.append(module_name)
    return modules, None


def _worker_count(paths: Sequence[str], requested: int | None, full_samples: bool) -> int:
    if len(paths) < 2:
        return 1
    if requested is not None:
        return max(1, min(requested, len(paths)))
    local_bytes = sum(os.path.getsize(p) for p in paths if not is_url(p))
    if local_bytes < (PARALLEL_MIN_BYTES_FULL if full_samples else PARALLEL_MIN_BYTES_SUMMARIES):
        return 1
    return min(len(paths), os.cpu_count() or 1, MAX_WORKERS)


# The extractors of a worker process, built on its first log: like HiBayES, which builds each
# extractor once per run, and cheap for builders that do real work. A pool serves one load only.
_worker_extractors: dict[str, list[tuple[str, Extractor]]] = {}


def _read_in_worker(path: str, plan: ReadPlan) -> LogResult:
    key = repr(plan)
    if key not in _worker_extractors:
        _worker_extractors[key] = build_extractors(plan)
    return read_one_log(path, plan, _worker_extractors[key])


def read_one_log(path: str, plan: ReadPlan, extractors: Sequence[tuple[str, Extractor]]) -> LogResult:
    """Read one log and run the extractors on its samples: from the header and the sample
    summaries where they hold everything the extractors need, from the full log otherwise."""
    from inspect_ai.log import read_eval_log, read_eval_log_sample_summaries

    try:
        log = read_eval_log(path, header_only=not plan.full_samples)
    except Exception as err:  # whatever Inspect's reader raises, the file is not a usable log
        return LogResult(path, skipped=f"not a readable Inspect log ({_describe(err)})")
    if log.status != "success" and not plan.include_incomplete_logs:
        detail = f": {log.error.message}" if log.error and log.error.message else ""
        return LogResult(
            path,
            log.eval.eval_id,
            skipped=f"log status is '{log.status}'{detail} (include_incomplete_logs: true keeps its samples)",
        )
    if not plan.full_samples:
        try:
            summaries = sorted(read_eval_log_sample_summaries(path), key=_inspect_order)
        except Exception:  # the full samples may still be readable
            summaries = None
        if summaries is not None and summaries_complete(log, summaries):
            try:
                return extract_rows(log, summaries, extractors, plan.include_errored_samples)
            except SummaryTooThin:  # a summary lacks what an extractor needs: read the full samples
                pass
        try:  # only the header has been read
            log = read_eval_log(path)
        except Exception as err:
            return LogResult(path, log.eval.eval_id, skipped=f"full samples unreadable ({_describe(err)})")
    result = extract_rows(log, log.samples or [], extractors, plan.include_errored_samples)
    result.read_in_full = True
    return result


def _inspect_order(sample: Any) -> tuple[int, str]:
    """The order in which Inspect returns full samples (`inspect_ai.log._log.sort_samples`): by
    epoch, then by id with numbers zero-padded. Summaries come in completion order."""
    return sample.epoch, sample.id if isinstance(sample.id, str) else str(sample.id).zfill(20)


def build_extractors(plan: ReadPlan) -> list[tuple[str, Extractor]]:
    """The enabled extractors, labelled by name (with `#n` for a repeated name)."""
    for module in plan.modules:
        importlib.import_module(module)
    for file in plan.files:
        import_file(Path(file))
    counts: dict[str, int] = {}
    for name, _ in plan.extractors:
        counts[name] = counts.get(name, 0) + 1
    seen: dict[str, int] = {}
    built = []
    for name, kwargs in plan.extractors:
        seen[name] = seen.get(name, 0) + 1
        label = f"{name}#{seen[name]}" if counts[name] > 1 else name
        built.append((label, EXTRACTORS.build(name, kwargs)))
    return built


def extract_rows(
    log: Any, samples: Sequence[Any], extractors: Sequence[tuple[str, Extractor]], include_errored: bool
) -> LogResult:
    """Rows of one log; extractor exceptions and `ExtractorWarning`s are counted per extractor."""
    result = LogResult(str(log.location), log.eval.eval_id)
    others: list[warnings.WarningMessage] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtractorWarning)
        for sample in samples:
            error = error_text(sample)
            if error and not include_errored:
                result.errored_excluded += 1
                continue
            row: dict[str, Any] = {"log": log.location, "id": str(sample.id), "epoch": sample.epoch, "error": error}
            for label, extract in extractors:
                try:
                    columns = extract(sample, log)
                    if not isinstance(columns, dict):
                        raise TypeError(f"returned {type(columns).__name__}, expected a dict of columns")
                    row.update(columns)
                except SummaryTooThin:
                    raise
                except Exception as err:
                    _problems(result, label).fail(f"{_where(log, sample)}: {_describe(err)}{raised_at(err, extract)}")
                for message in caught:
                    if issubclass(message.category, ExtractorWarning):
                        _problems(result, label).warn(f"{_where(log, sample)}: {message.message}")
                    else:
                        others.append(message)
                caught.clear()
            result.rows.append(row)
    for message in others:  # not ours to count: let them through as if never caught
        warnings.warn_explicit(message.message, message.category, message.filename, message.lineno)
    return result


def _problems(result: LogResult, label: str) -> ExtractorProblems:
    return result.problems.setdefault(label, ExtractorProblems())


def _where(log: Any, sample: Any) -> str:
    return f"{Path(str(log.location)).name} sample {sample.id} epoch {sample.epoch}"


def _describe(err: Exception) -> str:
    text = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# ---------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------
def settle_types(data: pd.DataFrame) -> pd.DataFrame:
    """Make every column storable in parquet: ints mixed with floats become floats; any other mix
    of Python types is a `MixedTypesError` naming each such column, its types and an example of
    each (HiBayES's `check_mixed_types`, with the details)."""
    mixed: list[str] = []
    for column in data.columns:
        if data[column].dtype != object:
            continue
        examples: dict[str, Any] = {}
        for value in data[column]:
            if not _is_missing(value):
                examples.setdefault(_kind(value), value)
        kinds = set(examples)
        if len(kinds) > 1 and kinds <= {"int", "float"}:
            data[column] = pd.to_numeric(data[column]).astype(float)
        elif len(kinds) > 1:
            shown = ", ".join(f"{kind} (e.g. {examples[kind]!r})" for kind in sorted(kinds))
            mixed.append(f"'{column}' mixes {shown}")
    if mixed:
        raise MixedTypesError(
            "columns mixing value types cannot be stored (parquet needs one type per column): "
            + "; ".join(mixed)
            + ". Make the extractor that writes each return one type."
        )
    return data


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, str):
        return "str"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "float"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__
