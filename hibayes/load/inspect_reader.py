"""Reading one Inspect log into warehouse rows with Inspect's own reader.

The header and the sample summaries are read (`read_eval_log(header_only=True)` and
`read_eval_log_sample_summaries`): they hold everything the tables need (scores, usage, timing,
errors, metadata), and they are what `inspect_ai.analysis.samples_df` reads too, so a large log is
usually never fully parsed. Where a log's summaries cannot be read or its writer left fields out
of them (see `summaries_complete`), its full samples are read instead, by the same rule as
HiBayES's loader, so that both paths start from the same values. Nothing here raises for bad
input: every problem becomes an error row that names the file and the field, and whatever could be
read is kept.

The small functions that turn a sample (a summary or a full sample) into one value each
(`target_text`, `error_text`, `message_count`, `usage_totals`, ...) are shared with the built-in
extractors: a value means the same in the warehouse as in the loader's frame.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from itertools import islice
from datetime import datetime, timezone
from pathlib import Path
from stat import S_ISREG
from typing import Any

import pandas as pd

from hibayes.load.log_locations import (
    LOG_SUFFIXES,
    FileFacts,
    LogDir,
    LogDirScan,
    LogFile,
    content_id,
    file_facts,
    file_name,
    in_path_order,
    log_file,
    scan_remote,
)
from hibayes.load.manifest import UNREADABLE
from hibayes.load.scores import convert_score

# Sample summaries gained metadata and model usage in inspect_ai 0.3.93.
SUMMARY_FIELDS_SINCE = (0, 3, 93)
READ_FROM_SUMMARIES = "summaries"
READ_FROM_FULL_SAMPLES = "full samples"


@dataclass
class LogRows:
    """What one log contributes to each warehouse table."""

    log_key: str
    evals: pd.DataFrame
    samples: pd.DataFrame
    scores: pd.DataFrame
    errors: pd.DataFrame
    status: str  # the log's status, or "unreadable"
    sha256: str
    log_path: str = ""
    eval_id: str | None = None  # None when the file could not be read
    read_from: str | None = None  # READ_FROM_SUMMARIES or READ_FROM_FULL_SAMPLES
    copy_of: str | None = None  # the key of the file whose rows stand for this run, when not this one

    def frames(self) -> dict[str, pd.DataFrame]:
        return {
            "evals": self.evals,
            "samples": self.samples,
            "scores": self.scores,
            "ingest_errors": self.errors,
            "log_files": self.provenance(),
        }

    def slimmed(self) -> LogRows:
        """This log once its rows are written: what callers report (status, errors, each sample's
        error flag) without the rows themselves, so that a large ingest holds one batch of rows."""
        # Copies, not slices: a slice of a frame is a view that keeps the whole frame's arrays alive.
        flags = self.samples[["has_error"]].copy() if "has_error" in self.samples else pd.DataFrame(index=self.samples.index)
        return replace(self, evals=self.evals.iloc[:0].copy(), samples=flags, scores=self.scores.iloc[:0].copy())

    def provenance(self) -> pd.DataFrame:
        """This file's row in `log_files`: which run it holds and which file's rows are used for it."""
        used = self.copy_of or (self.log_key if self.eval_id else None)
        return pd.DataFrame(
            [
                {
                    "log_key": self.log_key,
                    "log_path": self.log_path,
                    "sha256": self.sha256,
                    "eval_id": self.eval_id,
                    "status": self.status,
                    "read_from": self.read_from,
                    "used_log_key": used,
                }
            ]
        )


def log_key_for(path: Path, log_dir: Path) -> str:
    """The partition key of a log: its path relative to the log dir, with forward slashes. A link
    keeps its own path, wherever it points (outside the folder, or to a log in it: then it is a copy
    of that log, see `hibayes.load.copies`): the key must name the file the ingest opens, and no
    two files may share one."""
    for candidate, root in ((path, log_dir), (path.absolute(), log_dir.absolute())):
        try:
            return candidate.relative_to(root).as_posix()
        except ValueError:
            continue
    return path.name


def list_log_files(log_dir: LogDir) -> list[LogFile]:
    """Candidate log files under `log_dir` (a folder or a URL), recursively, in a stable order.

    `.json` files are candidates too: whether they are logs is decided when reading, so that a
    stray `logs.json` gets a clear error row instead of being silently skipped. Links to files are
    followed (a link whose target is gone is no file); links to folders are not, as a folder
    linking to one above it would never end.
    """
    return [log_file(log_dir, key) for key in scan_log_dir(log_dir).found]


def read_log(path: LogFile, log_key: str, scaffold_field: str = "scaffold") -> LogRows:
    """Read `path` into rows for `evals`, `samples`, `scores` and `ingest_errors`."""
    return read_logs({log_key: path}, scaffold_field)[0]


def read_logs(paths_by_key: Mapping[str, LogFile], scaffold_field: str = "scaffold") -> list[LogRows]:
    """Read many logs: Inspect's async readers fetch every header and summary list concurrently
    (the way `samples_df` batches its reads), then each log becomes rows."""
    fetched = asyncio.run(_fetch_all(list(paths_by_key.values())))
    return [_rows(path, key, read, scaffold_field) for (key, path), read in zip(paths_by_key.items(), fetched)]


# A large folder is read in batches of this many logs: memory holds a few batches whatever the
# folder's size, and each batch is one write transaction.
BATCH_LOGS = 200


def read_log_batches(
    paths_by_key: Mapping[str, LogFile], scaffold_field: str = "scaffold", batch_logs: int = BATCH_LOGS, workers: int | None = None
) -> Iterator[list[LogRows]]:
    """`read_logs` over batches of `batch_logs` logs, in order. With more than one batch, worker
    processes read them (parsing the summaries is CPU-bound: every core helps), at most one batch
    per worker and one more in flight, so memory does not grow with the folder."""
    items = list(paths_by_key.items())
    batches = [dict(items[start : start + batch_logs]) for start in range(0, len(items), batch_logs)]
    workers = min(workers or ingest_workers(), len(batches))
    if workers <= 1:
        yield from (read_logs(batch, scaffold_field) for batch in batches)
        return
    # Spawned, not forked: the caller (a Dagster run worker) has threads, which fork does not copy.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        waiting = iter(batches)
        pending = deque(pool.submit(read_logs, batch, scaffold_field) for batch in islice(waiting, workers + 1))
        while pending:
            rows = pending.popleft().result()
            following = next(waiting, None)
            if following is not None:
                pending.append(pool.submit(read_logs, following, scaffold_field))
            yield rows


def ingest_workers() -> int:
    """Reader processes for a large ingest: HIBAYES_INGEST_WORKERS, else one per CPU."""
    return max(1, int(os.environ.get("HIBAYES_INGEST_WORKERS", 0)) or os.cpu_count() or 1)


@dataclass(frozen=True)
class _Read:
    """What Inspect's reader gave for one file: its header and samples, or the exceptions it raised,
    and the file's facts as they were before the read."""

    header: Any
    samples: Any
    read_from: str = READ_FROM_SUMMARIES
    facts: FileFacts | None = None


