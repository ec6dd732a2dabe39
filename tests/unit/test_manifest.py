"""The ingest manifest: what the sensors and the planner read instead of the warehouse."""

import threading
import time

from hibayes.load.manifest import (
    LogEntry,
    changed_logs,
    forgotten_logs,
    ingest_lock,
    read_manifest,
    unrecorded_logs,
    warehouse_version,
    write_manifest,
)


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
    assert changed_logs({"a.eval": "1:10", "b.eval": "1:20"}, entries) == []


def test_a_gone_file_is_a_change_and_so_is_a_copy_whose_kept_file_changed_or_went():
    entries = {
        "a.eval": LogEntry("1:10", "aaa", "success"),
        "b.eval": LogEntry("1:10", "aaa", "success", copy_of="a.eval"),
        "c.eval": LogEntry("1:30", "ccc", "success"),
        "d.eval": LogEntry("1:30", "ccc", "success", copy_of="c.eval"),
    }
    here = {key: entry.signature for key, entry in entries.items()}
    assert changed_logs(here, entries) == []
    assert changed_logs({k: v for k, v in here.items() if k != "a.eval"}, entries) == ["a.eval", "b.eval"]
    assert changed_logs({**here, "c.eval": "2:30"}, entries) == ["c.eval", "d.eval"]
    assert changed_logs({"b.eval": "1:10"}, {"b.eval": entries["b.eval"]}) == ["b.eval"]  # its kept file left the manifest


def test_unrecorded_logs_are_current_in_the_manifest_but_not_in_the_orchestrator():
    entries = {"a.eval": LogEntry("1:10", "aaa", "success"), "b.eval": LogEntry("1:20", "bbb", "success")}
    found = {"a.eval": "1:10", "b.eval": "2:20", "c.eval": "1:30"}
    assert unrecorded_logs(found, entries, recorded=set()) == ["a.eval"]  # b and c are changed: ingested anyway
    assert unrecorded_logs(found, entries, recorded={"a.eval"}) == []


def test_a_partition_is_forgotten_once_its_file_and_its_entry_are_gone():
    entries = {"a.eval": LogEntry("1:10", "aaa", "success"), "gone.eval": LogEntry("1:20", "bbb", "success")}
    found = {"a.eval": "1:10", "new.eval": "1:30"}
    assert forgotten_logs(found, entries, ["a.eval", "gone.eval", "new.eval", "removed.eval"]) == ["removed.eval"]


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
