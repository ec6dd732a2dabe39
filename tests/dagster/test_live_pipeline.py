"""The live path against a real instance: the sensors, the planner and the demo's in-process runs.
A change runs once, where it matters; the demo leaves what the daemon would have left; blocking
checks hold a report back; nothing that cannot be materialized has a partition."""

import dataclasses
import json
import os
import shutil
from collections import Counter
from datetime import datetime, timezone

import dagster as dg
import yaml
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from hibayes.load.manifest import read_manifest, warehouse_version
from hibayes_assets.definitions import defs
from hibayes_assets.demo import run_demo
from hibayes_assets.partitions import range_tags
from hibayes_assets.planner import PLAN_TAG, STAGE_TAG, plan
from hibayes_assets.resources import build_resources
from hibayes_assets.slots import FIT_POOL
from hibayes_assets.sensors import analysis_configs, new_inspect_logs, partition_changes, refresh_results
from tests.conftest import EXAMPLE_ANALYSES, example_log_files
from tests.dagster.conftest import FAST_IRT, materializations, write_test_analysis
from tests.logfactory import write_error_log, write_not_a_zip


def _tick(sensor, project):
    context = dg.build_sensor_context(instance=project.instance, resources=project.resources, definitions=defs)
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


def _quiet(result) -> bool:
    return isinstance(result, dg.SkipReason) or (not result.run_requests and not result.dynamic_partitions_requests)


def _stages(summary) -> Counter:
    assert all(ok for _, ok, _ in summary.runs), summary.failures
    return Counter(stage for stage, _, _ in summary.runs)


def test_new_inspect_logs_ingests_new_and_changed_files_once(project):
    first = _tick(new_inspect_logs, project)
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())
    assert len(first.run_requests) == 1  # one single-run range for the whole folder
    assert _requested_keys(first, keys) == keys
    assert {k.to_user_string() for k in first.run_requests[0].asset_selection} == {"inspect_log", "eval_samples", "ingest_errors"}
    (added,) = first.dynamic_partitions_requests
    assert sorted(added.partition_keys) == keys

    project.add_logs(list(added.partition_keys))
    assert project.materialize(["inspect_log", "eval_samples", "ingest_errors"], None, tags=range_tags(keys[0], keys[-1])).success
    assert _quiet(_tick(new_inspect_logs, project))
    version = warehouse_version(read_manifest(project.settings.home))

    # A file re-saved with the same bytes is looked at, not read, and changes nothing downstream.
    touched = project.settings.log_dir / keys[0]
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    later = _tick(new_inspect_logs, project)
    assert _requested_keys(later, keys) == [keys[0]]
    rerun = project.ingest(keys[0])
    (meta,) = materializations(rerun, "eval_samples")
    assert rerun.success and meta["logs_read"] == 0 and meta["logs_unchanged"] == 1 and meta["unchanged"] is True
    assert warehouse_version(read_manifest(project.settings.home)) == version
    assert _quiet(_tick(new_inspect_logs, project))

    new_file = example_log_files()[-1]
    shutil.copy(new_file, project.settings.log_dir / new_file.name)
    newer = _tick(new_inspect_logs, project)
    assert _requested_keys(newer, [*keys, new_file.name]) == [new_file.name]
    assert list(newer.dynamic_partitions_requests[0].partition_keys) == [new_file.name]


