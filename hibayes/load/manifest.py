"""The ingest manifest: which log files are in the warehouse, and as what.

A small JSON file next to the warehouse (`HIBAYES_HOME/ingested_logs.json`), rewritten by the ingest
after each DuckDB commit. Sensors read it instead of the warehouse (they must never take DuckDB's
lock), and `make demo` and the daemon read the same file, so both agree on what is new. The
warehouse version, a hash of the counted logs' contents, is what every downstream result depends
on: a corrupt file, a re-saved file with the same bytes, or a copy of a run another file holds
(`hibayes.load.copies`) does not change it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from hibayes.config import stable_hash

MANIFEST_NAME = "ingested_logs.json"
LOCK_NAME = "ingest.lock"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class LogEntry:
    signature: str  # "<mtime_ns>:<size>", the cheap change test
    sha256: str
    status: str  # the log's status (success, error, cancelled, started) or "unreadable"
    copy_of: str | None = None  # the key of the file whose rows stand for this log's run, if not its own

    @property
    def usable(self) -> bool:
        return self.status != UNREADABLE

    @property
    def counted(self) -> bool:
        """Its rows are among those every reader counts: a readable log that is not a copy."""
        return self.usable and self.copy_of is None

    @property
    def known_by_content(self) -> bool:
        """Whether the same bytes under a new signature (a touched or re-saved file) are not read
        again: true of a log counted as it is, and of a file that could not be read (the same bytes
        could not be read now either: it is remembered by its sha256 until it changes). A copy is
        read again, so that it counts once the file that held its run no longer does."""
        return self.copy_of is None


def manifest_path(home: Path) -> Path:
    return home / MANIFEST_NAME


def read_manifest(home: Path) -> dict[str, LogEntry]:
    path = manifest_path(home)
    if not path.exists():
        return {}
    return {key: LogEntry(**entry) for key, entry in json.loads(path.read_text()).items()}


def write_manifest(home: Path, entries: Mapping[str, LogEntry]) -> None:
    """Replace the manifest atomically (write a temporary file, then rename it over the old one)."""
    path = manifest_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({key: asdict(entry) for key, entry in sorted(entries.items())}, indent=0))
    tmp.replace(path)


@contextmanager
def ingest_lock(home: Path) -> Iterator[None]:
    """Serialise ingests across processes (the demo and the daemon's runs), so a log dropped while
    both run is read once: the second ingest finds it in the manifest, unchanged."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_NAME, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def warehouse_version(entries: Mapping[str, LogEntry]) -> str:
    """A hash of every counted log's key and content: what the warehouse's readers see."""
    return stable_hash(sorted((key, entry.sha256) for key, entry in entries.items() if entry.counted))


def changed_logs(found: Mapping[str, str], entries: Mapping[str, LogEntry]) -> list[str]:
    """Keys of the files whose rows in the warehouse are not what the folder holds (`found`: key ->
    signature): new files, files whose signature changed, files that are gone (their rows and entry
    go), and the copies of a run whose kept file is one of those or gone from the manifest (the copy
    is read again, and counts if the kept file no longer holds the run)."""
    changed = {key for key, signature in found.items() if key not in entries or entries[key].signature != signature}
    changed |= {key for key in entries if key not in found}
    copies = {
        key for key, entry in entries.items()
        if key in found and entry.copy_of is not None and (entry.copy_of in changed or entry.copy_of not in entries)
    }
    return sorted(changed | copies)


def unrecorded_logs(found: Mapping[str, str], entries: Mapping[str, LogEntry], recorded: Collection[str]) -> list[str]:
    """Keys of files the manifest holds as they are but whose ingest the orchestrator has no record
    of (`recorded`: keys with one): a run killed after the warehouse commit. Ingesting them again
    records them; their content is not read again."""
    return sorted(
        key for key, signature in found.items()
        if key in entries and entries[key].signature == signature and key not in recorded
    )


def forgotten_logs(found: Mapping[str, str], entries: Mapping[str, LogEntry], registered: Iterable[str]) -> list[str]:
    """Registered keys (partitions) whose file is gone and whose rows and entry the ingest has
    removed: nothing is left of them but the key. Delete them only when no ingest is queued or
    running: deleting a partition a run is queued for fails that run, so a deleted file's partition
    goes after the run that removed its rows, never with it."""
    return [key for key in registered if key not in found and key not in entries]