async def _fetch_all(paths: list[LogFile]) -> list[_Read]:
    from inspect_ai.log import read_eval_log_async, read_eval_log_sample_summaries_async

    async def one(path: LogFile, facts: FileFacts | None) -> _Read:
        if facts is None:
            return _Read(FileNotFoundError(f"{path}: file not found"), [])
        header, summaries = await asyncio.gather(
            read_eval_log_async(str(path), header_only=True),
            read_eval_log_sample_summaries_async(str(path)),
            return_exceptions=True,
        )
        if isinstance(header, BaseException):
            return _Read(header, summaries, facts=facts)
        if not isinstance(summaries, BaseException) and summaries_complete(header, summaries):
            return _Read(header, summaries, facts=facts)
        try:
            full = await read_eval_log_async(str(path))
        except Exception as err:  # whatever Inspect's reader raises: the samples are unreadable
            return _Read(header, err, READ_FROM_FULL_SAMPLES, facts)
        return _Read(header, full.samples or [], READ_FROM_FULL_SAMPLES, facts)

    # One stat (a HEAD for an object) per file, before its read: the facts recorded are never newer
    # than the rows, so a file that changes during the read is read again.
    return list(await asyncio.gather(*(one(path, file_facts(path)) for path in paths)))


def summaries_complete(header: Any, summaries: Sequence[Any]) -> bool:
    """Whether a log's sample summaries hold every field the warehouse and the built-in extractors
    read: writers before inspect_ai 0.3.93 left metadata and model usage out of them, and some
    later ones the message count. Where they do not, the ingest and the loader both read the
    log's full samples instead."""
    version = re.match(r"(\d+)\.(\d+)\.(\d+)", (header.eval.packages or {}).get("inspect_ai", ""))
    if version is None or tuple(int(part) for part in version.groups()) < SUMMARY_FIELDS_SINCE:
        return False
    return all(summary.message_count is not None for summary in summaries)


