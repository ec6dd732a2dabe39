"""The planner's ledger: a target is due when its newest planned run was made for another signature."""

import json

import dagster as dg
from dagster._core.utils import make_new_run_id

from hibayes_assets.planner import PLAN_TAG, PLANNED_TAG, read_ledger
from hibayes_assets.slots import KILLED_TAG


def _planned_run(instance: dg.DagsterInstance, targets: dict[str, str], status: dg.DagsterRunStatus, **tags: str) -> None:
    instance.add_run(dg.DagsterRun(
        job_name="__ASSET_JOB", run_id=make_new_run_id(), status=status,
        tags={PLANNED_TAG: "true", PLAN_TAG: json.dumps(targets), **tags},
    ))


def test_a_signature_seen_before_is_due_again_once_another_came_after_it():
    """A log added (signature B) and deleted again (back to A): every result must come back to A's data,
    though runs for A were made long ago."""
    with dg.instance_for_test() as instance:
        _planned_run(instance, {"inputs:a": "A", "hal": "A"}, dg.DagsterRunStatus.SUCCESS)
        _planned_run(instance, {"inputs:a": "B", "hal": "B"}, dg.DagsterRunStatus.SUCCESS)
        ledger = read_ledger(instance)
        assert ledger.due("inputs:a", "A") and ledger.due("hal", "A")
        assert not ledger.due("inputs:a", "B")
        assert ledger.due("inputs:never", "A")


def test_a_failed_run_is_not_retried_for_the_same_signature_but_a_killed_one_is():
    with dg.instance_for_test() as instance:
        _planned_run(instance, {"fit:a/m": "S"}, dg.DagsterRunStatus.FAILURE)
        _planned_run(instance, {"fit:a/k": "S"}, dg.DagsterRunStatus.FAILURE, **{KILLED_TAG: "true"})
        _planned_run(instance, {"report:a": "S"}, dg.DagsterRunStatus.STARTED)
        ledger = read_ledger(instance)
        assert not ledger.due("fit:a/m", "S") and ledger.due("fit:a/m", "T")
        assert ledger.due("fit:a/k", "S")
        assert not ledger.due("report:a", "T")  # in flight: wait for it


def test_due_fits_are_cut_into_shares_of_consecutive_fits():
    from hibayes_assets.planner import shares

    keys = ["a/1", "a/2", "b/1", "b/2", "c/1"]
    assert shares(keys, 1) == [keys]
    assert shares(keys, 2) == [["a/1", "a/2", "b/1"], ["b/2", "c/1"]]
    assert shares(keys, 4) == [["a/1", "a/2"], ["b/1"], ["b/2"], ["c/1"]]
    assert shares(keys[:2], 4) == [["a/1"], ["a/2"]]
    assert shares([], 3) == []


def test_every_pool_gets_its_limit_and_the_fit_pool_as_many_slots_as_fit_workers():
    import yaml

    from hibayes_assets.slots import FIT_POOL, size_pools
    from tests.conftest import PROJECT_ROOT

    overrides = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    with dg.instance_for_test(overrides=overrides) as instance:
        storage = instance.event_log_storage
        # Rows written before any run claims a slot (a pool created by two runs at once fails on PostgreSQL).
        assert size_pools(instance, 1, "duckdb") == [FIT_POOL, "duckdb"]
        assert {limit.name: limit.limit for limit in storage.get_pool_limits()} == {FIT_POOL: 1, "duckdb": 1}
        assert size_pools(instance, 1, "duckdb") == []
        assert size_pools(instance, 3, "duckdb") == [FIT_POOL]
        assert storage.get_concurrency_info(FIT_POOL).slot_count == 3
        assert size_pools(instance, 3, None) == []  # a warehouse with many writers: no pool of its own
        assert size_pools(instance, 1, None) == [FIT_POOL]
        assert storage.get_concurrency_info(FIT_POOL).slot_count == 1
