"""Pool slots: each pool's limit written before any run claims it (the `mcmc` pool sized to the fits
that may run at once), and slots held by runs that can never free them.

A step frees its slot when it ends; a process killed with SIGKILL never does, and marking its run
failed does not either: only `free_concurrency_slots_for_run` does, and until then every later step
of that pool waits for ever. The demo's runs carry the pid and host of the process that runs them,
so a later demo can tell that one died and free what it held (the daemon's run monitoring frees the
slots of ended runs: see dagster.yaml). While a stage waits for a slot, it says which run holds it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

PID_TAG = "hibayes/pid"
HOST_TAG = "hibayes/host"
KILLED_TAG = "hibayes/killed"  # on a run marked failed because its process died: the planner plans its targets again
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
WAIT_NOTICE_SECONDS = 5.0  # a stage waiting longer than this says what for
FIT_POOL = "mcmc"


def size_pools(instance: dg.DagsterInstance, fit_workers: int, warehouse_pool: str | None) -> list[str]:
    """Write each pool's limit into the instance: the fit pool's `fit_workers` slots (HIBAYES_FIT_WORKERS),
    so that the planner's fit runs go side by side, and the warehouse pool's one slot (None: a backend
    with many writers, no pool). dagster.yaml can only set one default limit for every pool, and
    `duckdb` must keep 1, so the fit pool's own limit lives in the instance, as `dagster instance
    concurrency set` writes it. Every pool gets its row before any run claims a slot: a pool without
    one is created by the first step that claims it, and two runs doing that at once on a PostgreSQL
    instance fail with a unique violation (dagster-io/dagster#33552). Returns the pools written (none
    when every limit is already right)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    wanted = {FIT_POOL: fit_workers, **({warehouse_pool: 1} if warehouse_pool else {})}
    limits = {limit.name: limit.limit for limit in storage.get_pool_limits()}
    written = [pool for pool, slots in wanted.items() if limits.get(pool) != slots]
    for pool in written:
        storage.set_concurrency_slots(pool, wanted[pool])
    return written


def pools_note(written: list[str], fit_workers: int) -> str:
    return "; ".join(
        f"pool {pool}: {fit_workers} slot(s), one per fit at once (HIBAYES_FIT_WORKERS)" if pool == FIT_POOL
        else f"pool {pool}: 1 slot (one DuckDB writer)" for pool in written
    )


def process_tags() -> dict[str, str]:
    """The tags of a run executed in this process: who to ask whether it is still alive."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def process_alive(pid: int) -> bool:
    """Whether `pid` is a live process on this host (a zombie, killed but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: the signal said it exists
    return state != "Z"


def process_gone(run: dg.DagsterRun) -> bool:
    """A run tagged with the process that executes it (`process_tags`) whose process, on this host,
    is no longer alive. Runs without those tags, or from another host, are never judged dead."""
    pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
    if not pid or not pid.isdigit() or host != socket.gethostname():
        return False
    return not process_alive(int(pid))


def describe_run(run: dg.DagsterRun | None, run_id: str) -> str:
    if run is None:
        return f"run {run_id[:8]} (deleted)"
    stage = run.tags.get("hibayes/stage") or run.job_name
    where = f", pid {run.tags[PID_TAG]} on {run.tags.get(HOST_TAG, '?')}" if PID_TAG in run.tags else ""
    return f"run {run_id[:8]} ({stage}, {run.status.value}{where})"


def free_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the pool slots of every run that can no longer free them: a finished run's, and, after
    marking it failed, an in-progress run's whose process died. Returns the runs freed, in words."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    run_ids = storage.get_concurrency_run_ids()
    if not run_ids:
        return []
    runs = {run.run_id: run for run in instance.get_runs(filters=dg.RunsFilter(run_ids=list(run_ids)))}
    freed = []
    for run_id in sorted(run_ids):
        run = runs.get(run_id)
        if run is not None and run.status in IN_PROGRESS:
            if not process_gone(run):
                continue
            instance.add_run_tags(run_id, {KILLED_TAG: "true"})
            instance.report_run_failed(run, f"its process (pid {run.tags[PID_TAG]}) is gone: killed, it never freed its pool slots")
            freed.append(f"{describe_run(run, run_id)}: its process is gone, marked failed")
        else:
            freed.append(describe_run(run, run_id))
        storage.free_concurrency_slots_for_run(run_id)
    return freed


def slot_waits(instance: dg.DagsterInstance, waiting_run_ids: set[str]) -> list[str]:
    """What the steps of `waiting_run_ids` wait for: each pool they are queued on and the runs that
    hold its slots."""
    storage = instance.event_log_storage
    pools = [limit.name for limit in storage.get_pool_limits()]
    lines = []
    for pool, info in storage.get_concurrency_infos(pools).items():
        if not any(step.run_id in waiting_run_ids and step.assigned_timestamp is None for step in info.pending_steps):
            continue
        holders = sorted(info.active_run_ids)
        runs = {run.run_id: run for run in instance.get_runs(filters=dg.RunsFilter(run_ids=holders))} if holders else {}
        held_by = ", ".join(describe_run(runs.get(run_id), run_id) for run_id in holders) or "no run (the slot is about to be given)"
        lines.append(f"waiting for a slot in pool {pool} (limit {info.limit}), held by {held_by}")
    return lines


def _own_runs_in_progress(instance: dg.DagsterInstance) -> set[str]:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}, statuses=IN_PROGRESS))
    return {run.run_id for run in runs}


@contextmanager
def reporting_waits(
    instance: dg.DagsterInstance, say: Callable[[str], None] = print, notice_after: float = WAIT_NOTICE_SECONDS, poll: float = 2.0
) -> Iterator[None]:
    """While the block runs this process's runs (a demo stage), a thread that, once they have waited
    `notice_after` seconds, says which pool they wait for and which run holds it (again whenever
    that changes), and frees the slots of runs that die or end meanwhile."""
    stop = threading.Event()

    def watch() -> None:
        if stop.wait(notice_after):
            return
        said: list[str] = []
        while not stop.is_set():
            for line in free_dead_runs(instance):
                say(f"freed the pool slots of {line}")
            waits = slot_waits(instance, _own_runs_in_progress(instance))
            if waits and waits != said:
                for line in waits:
                    say(line)
            said = waits
            stop.wait(poll)

    watcher = threading.Thread(target=watch, name="pool-slot-waits", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
