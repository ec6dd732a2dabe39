"""What happens to the log folder besides new files, through the real sensor and the demo: a deleted
log leaves every table and its partition (a copy it held counts instead), an ingest whose Dagster
record was lost (a kill after the DuckDB commit) is recorded on the next pass, and links are files
of the folder under their own path."""

import hashlib
import shutil
from functools import partial

import dagster as dg
from inspect_ai.log import read_eval_log, read_eval_log_sample_summaries

from hibayes.load.manifest import read_manifest, warehouse_version
from hibayes.warehouse import INGEST_TABLES, Warehouse
from hibayes_assets.assets import ingest
from hibayes_assets.demo import DemoSummary, execute_in_process, ingest_log_folder
from hibayes_assets.partitions import range_tags
from hibayes_assets.planner import plan
from hibayes_assets.sensors import apply_partition_changes, new_inspect_logs
from tests.conftest import example_log_files
from tests.dagster.conftest import materializations
from tests.dagster.test_live_pipeline import _quiet, _requested_keys, _tick

EVAL_SAMPLES = dg.AssetKey("eval_samples")


def _run_requests(project, tick: dg.SensorResult) -> list[dg.ExecuteInProcessResult]:
    """What the daemon does with the sensor's result: register its partitions, launch its runs."""
    apply_partition_changes(project.instance, list(tick.dynamic_partitions_requests))
    results = []
    for request in tick.run_requests:
        selection = [key.to_user_string() for key in request.asset_selection]
        results.append(project.materialize(selection, request.partition_key, tags=dict(request.tags)))
        assert results[-1].success, request.tags
    return results


def _three_logs(project) -> list[str]:
    """The fixture's folder cut to three logs (each ingest here reads every log once): their keys."""
    logs = sorted(project.settings.log_dir.iterdir())
    for path in logs[3:]:
        path.unlink()
    return [path.name for path in logs[:3]]


def _keys_in(warehouse: Warehouse, table: str) -> set[str]:
    return set(warehouse.query(f"SELECT DISTINCT log_key FROM {table}")["log_key"])


def test_a_deleted_log_leaves_every_table_and_its_partition_and_its_copy_counts_instead(project):
    logs, home = project.settings.log_dir, project.settings.home
    keys = _three_logs(project)
    kept, gone, copy = keys[0], keys[1], f"zz_copy_of_{keys[0]}"
    shutil.copy(logs / kept, logs / copy)
    _run_requests(project, _tick(new_inspect_logs, project))
    warehouse = Warehouse(project.settings.warehouse_path)
    assert read_manifest(home)[copy].copy_of == kept
    samples_of_gone = len(warehouse.query("SELECT * FROM samples WHERE log_key = ?", [gone]))
    samples, version = len(warehouse.table("samples")), warehouse_version(read_manifest(home))

    (logs / kept).unlink()
    (logs / gone).unlink()
    assert plan(project.instance, project.resources["project"]) == []  # nothing downstream while the removal waits
    removal = _tick(new_inspect_logs, project)
    order = list(project.instance.get_dynamic_partitions("inspect_logs"))
    assert _requested_keys(removal, order) == sorted([kept, gone, copy])  # the copy is read again, to count
    assert not removal.dynamic_partitions_requests  # never while a run for them may be queued
    _run_requests(project, removal)

    for table in INGEST_TABLES:
        assert not _keys_in(warehouse, table) & {kept, gone}, table
    assert copy in _keys_in(warehouse, "evals")
    assert len(warehouse.table("samples")) == samples - samples_of_gone
    manifest = read_manifest(home)
    assert kept not in manifest and gone not in manifest and manifest[copy].copy_of is None
    assert warehouse_version(manifest) != version  # so the planner refreshes what read them

    forget = _tick(new_inspect_logs, project)
    assert not forget.run_requests
    (delete,) = forget.dynamic_partitions_requests
    assert isinstance(delete, dg.DeleteDynamicPartitionsRequest) and sorted(delete.partition_keys) == [kept, gone]
    _run_requests(project, forget)
    assert kept not in project.instance.get_dynamic_partitions("inspect_logs")
    assert _quiet(_tick(new_inspect_logs, project))


