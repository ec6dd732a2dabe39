"""Sensors, the nightly schedule and declarative automation, evaluated against a real instance."""

import json
from datetime import datetime, timezone
import os
import shutil

import dagster as dg

from hibayes_assets.definitions import defs
from hibayes_assets.partitions import range_tags
from hibayes_assets.sensors import analysis_configs, new_inspect_logs
from tests.conftest import example_log_files


def _tick(sensor, project, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=project.instance, cursor=cursor, resources=project.resources, definitions=defs)
    return sensor(context)


def _requested_keys(result: dg.SensorResult, order: list[str]) -> list[str]:
    """Partition keys covered by the run requests (single keys or single-run ranges)."""
    keys = []
    for request in result.run_requests:
        if request.partition_key:
            keys.append(request.partition_key)
        else:
            start, end = (request.tags[f"dagster/asset_partition_range_{edge}"] for edge in ("start", "end"))
            keys += order[order.index(start) : order.index(end) + 1]
    return sorted(keys)


def test_new_inspect_logs_ingests_a_folder_of_new_logs_in_one_run(project):
    first = _tick(new_inspect_logs, project)
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())
    assert len(first.run_requests) == 1  # one single-run range for the whole folder
    assert _requested_keys(first, keys) == keys
    assert {k.to_user_string() for k in first.run_requests[0].asset_selection} == {"inspect_log", "eval_samples", "ingest_errors"}
    (added,) = first.dynamic_partitions_requests
    assert sorted(added.partition_keys) == keys

    project.add_logs(list(added.partition_keys))
    quiet = _tick(new_inspect_logs, project, first.cursor)
    assert not quiet.run_requests and quiet.skip_reason

    # A changed file (first in partition order) and a new one (appended): two requests.
    new_file = example_log_files()[-1]
    shutil.copy(new_file, project.settings.log_dir / new_file.name)
    changed = project.settings.log_dir / keys[0]
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    later = _tick(new_inspect_logs, project, quiet.cursor)
    assert _requested_keys(later, [*keys, new_file.name]) == sorted([new_file.name, keys[0]])
    assert list(later.dynamic_partitions_requests[0].partition_keys) == [new_file.name]
    assert set(json.loads(later.cursor)) == {*keys, new_file.name}


def test_a_range_run_ingests_every_log_in_it(project):
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())
    project.add_logs(keys)
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks], selection=["inspect_log", "eval_samples", "ingest_errors"],
        instance=project.instance, resources=project.resources, tags=range_tags(keys[0], keys[-1]),
    )
    assert result.success
    meta = result.asset_materializations_for_node("eval_samples")[0].metadata
    assert meta["logs"].value == len(keys)
    from hibayes.warehouse import Warehouse

    assert Warehouse(project.settings.warehouse_path).count_rows()["evals"] == len(keys)


def test_analysis_configs_registers_analyses_and_their_models(project):
    result = _tick(analysis_configs, project)
    assert [r.partition_key for r in result.run_requests] == ["model_comparison"]
    added = {r.partitions_def_name: sorted(r.partition_keys) for r in result.dynamic_partitions_requests}
    assert added == {
        "analyses": ["model_comparison"],
        "models": ["simplified_group_binomial_exponential", "two_level_group_binomial"],
    }
    # A broken YAML is reported and skipped; the good one is not requested again.
    (project.settings.analyses_dir / "broken.yaml").write_text("modle: {}\n")
    again = _tick(analysis_configs, project, result.cursor)
    assert not again.run_requests


def test_nightly_refit_requests_every_fit_forced(project):
    schedule = defs.resolve_schedule_def("nightly_refit")
    project.instance.add_dynamic_partitions("analyses", ["model_comparison"])
    project.instance.add_dynamic_partitions("models", ["two_level_group_binomial", "simplified_group_binomial_exponential"])
    tick = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
    with dg.build_schedule_context(instance=project.instance, resources=project.resources, scheduled_execution_time=tick, repository_def=defs.get_repository_def()) as context:
        data = schedule.evaluate_tick(context)
    keys = sorted(str(r.partition_key) for r in data.run_requests)
    assert keys == ["model_comparison|simplified_group_binomial_exponential", "model_comparison|two_level_group_binomial"]
    assert all(r.run_config["ops"]["model_fit"]["config"]["force"] is True for r in data.run_requests)
    assert len({r.run_key for r in data.run_requests}) == 2


def test_automation_refreshes_the_analysis_after_a_new_log_lands(project):
    key = sorted(p.name for p in project.settings.log_dir.iterdir())[0]
    project.add_logs([key])
    project.instance.add_dynamic_partitions("analyses", ["model_comparison"])
    first = dg.evaluate_automation_conditions(defs=defs, instance=project.instance)
    assert project.ingest(key).success
    after = dg.evaluate_automation_conditions(defs=defs, instance=project.instance, cursor=first.cursor)
    assert after.get_requested_partitions(dg.AssetKey("analysis_data")) == {"model_comparison"}
