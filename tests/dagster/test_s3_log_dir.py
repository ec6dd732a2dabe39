"""The log sensor and the ingest on a log dir in an S3 bucket (moto's server, tests/s3.py), through
a real Dagster instance: new keys are ingested as they appear, unchanged ones are never read again,
deletions wait for a full listing, the rows are those of the same logs in a local folder, and a
corrupt object has an ingest_errors row naming its URL."""

from dataclasses import replace

import dagster as dg
import yaml

from hibayes.load.ingest import ingest_partitions
from hibayes.warehouse import INGEST_TABLES, Warehouse
from hibayes_assets.resources import build_resources
from hibayes_assets.sensors import new_inspect_logs
from tests.conftest import PROJECT_ROOT, example_log_files
from tests.dagster.conftest import Project, project_settings
from tests.dagster.test_live_pipeline import _quiet, _requested_keys
from tests.dagster.test_log_folder_changes import _run_requests
from tests.logfactory import write_not_a_zip

HOUR = 3600.0


def _tick(project: Project, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    """One evaluation of the log sensor with the cursor the last one left, as the daemon keeps it."""
    from hibayes_assets.definitions import defs

    context = dg.build_sensor_context(instance=project.instance, resources=project.resources, definitions=defs, cursor=cursor)
    return new_inspect_logs(context)


def _counts(warehouse: Warehouse) -> dict[str, int]:
    return {table: len(warehouse.table(table)) for table in INGEST_TABLES}


def test_the_sensor_ingests_an_s3_log_dir_from_a_cursor_with_the_rows_of_a_local_folder(s3_server, s3_log_dir, tmp_path):
    local_settings = project_settings(tmp_path, n_logs=3)
    local = local_settings.log_dir
    write_not_a_zip(local / "broken.eval")
    for path in local.iterdir():
        s3_server.upload(path, f"{s3_log_dir}/{path.name}")
    settings = replace(local_settings, log_dir=s3_log_dir, log_relist_seconds=HOUR)
    overrides = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    with dg.instance_for_test(temp_dir=str(settings.dagster_home), overrides=overrides) as instance:
        project = Project(tmp_path, settings, instance, build_resources(settings))
        first = _tick(project, None)
        keys = sorted(path.name for path in local.iterdir())
        assert _requested_keys(first, keys) == keys
        _run_requests(project, first)

        warehouse = Warehouse(settings.warehouse_path)
        parity = Warehouse(tmp_path / "local.duckdb")
        ingest_partitions(parity, tmp_path / "local_home", local, keys)
        assert _counts(warehouse) == _counts(parity) and _counts(warehouse)["samples"] > 0
        (error,) = warehouse.query("SELECT log_path, message FROM ingest_errors WHERE log_key = 'broken.eval'").to_dict("records")
        assert error["log_path"] == f"{s3_log_dir}/broken.eval" and "not a readable Inspect log" in error["message"]

        cursor = first.cursor
        s3_server.upload(local / keys[0], f"{s3_log_dir}/{keys[0]}")  # the same bytes again: the same ETag
        quiet = _tick(project, cursor)
        assert _quiet(quiet)

        # The new log is named after the others (past the cursor); the corrupt object goes. Both are
        # at the end of the partitions: one ingest run for the two.
        new_log, gone = example_log_files()[3], "broken.eval"
        s3_server.upload(new_log, f"{s3_log_dir}/{new_log.name}")
        s3_server.delete(f"{s3_log_dir}/{gone}")
        arrival = _tick(project, quiet.cursor)
        order = [*instance.get_dynamic_partitions("inspect_logs"), new_log.name]
        assert _requested_keys(arrival, order) == [new_log.name]  # between full listings a deletion is not seen

        project.resources = build_resources(replace(settings, log_relist_seconds=0))  # every look a full listing
        samples = len(warehouse.table("samples"))
        relisted = _tick(project, arrival.cursor)
        assert _requested_keys(relisted, order) == sorted([gone, new_log.name]) and len(relisted.run_requests) == 1
        _run_requests(project, relisted)
        added = len(warehouse.query("SELECT * FROM samples WHERE log_key = ?", [new_log.name]))
        assert added > 0 and len(warehouse.table("samples")) == samples + added
        assert len(warehouse.query("SELECT * FROM ingest_errors WHERE log_key = ?", [gone])) == 0
        forget = _tick(project, relisted.cursor)
        (delete,) = forget.dynamic_partitions_requests
        assert list(delete.partition_keys) == [gone]