def _rows(path: LogFile, log_key: str, read: _Read, scaffold_field: str) -> LogRows:
    header, samples, facts, name = read.header, read.samples, read.facts, file_name(path)
    started = datetime.now(timezone.utc)
    errors: list[dict[str, Any]] = []

    def error(field_name: str, message: str, sample_id: str | None = None, epoch: int | None = None) -> None:
        errors.append(
            {
                "log_key": log_key,
                "log_path": str(path),
                "sample_id": sample_id,
                "epoch": epoch,
                "field": field_name,
                "message": message,
                "recorded_at": started.replace(tzinfo=None),
            }
        )

    if isinstance(header, FileNotFoundError):
        error("file", str(header))
        return _unreadable(log_key, path, "", errors)
    assert facts is not None  # a file with no facts is the FileNotFoundError above
    sha = content_id(path, facts)
    if isinstance(header, BaseException):  # any failure of Inspect's reader: not a usable log
        error("file", f"{name}: not a readable Inspect log ({_describe(header)})")
        return _unreadable(log_key, path, sha, errors)

    spec = header.eval
    status = header.status
    if status != "success":
        detail = f": {header.error.message}" if header.error and header.error.message else ""
        error("status", f"{name}: log status is '{status}', expected 'success'{detail}")

    if isinstance(samples, BaseException):
        error("samples", f"{name}: neither the sample summaries nor the full samples could be read ({_describe(samples)})")
        samples = []

    scaffold = scaffold_of(spec, header.plan, scaffold_field)
    model = spec.model
    task = spec.task
    dataset = dataset_name(spec)
    sample_rows: list[dict[str, Any]] = []
    score_rows: list[dict[str, Any]] = []
    first_scores = _FirstScores()
    for sample in samples:
        sample_id = str(sample.id)
        usage = usage_totals(sample.model_usage)
        first_value: float | None = None
        for rank, (scorer, score) in enumerate((sample.scores or {}).items()):
            converted = convert_score(score.value)
            if rank == 0:
                first_value = converted.value
                first_scores.add_first(scorer, score.value)
            else:
                first_scores.add_other(scorer, converted.value is not None)
            if converted.is_problem:
                error(
                    f"score.{scorer}",
                    f"{name}: sample {sample_id} epoch {sample.epoch}: score value "
                    f"{converted.raw_json} of scorer '{scorer}' is not numeric (expected a number, "
                    "bool, numeric string or one of C/I/P/N)",
                    sample_id,
                    sample.epoch,
                )
            score_rows.append(
                {
                    "log_key": log_key,
                    "eval_id": spec.eval_id,
                    "sample_uuid": sample.uuid,
                    "sample_id": sample_id,
                    "epoch": sample.epoch,
                    "model": model,
                    "task": task,
                    "dataset": dataset,
                    "scorer": scorer,
                    "scorer_rank": rank,
                    "value": converted.value,
                    "raw_value": converted.raw_json,
                    "value_type": converted.kind,
                    "answer": _text_or_none(score.answer),
                    "reason": _text_or_none(getattr(score, "reason", None)),
                }
            )
        sample_error = error_text(sample)
        if sample_error:
            error(
                "sample.error",
                f"{name}: sample {sample_id} epoch {sample.epoch} errored: {sample_error}",
                sample_id,
                sample.epoch,
            )
        sample_rows.append(
            {
                "log_key": log_key,
                "eval_id": spec.eval_id,
                "sample_uuid": sample.uuid,
                "sample_id": sample_id,
                "epoch": sample.epoch,
                "model": model,
                "task": task,
                "dataset": dataset,
                "scaffold": scaffold,
                "input": _input_text(sample.input),
                "target": target_text(sample.target),
                **usage,
                "total_time": sample.total_time,
                "working_time": sample.working_time,
                "message_count": message_count(sample),
                "error": sample_error,
                "has_error": bool(sample_error),
                "limit_type": _limit_type(sample),
                "score": first_value,
                "metadata": _json(sample.metadata),
            }
        )

    for scorer, message in first_scores.dict_problems(name):
        error(f"score.{scorer}", message)

    eval_row = {
        "log_key": log_key,
        "log_path": str(path),
        "sha256": sha,
        "size_bytes": facts.size,
        "mtime": facts.mtime,
        "eval_id": spec.eval_id,
        "run_id": spec.run_id,
        "eval_set_id": spec.eval_set_id,
        "task": task,
        "task_id": spec.task_id,
        "dataset": dataset,
        "model": model,
        "solver": _solver_chain(spec, header.plan),
        "scaffold": scaffold,
        "status": status,
        "error_message": header.error.message if header.error else None,
        "created": spec.created,
        "started_at": header.stats.started_at if header.stats else None,
        "completed_at": header.stats.completed_at if header.stats else None,
        "epochs": spec.config.epochs if spec.config else None,
        "total_samples": header.results.total_samples if header.results else None,
        "completed_samples": header.results.completed_samples if header.results else None,
        "n_samples": len(sample_rows),
        "n_sample_errors": sum(row["has_error"] for row in sample_rows),
        "scorers": _json(_scorer_names(header, score_rows)),
        "metadata": _json(spec.metadata),
        "task_args": _json(spec.task_args),
        "inspect_version": (spec.packages or {}).get("inspect_ai"),
        "ingested_at": started.replace(tzinfo=None),
    }
    return LogRows(
        log_key=log_key,
        evals=pd.DataFrame([eval_row]),
        samples=pd.DataFrame(sample_rows),
        scores=pd.DataFrame(score_rows),
        errors=pd.DataFrame(errors),
        status=status,
        sha256=sha,
        log_path=str(path),
        eval_id=spec.eval_id,
        read_from=read.read_from,
    )


