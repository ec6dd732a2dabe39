"""A log copied into the log folder under another name, through the real ingest assets: its run
counts once in the warehouse and in `analysis_data`, the copy is named (check, ingest_errors,
manifest), and nothing downstream sees a new warehouse version."""

import shutil

import dagster as dg

from hibayes.load.manifest import read_manifest, warehouse_version
from hibayes.warehouse import Warehouse
from tests.dagster.conftest import materializations


def test_a_copied_log_is_set_aside_and_its_samples_count_once(project):
    logs = project.settings.log_dir
    originals = sorted(p.name for p in logs.iterdir())
    project.add_logs(originals)
    for key in originals:
        assert project.ingest(key).success, key
    warehouse = Warehouse(project.settings.warehouse_path)
    counts = warehouse.count_rows(("evals", "samples", "scores"))
    version = warehouse_version(read_manifest(project.settings.home))

    copy = f"zz_synced_{originals[0]}"
    shutil.copy(logs / originals[0], logs / copy)
    project.add_logs([copy])
    for _ in range(2):  # a copy is read again each time (it must count once its original is gone)
        result = project.ingest(copy)
        assert result.success
        assert warehouse.count_rows(("evals", "samples", "scores")) == counts
        (check,) = result.get_asset_check_evaluations()
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert originals[0] in check.description and copy in check.description
        (meta,) = [m for m in materializations(result, "eval_samples") if m.get("copies_left_out") is not None]
        assert meta["copies_left_out"] == 1 and meta["logs_read"] == 1

    manifest = read_manifest(project.settings.home)
    assert manifest[copy].copy_of == originals[0]
    assert warehouse_version(manifest) == version  # nothing downstream is due
    duplicates = warehouse.query("SELECT log_key, message FROM ingest_errors WHERE field = 'duplicate'")
    assert list(duplicates["log_key"]) == [copy]
    assert not warehouse.table("samples").duplicated(["eval_id", "sample_id", "epoch"]).any()

    project.register_analyses()
    data = project.materialize(["analysis_data"], "model_comparison")
    assert data.success
    (data_meta,) = materializations(data, "analysis_data")
    report = data_meta["load_report"]
    assert report["rows_read"] == counts["samples"]
    assert data_meta["dagster/row_count"] == counts["samples"] - report["excluded_errored_samples"]
