"""Logs in an S3 bucket (moto's S3 server on 127.0.0.1, see tests/s3.py): listed by the rules of a
local folder, from a cursor between full listings; ingested with inspect_ai's readers over the URL
into the same rows as the same files in a local folder; loaded by the CLI from a prefix or one URL."""

import hashlib
import shutil
from pathlib import Path

import pandas as pd

from hibayes.cli import main
from hibayes.load.ingest import ingest_partitions
from hibayes.load.log_locations import ListingCursor, list_since, scan_remote
from hibayes.load.manifest import read_manifest
from hibayes.settings import load_settings
from hibayes.warehouse import INGEST_TABLES, Warehouse
from tests.conftest import example_log_files
from tests.logfactory import write_not_a_zip
from tests.unit.test_cli import CONFIG

EARLY, FIRST, SECOND, THIRD = example_log_files()[:4]  # in name order: Inspect's names start with a timestamp


def _etag_signature(path: Path) -> str:
    """An object's signature as S3 defines its ETag for a single-part upload: the MD5 of its bytes."""
    data = path.read_bytes()
    return f"etag:{hashlib.md5(data).hexdigest()}:{len(data)}"


def test_a_url_log_dir_stays_a_url_and_a_folder_stays_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("HIBAYES_LOG_DIR", "s3://bucket/prefix/")
    assert load_settings(tmp_path).log_dir == "s3://bucket/prefix"
    monkeypatch.setenv("HIBAYES_LOG_DIR", "logs")
    assert load_settings(tmp_path).log_dir == tmp_path.resolve() / "logs"


def test_the_listing_resumes_after_the_last_log_and_a_full_listing_sees_the_rest(s3_server, s3_log_dir, tmp_path):
    url = s3_log_dir
    for path in (FIRST, SECOND):
        s3_server.upload(path, f"{url}/{path.name}")
    s3_server.upload(write_not_a_zip(tmp_path / "notes.txt"), f"{url}/notes.txt")
    s3_server.upload(FIRST, f"{url}/.hidden/{FIRST.name}")
    s3_server.upload(FIRST, f"{url}-elsewhere/{FIRST.name}")  # a sibling prefix is not in the log dir

    full = list_since(url, ListingCursor(), now=1000.0, relist_seconds=60)
    assert full.complete
    assert full.scan.found == {FIRST.name: _etag_signature(FIRST), SECOND.name: _etag_signature(SECOND)}
    assert full.scan.skipped == ["notes.txt"]
    assert full.cursor.after == SECOND.name

    s3_server.upload(THIRD, f"{url}/{THIRD.name}")  # a new log: after the cursor
    new = list_since(url, full.cursor, now=1010.0, relist_seconds=60)
    assert not new.complete and new.scan.found == {THIRD.name: _etag_signature(THIRD)}
    assert new.cursor.after == THIRD.name and new.cursor.full_listing_at == 1000.0

    s3_server.upload(EARLY, f"{url}/{EARLY.name}")  # sorts before the cursor
    s3_server.delete(f"{url}/{FIRST.name}")
    s3_server.upload(THIRD, f"{url}/{SECOND.name}")  # rewritten in place
    between = list_since(url, new.cursor, now=1020.0, relist_seconds=60)
    assert not between.complete and between.scan.found == {}  # the documented limits of StartAfter
    unfinished = list_since(url, new.cursor, now=1020.0, relist_seconds=60, unfinished=[SECOND.name, FIRST.name])
    assert unfinished.scan.found == {SECOND.name: _etag_signature(THIRD)}  # asked for by name; the gone one left out

    relisted = list_since(url, between.cursor, now=1060.0, relist_seconds=60)
    assert relisted.complete
    assert relisted.scan.found == {
        EARLY.name: _etag_signature(EARLY), SECOND.name: _etag_signature(THIRD), THIRD.name: _etag_signature(THIRD)
    }
    assert relisted.cursor == ListingCursor(THIRD.name, 1060.0)


def _row_counts(warehouse: Warehouse) -> dict[str, int]:
    return {table: len(warehouse.table(table)) for table in INGEST_TABLES}


def test_an_s3_log_dir_ingests_the_rows_of_the_same_local_folder_and_names_a_corrupt_object(s3_server, s3_log_dir, tmp_path):
    local = tmp_path / "logs"
    local.mkdir()
    for path in (FIRST, SECOND):
        shutil.copy(path, local / path.name)
    write_not_a_zip(local / "broken.eval")
    for path in local.iterdir():
        s3_server.upload(path, f"{s3_log_dir}/{path.name}")
    keys = list(scan_remote(s3_log_dir).found)
    assert keys == sorted(path.name for path in local.iterdir())

    local_warehouse, remote_warehouse = Warehouse(tmp_path / "local.duckdb"), Warehouse(tmp_path / "remote.duckdb")
    ingest_partitions(local_warehouse, tmp_path / "local_home", local, keys)
    outcome = ingest_partitions(remote_warehouse, tmp_path / "remote_home", s3_log_dir, keys)
    assert _row_counts(remote_warehouse) == _row_counts(local_warehouse)
    assert _row_counts(remote_warehouse)["samples"] > 0
    columns = ["log_key", "eval_id", "sample_id", "epoch", "score", "total_tokens"]
    samples = [w.query(f"SELECT {', '.join(columns)} FROM samples ORDER BY ALL") for w in (remote_warehouse, local_warehouse)]
    pd.testing.assert_frame_equal(*samples)

    (error,) = remote_warehouse.query("SELECT log_path, field, message FROM ingest_errors WHERE log_key = 'broken.eval'").to_dict("records")
    assert error["log_path"] == f"{s3_log_dir}/broken.eval" and error["field"] == "file"
    assert "broken.eval: not a readable Inspect log" in error["message"]
    assert read_manifest(tmp_path / "remote_home")["broken.eval"].status == "unreadable"

    # The content identity of an object is its ETag and size: nothing changed, nothing read again.
    again = ingest_partitions(remote_warehouse, tmp_path / "remote_home", s3_log_dir, keys)
    assert again.logs == [] and sorted(again.unchanged) == keys
    assert again.version == outcome.version


def test_the_cli_loads_logs_from_an_s3_prefix_and_from_one_object(s3_server, s3_log_dir, tmp_path, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    (tmp_path / "logs").mkdir()
    for path in (FIRST, SECOND):
        shutil.copy(path, tmp_path / "logs" / path.name)
        s3_server.upload(path, f"{s3_log_dir}/run/{path.name}")
    frames = {}
    for name, files in {"local": ["logs"], "prefix": [f"{s3_log_dir}/run/"], "object": [f"{s3_log_dir}/run/{SECOND.name}"]}.items():
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({**CONFIG, "data_loader": {**CONFIG["data_loader"], "paths": {"files_to_process": files}}}))
        assert main(["--config", str(config), "--out", name], prog="hibayes-load") == 0
        frames[name] = pd.read_parquet(tmp_path / name / "data.parquet")
    local = frames["local"]
    assert len(local) > 0 and set(local["log"].map(lambda p: Path(p).name)) == {FIRST.name, SECOND.name}
    assert set(frames["prefix"]["log"]) == {f"{s3_log_dir}/run/{FIRST.name}", f"{s3_log_dir}/run/{SECOND.name}"}
    locations = ["log", "log_path"]
    pd.testing.assert_frame_equal(frames["prefix"].drop(columns=locations), local.drop(columns=locations))
    of_second = local[local["log"].str.endswith(SECOND.name)].reset_index(drop=True)
    pd.testing.assert_frame_equal(frames["object"].drop(columns=locations), of_second.drop(columns=locations))