@dataclass
class _FirstScores:
    """What a log's samples' first scorers returned, to say why the samples whose first scorer
    returned a dict have no `score` (the column HAL and IRT read, and analyses by default) and what
    an analysis can choose instead."""

    scored: int = 0  # samples with any score
    dict_samples: dict[str, int] = field(default_factory=dict)  # by scorer: samples where it returned a dict
    keys: dict[str, dict[str, bool]] = field(default_factory=dict)  # by scorer: its dicts' keys, whether one held a number
    numeric_others: dict[str, None] = field(default_factory=dict)  # later scorers that returned a number

    def add_first(self, scorer: str, value: Any) -> None:
        self.scored += 1
        if isinstance(value, Mapping):
            self.dict_samples[scorer] = self.dict_samples.get(scorer, 0) + 1
            keys = self.keys.setdefault(scorer, {})
            for key, item in value.items():
                keys[str(key)] = keys.get(str(key), False) or convert_score(item).value is not None

    def add_other(self, scorer: str, numeric: bool) -> None:
        if numeric:
            self.numeric_others.setdefault(scorer, None)

    def dict_problems(self, file_name: str) -> list[tuple[str, str]]:
        """(scorer, message) for each first scorer that returned dicts: one row for the log, not
        one per sample."""
        problems = []
        for scorer, count in self.dict_samples.items():
            keys = self.keys[scorer]
            key = next((key for key, numeric in keys.items() if numeric), next(iter(keys), "KEY"))
            others = [other for other in self.numeric_others if other != scorer]
            another = f", or another scorer: base_extractor: {{scorer: {others[0]}}}" if others else ""
            problems.append(
                (
                    scorer,
                    f"{file_name}: scorer '{scorer}', the first, returned a dict (keys {', '.join(keys)}) for "
                    f"{count} of {self.scored} samples; a dict is not a number, so these samples have no `score` "
                    "and analyses that read the first scorer leave them out. In the analysis YAML, choose a key "
                    f"under data_loader.extractors.enabled: base_extractor: {{scorer: {scorer}, key: {key}}}{another}",
                )
            )
        return problems


def _unreadable(log_key: str, path: LogFile, sha: str, errors: list[dict[str, Any]]) -> LogRows:
    empty = pd.DataFrame()
    return LogRows(log_key, empty, empty, empty, pd.DataFrame(errors), UNREADABLE, sha, log_path=str(path))


def _describe(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:300]}" if text else type(err).__name__


def usage_totals(model_usage: dict[str, Any] | None) -> dict[str, Any]:
    """Token counts and cost summed over a sample's models; every value None when it has no usage."""
    totals = {
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
    }
    cost: float | None = None
    if not model_usage:
        return {**{k: None for k in totals}, "total_cost": None}
    for usage in model_usage.values():
        totals["input_tokens"] += usage.input_tokens or 0
        totals["output_tokens"] += usage.output_tokens or 0
        totals["total_tokens"] += usage.total_tokens or 0
        totals["cache_read_tokens"] += usage.input_tokens_cache_read or 0
        totals["cache_write_tokens"] += usage.input_tokens_cache_write or 0
        totals["reasoning_tokens"] += usage.reasoning_tokens or 0
        if usage.total_cost is not None:
            cost = (cost or 0.0) + usage.total_cost
    return {**totals, "total_cost": cost}


