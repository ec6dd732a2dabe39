"""Where logs live: a local folder (a `Path`) or an fsspec URL such as `s3://bucket/prefix` (a `str`).

One rule for what counts as a log wherever it lives (`.eval` and `.json` files, nothing hidden), and
one pair of facts per file: its change signature and its content identity. A local folder keeps its
tuned `os.walk`/`os.stat` walk (`hibayes.load.inspect_reader.scan_log_dir`) and its identity is the
sha256 of its bytes. An object's signature and identity are both its ETag and size, as the listing
gives them: no byte of it is read to decide whether it changed.

Listing an S3 prefix every few seconds costs a request per 1,000 keys, so the sensor lists only what
is new (`list_since`): S3's ListObjectsV2 `StartAfter` with the greatest log key seen whose file name
starts with a timestamp, as Inspect names its logs (`2026-11-24T05-05-37-00-00_task_id.eval`). Keys
after it are listed on every tick, so a new log Inspect writes into the same folder is seen at once,
and so are the few files named otherwise that sort after the timestamps (Inspect's `logs.json`).
Not seen until the next full listing, every `relist_seconds`: a deleted object, a rewritten one
(Inspect rewrites a log in place as the eval runs and when it ends; the objects the manifest holds as
`started` are therefore asked for on every tick, one HEAD each), and a new key that sorts before the
resume key (a log written with an older timestamp or another clock's offset, a new subfolder that
sorts earlier, a file copied in under an old name). A folder with no timestamp-named log has no
resume key: it is listed in full every tick. Other fsspec file systems have no `StartAfter`: every
look at them is a full listing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from stat import S_ISREG
from typing import Any

LOG_SUFFIXES = (".eval", ".json")
# Logs whose writer has not finished them: Inspect rewrites them in place.
UNFINISHED_STATUS = "started"

LogDir = Path | str  # a local folder, or an fsspec URL without its trailing slash
LogFile = Path | str

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_INSPECT_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}")


def is_url(location: object) -> bool:
    return isinstance(location, str) and _URL.match(location) is not None


def as_log_dir(value: str, root: Path | None = None) -> LogDir:
    """A setting's value as a log dir: a URL as it is (less a trailing slash), a path made absolute
    against `root` (default: the working directory)."""
    if is_url(value):
        return value.rstrip("/")
    path = Path(value).expanduser()
    return path if path.is_absolute() else (root or Path.cwd()).resolve() / path


def as_log_file(value: str) -> LogFile:
    """A stored location (a `log_path` column, a `files_to_process` entry) as a log file."""
    return value if is_url(value) else Path(value)


def log_file(log_dir: LogDir, key: str) -> LogFile:
    """The file of a partition key (a path relative to the log dir, with forward slashes)."""
    return f"{log_dir}/{key}" if isinstance(log_dir, str) else log_dir / key


def file_name(location: LogFile) -> str:
    return location.rsplit("/", 1)[-1] if isinstance(location, str) else location.name


@dataclass(frozen=True)
class FileFacts:
    size: int
    mtime: float  # seconds since the epoch
    signature: str  # the cheap change test: "<mtime_ns>:<size>" locally, "etag:<etag>:<size>" for an object
    remote: bool


def file_facts(location: LogFile) -> FileFacts | None:
    """Size, modification time and change signature of a file, or None when there is no file (a
    local link whose target is gone is no file either)."""
    if isinstance(location, str):
        fs, path = remote_fs(location)
        try:
            info = fs.info(path)
        except FileNotFoundError:
            return None
        return None if info.get("type") != "file" else _object_facts(info)
    try:
        stat = location.stat()  # through a link: its target's
    except OSError:
        return None
    if not S_ISREG(stat.st_mode):
        return None
    return FileFacts(stat.st_size, stat.st_mtime, f"{stat.st_mtime_ns}:{stat.st_size}", remote=False)


def content_id(location: LogFile, facts: FileFacts) -> str:
    """What a file's content is known by: the sha256 of a local file's bytes; an object's ETag and
    size (S3 computes the ETag from the bytes, so equal bytes uploaded alike have equal ETags),
    which spares reading the object again."""
    if facts.remote:
        return facts.signature
    return file_sha256(Path(location))


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LogDirScan:
    """What one look at the log dir found."""

    found: dict[str, str]  # each candidate log's partition key -> its change signature, in path order
    skipped: list[str]  # the files that are never read (`skipped_files`)


def in_path_order(keys: Iterable[str]) -> list[str]:
    """Keys as `Path`s sort, part by part."""
    return sorted(keys, key=lambda key: key.split("/"))


def remote_fs(url: str) -> tuple[Any, str]:
    """The fsspec file system of a URL and the path in it, with listings never cached: a sensor asks
    the same file system every tick, and a cached listing would hide every change."""
    import fsspec

    return fsspec.core.url_to_fs(url, use_listings_cache=False)


def scan_remote(url: str, start_after: str | None = None) -> LogDirScan:
    """The logs under a URL, by the rules of the local walk (hidden files and folders left out;
    `.eval` and `.json` files are candidates, other files are skipped). With `start_after` (a key),
    only the keys after it, where the file system can list from a key (S3); everywhere else a full
    listing."""
    fs, root = remote_fs(url)
    if start_after and "s3" in fs.protocol:
        objects = _s3_objects_after(fs, root, start_after)
    else:
        objects = {name[len(root) :].lstrip("/"): info for name, info in fs.find(root, detail=True).items()}
    found, skipped = {}, []
    for key, info in objects.items():
        if not key or key.endswith("/") or any(part.startswith(".") for part in key.split("/")):
            continue  # the prefix itself, a folder marker, or hidden
        if os.path.splitext(key)[1] in LOG_SUFFIXES:
            found[key] = _object_facts(info).signature
        else:
            skipped.append(key)
    return LogDirScan({key: found[key] for key in in_path_order(found)}, sorted(skipped))


def _s3_objects_after(fs: Any, root: str, start_after: str) -> dict[str, dict[str, Any]]:
    """The objects under `root` (bucket/prefix) whose key sorts after `start_after` (relative to it):
    ListObjectsV2 with StartAfter, page by page, through s3fs's client (its credentials and endpoint)."""
    from fsspec.asyn import sync

    bucket, prefix, _ = fs.split_path(root)
    prefix = f"{prefix}/" if prefix else ""
    objects: dict[str, dict[str, Any]] = {}
    request = {"Bucket": bucket, "Prefix": prefix, "StartAfter": prefix + start_after}
    while True:
        page = sync(fs.loop, fs._call_s3, "list_objects_v2", **request)
        for item in page.get("Contents", []):
            objects[item["Key"][len(prefix) :]] = {**item, "size": item["Size"], "type": "file"}
        if not page.get("IsTruncated"):
            return objects
        request["ContinuationToken"] = page["NextContinuationToken"]


