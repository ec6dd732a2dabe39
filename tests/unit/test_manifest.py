"""The ingest manifest: what the sensors and the planner read instead of the warehouse."""

import threading
import time

from hibayes.load.manifest import LogEntry, changed_logs, ingest_lock, read_manifest, warehouse_version, write_manifest


def test_the_warehouse_version_follows_usable_content_only(tmp_path):
    good = {"a.eval": LogEntry("1:10", "aaa", "success"), "b.eval": LogEntry("1:20", "bbb", "cancelled")}
    version = warehouse_version(good)
    # A corrupt file adds nothing; a re-saved file with the same bytes (new signature) changes nothing.
    assert warehouse_version({**good, "bad.eval": LogEntry("1:5", "ccc", "unreadable")}) == version
    assert warehouse_version({**good, "a.eval": LogEntry("2:10", "aaa", "success")}) == version
    # New content, or a new usable log, does.
    assert warehouse_version({**good, "a.eval": LogEntry("2:11", "abc", "success")}) != version
    assert warehouse_version({**good, "c.eval": LogEntry("1:1", "ddd", "error")}) != version

    write_manifest(tmp_path, good)
    assert read_manifest(tmp_path) == good
    assert read_manifest(tmp_path / "missing") == {}


def test_changed_logs_are_new_files_and_new_signatures():
    entries = {"a.eval": LogEntry("1:10", "aaa", "success"), "b.eval": LogEntry("1:20", "bbb", "success")}
    found = {"a.eval": "1:10", "b.eval": "2:20", "c.eval": "1:30"}
    assert changed_logs(found, entries) == ["b.eval", "c.eval"]
    assert changed_logs({"a.eval": "1:10"}, entries) == []


def test_the_ingest_lock_serialises_ingests(tmp_path):
    order = []

    def ingest(name: str) -> None:
        with ingest_lock(tmp_path):
            order.append(f"{name} in")
            time.sleep(0.2)
            order.append(f"{name} out")

    threads = [threading.Thread(target=ingest, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert order == ["first in", "first out", "second in", "second out"]


def test_unreadable_files_are_remembered_by_content_and_copies_are_not():
    assert LogEntry("1:5", "ccc", "unreadable").known_by_content  # the same bytes are not read again
    assert LogEntry("1:10", "aaa", "success").known_by_content
    assert not LogEntry("1:10", "aaa", "success", copy_of="a.eval").known_by_content