def scaffold_of(spec: Any, plan: Any, scaffold_field: str = "scaffold") -> str | None:
    """The agent scaffold: a metadata field of the eval (or its task), else the solver chain."""
    for source in (spec.metadata, getattr(spec, "task_attribs", None)):
        if isinstance(source, dict) and source.get(scaffold_field):
            return str(source[scaffold_field])
    return _solver_chain(spec, plan)


def _solver_chain(spec: Any, plan: Any) -> str | None:
    if spec.solver:
        return str(spec.solver)
    steps = getattr(plan, "steps", None) or []
    names = [step.solver for step in steps if getattr(step, "solver", None)]
    return ",".join(names) if names else None


def _scorer_names(header: Any, score_rows: list[dict[str, Any]]) -> list[str]:
    if header.results and header.results.scores:
        return [score.name for score in header.results.scores]
    return list(dict.fromkeys(row["scorer"] for row in score_rows))


def _input_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    parts = []
    for message in value:
        text = getattr(message, "text", None)
        parts.append(text if text is not None else str(getattr(message, "content", "")))
    return "\n".join(parts)


def target_text(target: str | list[str]) -> str:
    """The target as HiBayES's base_extractor gives it: `str(sample.target)` (a list target as
    Python writes a list)."""
    return str(target)


def error_text(sample: Any) -> str | None:
    """The sample's error message: a string in summaries, an `EvalError` in full samples."""
    error = sample.error
    if not error:
        return None
    return error if isinstance(error, str) else error.message


def message_count(sample: Any) -> int | None:
    """Messages in the sample: counted in full samples, as the summary recorded it otherwise (None
    where its writer did not record it)."""
    return len(sample.messages) if _is_full_sample(sample) else sample.message_count


def dataset_name(spec: Any) -> str | None:
    return spec.dataset.name if spec.dataset else None


def _limit_type(sample: Any) -> str | None:
    limit = sample.limit
    return limit if limit is None or isinstance(limit, str) else str(limit.type)


def _is_full_sample(sample: Any) -> bool:
    """A full `EvalSample` (it has its messages), not a thinned `EvalSampleSummary`."""
    return hasattr(sample, "messages")


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=str, allow_nan=True, sort_keys=False)


def scan_log_dir(log_dir: LogDir) -> LogDirScan:
    """One walk of `log_dir` for both `scan_logs` and `skipped_files`, by the rules of
    `list_log_files` (hidden files and folders left out, links to files followed, links to folders
    not), one `stat` per file and no `Path` per file: a sensor tick looks at a folder of 10,000 logs
    once, and in a fraction of a second. A URL is listed by fsspec (`scan_remote`), by the same rules."""
    if isinstance(log_dir, str):
        return scan_remote(log_dir)
    if not log_dir.is_dir():
        return LogDirScan({}, [])
    found, skipped = {}, []
    for folder, subfolders, names in os.walk(log_dir):  # links to folders are listed, not followed
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        relative = Path(folder).relative_to(log_dir).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        for name in names:
            if name.startswith("."):
                continue
            try:
                info = os.stat(os.path.join(folder, name))  # through a link: its target's
            except OSError:  # a link whose target is gone: no file
                continue
            if not S_ISREG(info.st_mode):
                continue
            if os.path.splitext(name)[1] in LOG_SUFFIXES:
                found[prefix + name] = f"{info.st_mtime_ns}:{info.st_size}"
            else:
                skipped.append(prefix + name)
    return LogDirScan({key: found[key] for key in in_path_order(found)}, sorted(skipped))


def scan_logs(log_dir: LogDir) -> dict[str, str]:
    """Each candidate log's partition key with its change signature."""
    return scan_log_dir(log_dir).found


def skipped_files(log_dir: LogDir) -> list[str]:
    """The files under `log_dir` that are never read, so that a caller can say so: not hidden, and
    not named like a log (`notes.txt`; `run.EVAL`, as the suffix is matched as Inspect writes it,
    lower case). Paths relative to `log_dir`, in a stable order."""
    return scan_log_dir(log_dir).skipped
