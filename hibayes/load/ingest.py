"""One ingest: the log files of some partitions (keys: paths relative to the log dir) into the
warehouse and the manifest, as the `eval_samples` asset runs it.

Each key is one of three things: a file whose content the manifest already holds (not read again),
a file to read (new, changed, or a copy that may count now), or a file that is gone (its rows in
every ingest table and its manifest entry are removed; a copy of the run it held, ingested in the
same batch, counts instead). The warehouse write is one transaction, and the manifest is rewritten
after it: a kill between the two leaves the manifest behind, so the next ingest reads those files
again, which rewrites the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hibayes.load.copies import ingest_logs
from hibayes.load.inspect_reader import LogRows
from hibayes.load.log_locations import FileFacts, LogDir, LogFile, content_id, file_facts, log_file
from hibayes.load.manifest import LogEntry, ingest_lock, read_manifest, warehouse_version, write_manifest
from hibayes.warehouse import Warehouse


@dataclass(frozen=True)
class IngestOutcome:
    logs: list[LogRows]  # the files read, with the rows written (none for a copy)
    counts: dict[str, dict[str, int]]  # rows written per log and table
    unchanged: dict[str, LogEntry]  # files whose content the warehouse already held: not read
    removed: list[str]  # files that are gone: their rows and manifest entries were removed
    orphans: list[str]  # copies whose kept file no longer holds their run (to ingest again)
    version: str  # the warehouse version after the ingest


def ingest_partitions(
    warehouse: Warehouse, home: Path, log_dir: LogDir, keys: Sequence[str], scaffold_field: str = "scaffold"
) -> IngestOutcome:
    """Bring the warehouse and the manifest in `home` up to date with the files of `keys` under
    `log_dir` (a folder or a URL), holding the ingest lock so that two ingests of one file read it once."""
    with ingest_lock(home):
        entries = read_manifest(home)
        paths = {key: log_file(log_dir, key) for key in keys}
        facts = {key: file_facts(path) for key, path in paths.items()}
        removed = [key for key in keys if facts[key] is None]
        present = {key: path for key, path in paths.items() if key not in removed}
        unchanged = unchanged_logs(present, facts, entries)
        to_read = {key: path for key, path in present.items() if key not in unchanged}
        logs, counts = ingest_logs(warehouse, to_read, scaffold_field, removed=removed)
        for rows in logs:
            now = file_facts(paths[rows.log_key])
            signature = now.signature if now else ""  # gone since it was listed: removed next time
            entries[rows.log_key] = LogEntry(signature=signature, sha256=rows.sha256, status=rows.status, copy_of=rows.copy_of)
        entries.update(unchanged)
        for key in removed:
            entries.pop(key, None)
        write_manifest(home, entries)
        orphans = warehouse.orphaned_copies() if logs or removed else []
    return IngestOutcome(logs, counts, unchanged, removed, orphans, warehouse_version(entries))


def unchanged_logs(
    paths: Mapping[str, LogFile], facts: Mapping[str, FileFacts | None], entries: Mapping[str, LogEntry]
) -> dict[str, LogEntry]:
    """Logs already in the warehouse with the same content (only their signature changed, or a
    concurrent ingest got there first), and unreadable files with the same bytes: they are not
    read again. A copy always is, so that it counts once the file that held its run no longer does."""
    unchanged = {}
    for key, path in paths.items():
        entry, now = entries.get(key), facts[key]
        if entry is None or not entry.known_by_content or now is None:
            continue
        if entry.signature == now.signature or entry.sha256 == content_id(path, now):
            unchanged[key] = LogEntry(signature=now.signature, sha256=entry.sha256, status=entry.status)
    return unchanged
