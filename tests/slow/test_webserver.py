"""The real thing, once: `make demo`'s command, then `dagster dev` (webserver + daemon) on the same
instance. GraphQL serves the asset graph; the daemon starts quiet (the demo left nothing to do); a
log dropped into the watched folder is ingested by the sensor and carried through to a fresh report
in exactly the runs the planner promises, all of them successful; `make demo` meanwhile waits for
the daemon instead of repeating its work."""

import shutil
import time

import pytest
import yaml

from tests.conftest import example_log_files
from tests.dagster.conftest import FAST_IRT, write_test_analysis
from tests.dagster_dev import DagsterDev, LiveProject, stage_counts, wait_for

pytestmark = pytest.mark.slow

ASSET_GRAPH = "{ assetNodes { assetKey { path } groupName } }"


def test_demo_then_the_daemon_starts_quiet_and_a_new_log_runs_once_where_it_matters(tmp_path):
    logs = example_log_files()[:8]
    project = LiveProject(tmp_path)
    project.create(logs[:7], [], yaml.safe_dump(FAST_IRT))
    # One model: every planned run is a fresh process, and one fit shows the refresh as well as two.
    write_test_analysis(project.analyses, models=["two_level_group_binomial"])
    demo = project.demo()
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]

    with DagsterDev(project) as dev:
        nodes = dev.graphql(ASSET_GRAPH)["assetNodes"]
        assert {tuple(n["assetKey"]["path"]): n["groupName"] for n in nodes} == {
            ("inspect_log",): "ingest", ("eval_samples",): "ingest", ("ingest_errors",): "ingest",
            ("analysis_data",): "analysis", ("analysis_features",): "analysis", ("model_fit",): "analysis",
            ("check_results",): "analysis", ("model_comparison",): "analysis", ("comparisons",): "analysis",
            ("analysis_report",): "analysis",
            ("run_metrics",): "hal", ("cost_frontier",): "hal", ("win_rates",): "hal", ("hal_report",): "hal",
            ("response_matrix",): "irt", ("irt_fit",): "irt", ("anchor_points",): "irt",
            ("performance_estimates",): "irt", ("irt_validation",): "irt", ("routing_report",): "irt",
        }
        demo_runs = dev.runs()
        assert stage_counts(demo_runs) == {"ingest": 1, "results": 1, "analysis": 1}

        # Quiet start: every sensor has ticked twice (each tick sees the whole instance) and launched nothing.
        sensors = ("new_inspect_logs", "analysis_configs", "refresh_results")
        wait_for(lambda: all(dev.sensor_ticks(name) >= 2 for name in sensors), 180, "two ticks of every sensor")
        assert len(dev.runs()) == len(demo_runs)

        dropped_at = time.time()
        shutil.copy(logs[7], project.logs / logs[7].name)
        wait_for(lambda: any(ts > dropped_at for _, ts in dev.materializations("analysis_report")), 600, "the refreshed report")
        dev.wait_until_settled(quiet_seconds=8, timeout=300)  # the planner launches a due run on its next tick, within 5 s
        new = [run for run in dev.runs() if run["creationTime"] > dropped_at]
        assert stage_counts(new) == {"ingest": 1, "results": 1, "analysis": 1}
        assert {run["status"] for run in new} == {"SUCCESS"}

        # `make demo` while the daemon runs waits for it instead of doing the work a second time.
        waiting = project.demo()
        assert waiting.returncode == 0 and "A Dagster daemon is running" in waiting.stdout, waiting.stdout[-2000:]
        assert len(dev.runs()) == len(demo_runs) + len(new)
