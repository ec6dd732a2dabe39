"""One run, one count: recognising the same Inspect run in a second log file.

Logs get copied: synced between folders, uploaded again, saved twice. A file holding a run that
another file already holds (the same `eval_id`, or the very same bytes) is a copy, and its samples
are left out of everything that is counted, so each sample (eval_id, sample id, epoch) counts once.
Different runs of the same task and model have different `eval_id`s and stay different runs.

Which file counts:
- The warehouse keeps the file ingested first. Within one ingest, a file that already held the run
  keeps it, then files go in log key order. A copy gets no rows in `evals`, `samples` or `scores`
  (the tables HiBayES, HAL and IRT read); its `log_files` row names the file used, and an
  `ingest_errors` row (field `duplicate`) names both files. A copy is read again whenever its
  partition is ingested, so once the kept file's rows are gone (deleted, or the file now holds
  another run: `Warehouse.orphaned_copies`), ingesting the copy again makes it count; the sensor
  and the demo ingest it with the kept file's change (`hibayes.load.manifest.changed_logs`). The rule
  never moves a run between files by itself: a later copy that holds more of the run (say the
  kept file was synced while the run was still going) stays a copy until the kept file's rows go.
- HiBayES's loader keeps the first of its inputs holding each run (`files_to_process` order, a
  folder's files sorted by path), as Inspect's `samples_df` keeps the first log of each eval_id.
  For one folder ingested at once, both rules pick the same file.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from hibayes.load.inspect_reader import LogRows, read_log_batches

if TYPE_CHECKING:
    from hibayes.warehouse import Warehouse

DUPLICATE_FIELD = "duplicate"


def same_run_message(copy_path: str, kept_path: str, eval_id: str) -> str:
    return (
        f"{copy_path} holds the same run (eval_id {eval_id}) as {kept_path}, which came first: "
        "left out so that each sample counts once"
    )


def ingest_logs(
    warehouse: Warehouse, paths_by_key: Mapping[str, Path], scaffold_field: str = "scaffold", removed: Collection[str] = ()
) -> tuple[list[LogRows], dict[str, dict[str, int]]]:
    """Read the logs, set aside copies of runs already held, replace every log's partition, and
    delete the rows of the `removed` logs (files that are gone); returns the logs read (slimmed:
    their written rows dropped) and the rows written per log and table. A large folder goes in
    batches (`read_log_batches`), one transaction each, so memory holds a batch, not the folder; a
    kill between batches leaves committed batches that the next ingest rewrites alike. A run a
    removed log held is free for a copy read here to take. The runs held are read before each
    write, so callers serialise ingests (the assets hold `ingest_lock`)."""
    logs: list[LogRows] = []
    counts: dict[str, dict[str, int]] = {}
    to_remove = list(removed)
    for batch in read_log_batches(paths_by_key, scaffold_field):
        kept = warehouse.kept_runs()
        batch = set_aside_copies(batch, kept[~kept["log_key"].isin(list(removed))])
        counts.update(warehouse.replace_logs({rows.log_key: rows.frames() for rows in batch}, to_remove))
        to_remove = []
        logs += [rows.slimmed() for rows in batch]
    if to_remove:
        counts.update(warehouse.replace_logs({}, to_remove))
    return logs, counts


@dataclass(frozen=True)
class _Holder:
    """The file that holds a run."""

    log_key: str
    log_path: str


def set_aside_copies(logs: Sequence[LogRows], kept: pd.DataFrame) -> list[LogRows]:
    """`logs`, in their order, with each copy of a run held by another file (one of `kept`, the
    warehouse's runs, or one earlier in this batch) emptied of rows and pointing at that file."""
    batch = {rows.log_key for rows in logs}
    holders: dict[tuple[str, str], _Holder] = {}
    for other in kept.itertuples(index=False):
        if other.log_key not in batch:  # a batch file's old run gives way to what it holds now
            _hold(holders, other.eval_id, other.sha256, _Holder(other.log_key, other.log_path))
    already_kept = set(kept["log_key"]) & batch
    decided: dict[str, LogRows] = {}
    for rows in sorted(logs, key=lambda r: (r.log_key not in already_kept, r.log_key)):
        if rows.eval_id is None:  # not a readable log: it holds no run
            decided[rows.log_key] = rows
            continue
        holder = holders.get(("eval_id", rows.eval_id)) or holders.get(("sha256", rows.sha256))
        if holder is None:
            _hold(holders, rows.eval_id, rows.sha256, _Holder(rows.log_key, rows.log_path))
            decided[rows.log_key] = rows
        else:
            decided[rows.log_key] = _as_copy(rows, holder)
    return [decided[rows.log_key] for rows in logs]


def _hold(holders: dict[tuple[str, str], _Holder], eval_id: str, sha256: str, holder: _Holder) -> None:
    holders[("eval_id", eval_id)] = holders[("sha256", sha256)] = holder


def _as_copy(rows: LogRows, holder: _Holder) -> LogRows:
    """The copy's rows: none in the tables that are counted, and one `ingest_errors` row naming
    both files (the problems of its samples are left out with them)."""
    error = {
        "log_key": rows.log_key,
        "log_path": rows.log_path,
        "sample_id": None,
        "epoch": None,
        "field": DUPLICATE_FIELD,
        "message": same_run_message(rows.log_path, holder.log_path, str(rows.eval_id)),
        "recorded_at": datetime.now(timezone.utc).replace(tzinfo=None),
    }
    empty = pd.DataFrame()
    return replace(rows, evals=empty, samples=empty, scores=empty, errors=pd.DataFrame([error]), copy_of=holder.log_key)