def test_an_ingest_that_dagster_never_recorded_is_recorded_on_the_next_tick(project):
    _three_logs(project)
    first = _tick(new_inspect_logs, project)
    (ingest,) = _run_requests(project, first)
    keys = sorted(project.instance.get_dynamic_partitions("inspect_logs"))
    # A kill after the DuckDB commit: the warehouse and the manifest hold the logs, Dagster does not.
    project.instance.delete_run(ingest.run_id)
    assert project.instance.get_materialized_partitions(EVAL_SAMPLES) == set()

    again = _tick(new_inspect_logs, project)
    assert _requested_keys(again, keys) == keys
    assert {r.run_key for r in again.run_requests}.isdisjoint(r.run_key for r in first.run_requests)  # not deduplicated
    (record,) = _run_requests(project, again)
    recorded = materializations(record, "eval_samples")  # one per partition, none read again
    assert len(recorded) == len(keys) and {(m["logs_read"], m["logs_unchanged"]) for m in recorded} == {(0, len(keys))}
    assert project.instance.get_materialized_partitions(EVAL_SAMPLES) == set(keys)
    assert _quiet(_tick(new_inspect_logs, project))


def test_links_are_logs_of_the_folder_and_a_link_to_a_log_there_is_a_copy(project):
    logs = project.settings.log_dir
    keys = _three_logs(project)
    elsewhere = project.root / "elsewhere"
    elsewhere.mkdir()
    outside = shutil.copy(example_log_files()[-1], elsewhere / "outside.eval")
    (logs / "sub").mkdir()
    (logs / "sub" / "outside.eval").symlink_to(outside)
    (logs / "sub" / "same.eval").symlink_to(logs / keys[0])

    tick = _tick(new_inspect_logs, project)
    order = list(tick.dynamic_partitions_requests[0].partition_keys)
    assert _requested_keys(tick, order) == sorted([*keys, "sub/outside.eval", "sub/same.eval"])
    _run_requests(project, tick)
    warehouse = Warehouse(project.settings.warehouse_path)
    assert _keys_in(warehouse, "evals") == {*keys, "sub/outside.eval"}
    duplicates = warehouse.query("SELECT log_key, message FROM ingest_errors WHERE field = 'duplicate'")
    assert list(duplicates["log_key"]) == ["sub/same.eval"] and keys[0] in duplicates["message"].item()
    assert _quiet(_tick(new_inspect_logs, project))


def test_the_demo_records_what_dagster_lost_removes_deleted_logs_and_follows_links(project):
    """`make demo`'s ingest stage (what follows it, HAL, IRT and the analyses, is the planner's, as
    in test_live_pipeline)."""
    logs = project.settings.log_dir
    keys = _three_logs(project)
    project.add_logs(keys)
    ingest = project.materialize(["inspect_log", "eval_samples", "ingest_errors"], None, tags=range_tags(keys[0], keys[-1]))
    project.instance.delete_run(ingest.run_id)  # the kill after the DuckDB commit
    (logs / keys[-1]).unlink()
    (logs / "sub").mkdir()
    (logs / "sub" / "same.eval").symlink_to(logs / keys[0])

    summary = DemoSummary()
    execute = partial(execute_in_process, project.instance, project.resources, summary)
    ingest_log_folder(project.settings, project.instance, execute)
    assert summary.runs and all(ok for _, ok, _ in summary.runs), summary.failures
    present = {*keys[:-1], "sub/same.eval"}
    assert set(project.instance.get_dynamic_partitions("inspect_logs")) == present
    assert project.instance.get_materialized_partitions(EVAL_SAMPLES) >= present
    warehouse = Warehouse(project.settings.warehouse_path)
    assert _keys_in(warehouse, "evals") == set(keys[:-1])
    assert list(warehouse.query("SELECT log_key FROM ingest_errors WHERE field = 'duplicate'")["log_key"]) == ["sub/same.eval"]

    runs = len(summary.runs)
    ingest_log_folder(project.settings, project.instance, execute)
    assert len(summary.runs) == runs  # nothing left: the state the daemon would have left
    assert _quiet(_tick(new_inspect_logs, project))


def test_past_detailed_logs_each_logs_facts_are_on_its_check_not_its_materialization(project, monkeypatch):
    """A large range run adds no per-partition metadata (Dagster checks each addition against every
    registered partition: quadratic in a first ingest); each log's facts are on its check instead."""
    monkeypatch.setattr(ingest, "DETAILED_LOGS", 2)
    keys = _three_logs(project)
    (run,) = _run_requests(project, _tick(new_inspect_logs, project))

    checks = {evaluation.partition: evaluation.metadata for evaluation in run.get_asset_check_evaluations()}
    assert sorted(checks) == keys
    for key in keys:
        path = project.settings.log_dir / key
        facts = {name: value.value for name, value in checks[key].items()}
        assert facts["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert facts["samples"] == len(read_eval_log_sample_summaries(str(path)))
        assert facts["log_status"] == read_eval_log(str(path), header_only=True).status
    recorded = materializations(run, "eval_samples")
    assert len(recorded) == len(keys) and all("sha256" not in meta and meta["logs_read"] == len(keys) for meta in recorded)
