"""HAL and IRT, which no report waits for, run at a lower CPU priority when the daemon starts them,
so that on a small machine the fits and reports of a new log go first."""

import multiprocessing
import os

import dagster as dg

from hibayes_assets.planner import HAL_ASSETS, PlannedRun
from hibayes_assets.resources import BACKGROUND_NICENESS, BACKGROUND_TAG, ProjectPaths


def _niceness_in_a_run(tags: dict[str, str], folder: str) -> int:
    """A run's process niceness, seen from inside a step that uses the project resource."""

    @dg.asset
    def probe(project: ProjectPaths) -> int:
        return os.getpriority(os.PRIO_PROCESS, 0)

    resources = {"project": ProjectPaths(log_dir=folder, analyses_dir=folder, home=folder)}
    return dg.materialize([probe], resources=resources, tags=tags).output_for_node("probe")


def _in_a_fresh_process(tags: dict[str, str], folder: str) -> int:
    # A process's priority cannot be raised back without privileges: never lower the test's own.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_niceness_in_a_run, (tags, folder))


def test_the_daemons_hal_and_irt_run_is_a_background_process_and_the_others_are_not(tmp_path):
    results = PlannedRun("results", HAL_ASSETS, {"hal": "s"}).run_request()
    fits = PlannedRun("analysis", ("model_fit",), {"analysis:a": "s"}, partition_key="a").run_request()
    assert results.tags[BACKGROUND_TAG] == "true" and BACKGROUND_TAG not in fits.tags
    # The demo runs the same plan in its own process, with the plan's tags only: never lowered.
    assert BACKGROUND_TAG not in PlannedRun("results", HAL_ASSETS, {"hal": "s"}).tags

    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert _in_a_fresh_process({BACKGROUND_TAG: "true"}, str(tmp_path)) == max(base, BACKGROUND_NICENESS)
    assert _in_a_fresh_process({}, str(tmp_path)) == base