def test_a_change_runs_once_where_it_matters_and_the_daemon_starts_quiet(project):
    logs = project.settings.log_dir
    held_back = sorted(logs.iterdir())[-1]
    shutil.move(held_back, project.root / held_back.name)
    write_test_analysis(project.settings.analyses_dir, models=["two_level_group_binomial"])
    project.settings.irt_config.write_text(yaml.safe_dump(FAST_IRT))

    # The demo: ingest, HAL + IRT, and one run from the analysis's data to its report.
    first = run_demo(project.settings, project.instance, project.resources)
    assert _stages(first) == {"ingest": 1, "results": 1, "analysis": 1}
    # The daemon's sensors find nothing left to do.
    for sensor in (new_inspect_logs, analysis_configs, refresh_results):
        assert _quiet(_tick(sensor, project)), sensor.name

    # A corrupt file: ingested (a failed check says why), and nothing downstream runs.
    write_not_a_zip(logs / "corrupt.eval")
    corrupt = run_demo(project.settings, project.instance, project.resources)
    assert _stages(corrupt) == {"ingest": 1}
    check = project.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("eval_samples"), "check_log_readable")]
    )
    assert check  # recorded for the corrupt log's own partition (see test_pipeline for its text)

    # A new log: 3 runs (ingest, the analysis from its data to its report, HAL + IRT).
    shutil.move(project.root / held_back.name, held_back)
    new_log = run_demo(project.settings, project.instance, project.resources)
    assert _stages(new_log) == {"ingest": 1, "results": 1, "analysis": 1}
    fits = _count(project, "model_fit")

    # A log whose samples the analysis leaves out (status error): its data is re-read, but its
    # features are the same, so its run records nothing after the data: no fit, no report.
    shutil.copy(write_error_log(project.root / "error_logs"), logs / "status_error.eval")
    excluded = run_demo(project.settings, project.instance, project.resources)
    assert _stages(excluded) == {"ingest": 1, "results": 1, "analysis": 1}
    assert _count(project, "model_fit") == fits and _count(project, "analysis_features") == 2

    # Fits materialized by hand without their report (here: reused): the report follows in a run of its own.
    assert project.materialize(["model_fit"], "model_comparison").success
    by_hand = run_demo(project.settings, project.instance, project.resources)
    assert _stages(by_hand) == {"report": 1}

    # A blocking check that fails (r_hat can never be below 1.0): the fit is reused, not resampled,
    # its check fails, and the report is held back saying why; the daemon does not retry it.
    path = project.settings.analyses_dir / "model_comparison.yaml"
    config = yaml.safe_load(path.read_text())
    config["check"]["checkers"][0] = {"r_hat": {"threshold": 1.0}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    blocked = run_demo(project.settings, project.instance, project.resources)
    assert Counter(stage for stage, _, _ in blocked.runs) == {"analysis": 1}
    assert any("held back" in failure and "check_r_hat" in failure for failure in blocked.failures)
    reused = project.instance.fetch_materializations(dg.AssetKey("model_fit"), limit=1).records[0]
    assert reused.asset_materialization.metadata["reused_stored_fit"].value is True
    r_hat = project.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("model_fit"), "check_r_hat")]
    )
    (execution,) = r_hat.values()  # the analysis's one result for the checker, naming the model that fails it
    assert execution.status == AssetCheckExecutionRecordStatus.FAILED
    assert "1 of 1 models: two_level_group_binomial: fail" in execution.event.dagster_event.event_specific_data.description
    assert _quiet(_tick(refresh_results, project))


def _count(project, asset: str) -> int:
    return len(project.instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records)


def test_analysis_partitions_follow_the_files(project):
    analyses = project.settings.analyses_dir
    requests, problems = partition_changes(project.instance, analyses)
    assert {r.partitions_def_name: list(r.partition_keys) for r in requests} == {"analyses": ["model_comparison"]}
    project.register_analyses()
    # A new file adds its partition; one that does not validate is reported, its partition kept; a deleted one goes.
    shutil.copy(EXAMPLE_ANALYSES / "judge_ratings.yaml", analyses / "judge_ratings.yaml")
    (analyses / "broken.yaml").write_text("modle: {}\n")
    requests, problems = partition_changes(project.instance, analyses)
    changes = {(type(r).__name__, r.partitions_def_name): list(r.partition_keys) for r in requests}
    assert changes == {("AddDynamicPartitionsRequest", "analyses"): ["judge_ratings"]}
    assert len(problems) == 1 and problems[0].startswith("broken:") and "model" in problems[0]
    project.register_analyses()
    (analyses / "model_comparison.yaml").unlink()
    requests, _ = partition_changes(project.instance, analyses)
    changes = {(type(r).__name__, r.partitions_def_name): list(r.partition_keys) for r in requests}
    assert changes == {("DeleteDynamicPartitionsRequest", "analyses"): ["model_comparison"]}


def test_nightly_refit_requests_every_analysis_forced_in_one_run(project):
    schedule = defs.resolve_schedule_def("nightly_refit")
    shutil.copy(EXAMPLE_ANALYSES / "judge_ratings.yaml", project.settings.analyses_dir / "judge_ratings.yaml")
    project.register_analyses()
    tick = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
    with dg.build_schedule_context(instance=project.instance, resources=project.resources, scheduled_execution_time=tick, repository_def=defs.get_repository_def()) as context:
        data = schedule.evaluate_tick(context)
    (request,) = data.run_requests
    order = project.instance.get_dynamic_partitions("analyses")
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) == (order[0], order[-1])
    assert request.run_config["ops"]["analysis"]["config"]["force"] is True


