"""A stage killed with SIGKILL while it holds the `duckdb` pool slot: the next stage says what it
waits for and who holds it, then frees the dead run's slot and goes on (issue 14, item 1)."""

import os
import signal
import subprocess
import sys
import threading
import time

import dagster as dg
import pytest
import yaml

from hibayes_assets.slots import process_tags, reporting_waits
from tests.conftest import PROJECT_ROOT

# A demo stage as the demo runs one: in process, tagged with its process, holding the pool slot.
HOLDER = """
import time
import dagster as dg
from hibayes_assets.slots import process_tags

@dg.asset(pool="duckdb")
def holds_the_slot():
    print("holding", flush=True)
    time.sleep(120)

dg.materialize([holds_the_slot], instance=dg.DagsterInstance.get(), tags=process_tags())
"""


@dg.asset(pool="duckdb")
def next_stage() -> int:
    return 1


@pytest.mark.slow
def test_a_killed_stage_does_not_block_the_next_one(tmp_path):
    overrides = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        )
        try:
            assert holder.stdout.readline().strip() == "holding"
            said: list[str] = []
            results: list[dg.ExecuteInProcessResult] = []

            def stage() -> None:
                with reporting_waits(instance, say=said.append, notice_after=0.5, poll=0.5):
                    results.append(dg.materialize([next_stage], instance=instance, tags=process_tags()))

            runner = threading.Thread(target=stage, daemon=True)
            runner.start()
            deadline = time.monotonic() + 10
            while not any("waiting for a slot in pool duckdb" in line for line in said) and time.monotonic() < deadline:
                time.sleep(0.2)
            waiting = [line for line in said if "waiting" in line]
            assert waiting and f"pid {holder.pid}" in waiting[0], said
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        runner.join(timeout=15)
        assert not runner.is_alive(), f"the next stage still waits after its holder was killed: {said}"
        assert results[0].success
        assert any(line.startswith("freed the pool slots of run") and "process is gone" in line for line in said), said
        dead = instance.get_runs(filters=dg.RunsFilter(tags={"hibayes/pid": str(holder.pid)}))
        assert [(run.status, run.tags.get("hibayes/killed")) for run in dead] == [(dg.DagsterRunStatus.FAILURE, "true")]
        assert not instance.event_log_storage.get_concurrency_run_ids()
