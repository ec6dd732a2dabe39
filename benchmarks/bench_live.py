"""The live path, measured with the real webserver and daemon (`dagster dev`) on a temporary copy of
the example project: how long one new log takes to refresh every report that depends on it, and
how many runs that takes; the same for a corrupt file; and what the daemon does right after
`make demo` (it should do nothing).

Steps, all in one run:
1. a project with the example analyses, IRT settings and prices, and all example logs but two
   (two `arithmetic` logs: each changes three of the four analyses, HAL and IRT);
2. `make demo`'s command on it, cold (this also fills the JAX compilation cache);
3. baseline: the first held-back log copied in, then the demo's command again: the same refresh,
   in one process with no sensors and no process start-ups;
4. `dagster dev` started; for SETTLE seconds, the runs the daemon launches on its own;
5. the second held-back log copied in: seconds until its ingest, the HAL report, the IRT routing
   report and each affected analysis report are materialized, and the runs launched, by stage;
6. a corrupt `.eval` copied in: the runs launched.

Nothing is asserted. The ratio is the daemon's refresh time over the in-process refresh of the
same kind of change, measured in this run.

    .venv/bin/python benchmarks/bench_live.py
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dagster_dev import DagsterDev, LiveProject, stage_counts, wait_for  # noqa: E402

EXAMPLES = ROOT / "examples"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settle", type=float, default=60, help="seconds to watch the daemon after it starts")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project (its dagster_dev.log)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_live_"))
    logs = sorted((EXAMPLES / "logs").glob("*.eval"))
    held = [p for p in logs if "_arithmetic_" in p.name][-2:]
    project = LiveProject(root)
    project.create([p for p in logs if p not in held], sorted((EXAMPLES / "analyses").glob("*.yaml")), EXAMPLES / "irt.yaml")
    analyses = [p.stem for p in sorted((EXAMPLES / "analyses").glob("*.yaml"))]
    try:
        cold = timed_demo(project, "cold demo")
        shutil.copy(held[0], project.logs / held[0].name)
        baseline = timed_demo(project, "in-process refresh of one new log (baseline)")
        with DagsterDev(project) as dev:
            started = time.time()
            wait_for(lambda: dev.sensor_ticks("refresh_results") >= 1, 120, "the first refresh_results tick")
            time.sleep(max(0.0, args.settle - (time.time() - started)))
            settle_runs = [run for run in dev.runs() if run["creationTime"] >= started]
            print(f"settle: {len(settle_runs)} runs launched in the {time.time() - started:.0f}s after the daemon started")

            dropped = time.time()
            shutil.copy(held[1], project.logs / held[1].name)
            last = dev.wait_until_settled(quiet_seconds=20, timeout=900, since=dropped)
            new_log = [run for run in dev.runs() if run["creationTime"] >= dropped]
            timeline = run_timeline(new_log, dropped)
            reached = {
                "ingest": first_after(dev, "eval_samples", dropped, held[1].name),
                "HAL report": first_after(dev, "hal_report", dropped),
                "IRT routing report": first_after(dev, "routing_report", dropped),
                **{f"report {name}": first_after(dev, "analysis_report", dropped, name) for name in analyses},
            }
            daemon_seconds = last - dropped

            corrupt_at = time.time()
            (project.logs / "corrupt.eval").write_bytes(b"not a zip file")
            dev.wait_until_settled(quiet_seconds=20, timeout=300, since=corrupt_at)
            corrupt_runs = [run for run in dev.runs() if run["creationTime"] >= corrupt_at]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    print(f"\nOne new log ({held[1].name}) with `dagster dev` (webserver + daemon), 2 cores:")
    print("| result | seconds after the copy |")
    print("|---|---|")
    for name, seconds in reached.items():
        print(f"| {name} | {'not refreshed' if seconds is None else f'{seconds:.1f}'} |")
    print(f"| everything settled (last run ended) | {daemon_seconds:.1f} |")
    print(f"\nruns for the new log: {len(new_log)} {dict(stage_counts(new_log))}, statuses {sorted({r['status'] for r in new_log})}")
    print("\nwhere the time went (seconds after the copy): run, created, started, ended")
    print(timeline)
    print(f"runs for a corrupt file: {len(corrupt_runs)} {dict(stage_counts(corrupt_runs))}")
    print(f"runs in the {args.settle:.0f}s after the daemon started on the demo's instance: {len(settle_runs)}")
    print(f"cold demo {cold:.1f}s; in-process refresh of one new log {baseline:.1f}s")
    print(f"RATIO daemon refresh / in-process refresh of one new log = {daemon_seconds / baseline:.2f}")
    return 0


def timed_demo(project: LiveProject, label: str) -> float:
    started = time.perf_counter()
    result = project.demo()
    seconds = time.perf_counter() - started
    runs = re.search(r"(\d+) runs \((\d+) failed\)", result.stdout)
    print(f"{label}: {seconds:.1f}s, exit {result.returncode}, {runs.group(0) if runs else 'no summary'}", flush=True)
    if result.returncode:
        print(result.stdout[-3000:])
    return seconds


def run_timeline(runs: list[dict], since: float) -> str:
    """One line per run, oldest first: its stage and partitions, and when it was created, started and ended."""
    def at(ts: float | None) -> str:
        return "-" if ts is None else f"{ts - since:6.1f}"

    lines = []
    for run in sorted(runs, key=lambda r: r["creationTime"]):
        tags = run["tags"]
        what = tags.get("hibayes/stage", tags.get("hibayes/trigger", "other"))
        target = tags.get("dagster/partition") or tags.get("hibayes/partitions", "")
        lines.append(f"  {what:<8} {target[:40]:<40} {at(run['creationTime'])} {at(run['startTime'])} {at(run['endTime'])}")
    return "\n".join(lines)


def first_after(dev: DagsterDev, asset: str, since: float, partition: str | None = None) -> float | None:
    times = [ts for part, ts in dev.materializations(asset) if ts >= since and (partition is None or part == partition)]
    return min(times) - since if times else None


if __name__ == "__main__":
    sys.exit(main())