def test_one_run_takes_every_affected_analysis_from_its_data_to_its_report(project):
    """Two analyses, one of which reads four given logs: one run fits and reports both; a new log then
    makes one run for both, in which the one whose data did not change stops after its data query.
    With HIBAYES_FIT_WORKERS=2 the sensor asks for a run per analysis, and the fit pool has 2 slots."""
    analyses = project.settings.analyses_dir
    write_test_analysis(analyses, models=["two_level_group_binomial"])
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())
    four_logs = yaml.safe_load((analyses / "model_comparison.yaml").read_text())
    four_logs["data_loader"]["paths"] = {"files_to_process": [str(project.settings.log_dir / key) for key in keys[:4]]}
    (analyses / "four_logs.yaml").write_text(yaml.safe_dump(four_logs, sort_keys=False))
    held_back = project.settings.log_dir / keys[-1]
    shutil.move(held_back, project.root / held_back.name)
    project.add_logs(keys[:-1])
    assert project.materialize(["inspect_log", "eval_samples", "ingest_errors"], None, tags=range_tags(keys[0], keys[-2])).success
    project.register_analyses()
    paths = project.resources["project"]

    first = plan(project.instance, paths)
    # One run for both analyses, queued before HAL/IRT, which would delay it.
    assert [run.stage for run in first] == ["analysis", "results"]
    run = first[0]
    order = project.instance.get_dynamic_partitions("analyses")
    assert sorted(order) == ["four_logs", "model_comparison"] and run.partition_range == (order[0], order[-1])
    assert set(run.targets) == {"analysis:model_comparison", "analysis:four_logs"}
    two_workers = build_resources(dataclasses.replace(project.settings, fit_workers=2))
    context = dg.build_sensor_context(instance=project.instance, resources=two_workers, definitions=defs)
    requests = [r for r in refresh_results(context).run_requests if r.tags[STAGE_TAG] == "analysis"]
    assert sorted(r.partition_key for r in requests) == ["four_logs", "model_comparison"]
    assert project.instance.event_log_storage.get_concurrency_info(FIT_POOL).slot_count == 2

    done = project.materialize(list(run.assets), None, tags=run.tags)
    assert done.success
    for asset in ("analysis_features", "model_fit", "check_results", "model_comparison", "comparisons", "analysis_report"):
        assert sorted(m.partition for m in _materialized(done, asset)) == ["four_logs", "model_comparison"], asset
    assert [run.stage for run in plan(project.instance, paths) if run.stage != "results"] == []

    # A new log changes one analysis's data: one run for both, the other stops after its data.
    shutil.move(project.root / held_back.name, held_back)
    project.add_logs([held_back.name])
    assert project.ingest(held_back.name).success
    (again,) = [run for run in plan(project.instance, paths) if run.stage == "analysis"]
    refreshed = project.materialize(list(again.assets), None, tags=again.tags)
    assert refreshed.success
    for asset in ("model_fit", "analysis_report"):
        assert [m.partition for m in _materialized(refreshed, asset)] == ["model_comparison"], asset
    assert json.loads(again.tags[PLAN_TAG]).keys() == {"analysis:model_comparison", "analysis:four_logs"}


def _materialized(result: dg.ExecuteInProcessResult, asset: str) -> list:
    return [
        event.event_specific_data.materialization for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION" and event.event_specific_data.materialization.asset_key == dg.AssetKey(asset)
    ]


def test_an_unreadable_file_is_remembered_by_its_content_until_it_changes(project):
    corrupt = write_not_a_zip(project.settings.log_dir / "corrupt.eval")
    project.add_logs([corrupt.name])
    (first,) = materializations(project.ingest(corrupt.name), "eval_samples")
    assert first["logs_read"] == 1 and read_manifest(project.settings.home)[corrupt.name].status == "unreadable"

    stat = corrupt.stat()  # touched: a new signature, the same bytes
    os.utime(corrupt, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rerun = project.ingest(corrupt.name)
    (again,) = materializations(rerun, "eval_samples")
    assert rerun.success and again["logs_read"] == 0 and again["logs_unchanged"] == 1
    entry = read_manifest(project.settings.home)[corrupt.name]
    assert entry.status == "unreadable" and entry.signature == f"{corrupt.stat().st_mtime_ns}:{stat.st_size}"