def _object_facts(info: dict[str, Any]) -> FileFacts:
    size = int(info.get("size") or 0)
    modified = info.get("LastModified") or info.get("mtime") or info.get("created")
    mtime = modified.timestamp() if isinstance(modified, datetime) else float(modified or 0)
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    # Without an ETag (file systems other than S3), the modification time stands in for the content.
    signature = f"etag:{etag}:{size}" if etag else f"mtime:{mtime}:{size}"
    return FileFacts(size, mtime, signature, remote=True)


@dataclass(frozen=True)
class ListingCursor:
    """Where the sensor's listing of a remote log dir stands (kept in its cursor)."""

    after: str = ""  # the key listings resume after: the greatest timestamp-named log key seen
    full_listing_at: float = 0.0  # when the last full listing ran, in seconds since the epoch
    said: str = ""  # what the sensor last said about skipped files (its own note)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ListingCursor:
        """The cursor a sensor stored; a fresh one (a full listing next) for none or another format."""
        try:
            return cls(**json.loads(text or ""))
        except (ValueError, TypeError):
            return cls()


@dataclass(frozen=True)
class RemoteLook:
    scan: LogDirScan  # what this look listed (only the new keys, when not complete)
    complete: bool  # a full listing: what is not in it is gone
    cursor: ListingCursor


def list_since(
    url: str, cursor: ListingCursor, now: float, relist_seconds: float, unfinished: Collection[str] = ()
) -> RemoteLook:
    """One look at a remote log dir: a full listing when none ran in the last `relist_seconds` (or
    ever, or there is no key to resume after), else the keys after the cursor's, plus a HEAD of each
    `unfinished` key (logs Inspect is still writing, which it rewrites in place). An unfinished key
    that is gone is left out: the full listing says it is gone."""
    complete = not cursor.after or now - cursor.full_listing_at >= relist_seconds
    scan = scan_remote(url, start_after=None if complete else cursor.after)
    resume = max((key for key in scan.found if _INSPECT_NAME.match(file_name(key))), default="")
    if complete:
        return RemoteLook(scan, True, ListingCursor(resume, now, cursor.said))
    found = dict(scan.found)
    for key in unfinished:
        facts = file_facts(log_file(url, key))
        if facts is not None:
            found[key] = facts.signature
    return RemoteLook(LogDirScan(found, scan.skipped), False, replace(cursor, after=max(cursor.after, resume)))
