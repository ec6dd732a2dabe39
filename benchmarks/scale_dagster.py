"""The `dagster` measure of `bench_scale.py` (issue 15): the live path at N log partitions, with real
Dagster on one instance (SQLite storage, the project's dagster.yaml).

In one child process, over a project laid out as `tests/dagster_dev.LiveProject` (logs are hard links
to the corpus; analyses empty):
1. the first ingest of N - 2 x NEW logs, as `make demo` does it (`hibayes_assets.demo.ingest_log_folder`:
   the sensor's requests, run in process): seconds, Dagster events, events per log;
2. the `new_inspect_logs` sensor with nothing new at N files (`repeats` evaluations, median), and the
   planner's evaluation (`refresh_results`: it lists the folder and reads the manifest too);
3. NEW new logs, in process: the sensor's tick, its partitions and run requests, the runs executed
   as the demo executes them (seconds from the tick to the last run's end; which partitions they
   materialized);
4. `dagster-webserver` alone on the instance: the UI's partitions page query for `eval_samples`
   (`PartitionHealthQuery`, copied from the webapp) and the asset's partition counts, cold and warm;
5. `dagster dev` (webserver + daemon) for `watch` seconds: each sensor's ticks (count, status,
   duration, interval), the `refresh_results` sensor stopped first (at N logs HAL and IRT take
   minutes and hold the `duckdb` pool, see the `hal` measure); then NEW more logs dropped in: seconds
   from the drop (and from the sensor tick that requested their run) to the daemon's ingest run's
   end, and its partitions.

    .venv/bin/python benchmarks/bench_scale.py --sizes 1000,3000 --measures dagster --corpus-dir /tmp/corpora
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]

NEW_LOGS = 10
PARTITION_HEALTH = """query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) { ... on AssetNode { id
    partitionKeysByDimension { name type partitionKeys }
    assetPartitionStatuses {
      ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
      ... on DefaultPartitionStatuses { materializedPartitions materializingPartitions failedPartitions }
      ... on MultiPartitionStatuses { primaryDimensionName }
    } } } }"""
PARTITION_STATS = """query ($assetKey: AssetKeyInput!) { assetNodeOrError(assetKey: $assetKey) {
  ... on AssetNode { partitionStats { numMaterialized numPartitions numFailed numMaterializing } } } }"""
SENSOR_STATE = """query ($name: String!, $location: String!) { sensorOrError(sensorSelector: {
  repositoryLocationName: $location, repositoryName: "__repository__", sensorName: $name }) {
  ... on Sensor { id sensorState { id status ticks(limit: 200) { status timestamp endTimestamp skipReason error { message } } } } } }"""
STOP_SENSOR = """mutation ($id: String!) { stopSensor(id: $id) { ... on StopSensorMutationResult {
  instigationState { status } } ... on PythonError { message } } }"""
SENSORS = ("new_inspect_logs", "analysis_configs", "refresh_results")


def measure_dagster(corpus: Path, scratch: Path, watch: float = 60.0, repeats: int = 5) -> dict:
    """Every step above, over the logs in `corpus` (run in a child process: it sets DAGSTER_HOME)."""
    from tests.dagster_dev import LiveProject

    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".eval", ".json"))
    held = files[-2 * NEW_LOGS :]
    project = LiveProject(scratch / "project")
    for folder in (project.logs, project.analyses, project.home, project.root / "dagster_home"):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", project.root / "dagster_home" / "dagster.yaml")
    shutil.copy(ROOT / "examples" / "prices.yaml", project.root / "prices.yaml")
    shutil.copy(ROOT / "examples" / "irt.yaml", project.root / "irt.yaml")
    for path in files[: -2 * NEW_LOGS]:
        os.link(path, project.logs / path.name)
    os.environ.update({key: value for key, value in project.env.items() if key.startswith(("DAGSTER_", "HIBAYES_"))})
    result: dict = {"logs": len(files)}
    for name, step in (
        ("first_ingest", lambda: first_ingest(project)),
        ("tick", lambda: idle_ticks(repeats)),
        ("new_in_process", lambda: new_logs_in_process(project, held[:NEW_LOGS])),
        ("graphql", lambda: webserver_queries(project)),
        ("daemon", lambda: daemon_watch(project, held[NEW_LOGS:], watch)),
    ):
        started = time.perf_counter()
        result[name] = step()
        say(f"{len(files)} logs: {name} ({time.perf_counter() - started:.0f} s): {json.dumps(result[name])}")
    return result


def say(line: str) -> None:
    print(f"[bench_scale dagster] {line}", file=sys.stderr, flush=True)


def _instance_and_resources():
    import dagster as dg

    from hibayes.settings import load_settings
    from hibayes_assets.resources import build_resources

    settings = load_settings()
    return settings, dg.DagsterInstance.get(), build_resources(settings)


def _count_events(instance, run_ids: list[str]) -> int:
    return sum(len(instance.all_logs(run_id)) for run_id in run_ids)


def first_ingest(project) -> dict:
    """`make demo`'s first step on the whole folder: the sensor's requests, executed in process."""
    from functools import partial

    from hibayes_assets.demo import DemoSummary, execute_in_process, ingest_log_folder

    settings, instance, resources = _instance_and_resources()
    summary = DemoSummary()
    started = time.perf_counter()
    ingest_log_folder(settings, instance, partial(execute_in_process, instance, resources, summary))
    seconds = time.perf_counter() - started
    runs = instance.get_runs()
    events = _count_events(instance, [run.run_id for run in runs])
    logs = len(list(project.logs.iterdir()))
    return {"seconds": round(seconds, 1), "runs": len(runs), "success": all(ok for _, ok, _ in summary.runs),
            "events": events, "events_per_log": round(events / logs, 2), "logs": logs}


def _timed(call) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def idle_ticks(repeats: int) -> dict:
    """The log sensor and the planner with nothing new at N files: median wall and CPU seconds."""
    import dagster as dg

    from hibayes_assets.sensors import new_inspect_logs, refresh_results

    _, instance, resources = _instance_and_resources()
    out = {}
    for name, sensor in (("new_inspect_logs", new_inspect_logs), ("refresh_results", refresh_results)):
        walls, cpus = [], []
        for _ in range(repeats):
            context = dg.build_sensor_context(instance=instance, resources=resources)
            answer, wall, cpu = _timed(lambda: sensor(context))
            walls.append(wall)
            cpus.append(cpu)
        if name == "new_inspect_logs":
            out["idle_answer"] = getattr(answer, "skip_message", None) or str(answer)[:200]
        out[name] = {"median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
                     "median_cpu_s": round(statistics.median(cpus), 3)}
    return out


def new_logs_in_process(project, new: list[Path]) -> dict:
    """NEW logs dropped in: one sensor evaluation, its partitions, its runs executed in process."""
    import dagster as dg

    from hibayes_assets.demo import DemoSummary, execute_in_process
    from hibayes_assets.planner import INGEST_ASSETS
    from hibayes_assets.sensors import apply_partition_changes, new_inspect_logs

    _, instance, resources = _instance_and_resources()
    before = _latest_storage_id(instance)
    for path in new:
        os.link(path, project.logs / path.name)
    summary = DemoSummary()
    started = time.perf_counter()
    tick, tick_s, tick_cpu = _timed(lambda: new_inspect_logs(dg.build_sensor_context(instance=instance, resources=resources)))
    apply_partition_changes(instance, list(tick.dynamic_partitions_requests))
    for request in tick.run_requests:
        execute_in_process(instance, resources, summary, "ingest", "ingest (new logs)", INGEST_ASSETS, request.partition_key, dict(request.tags))
    seconds = time.perf_counter() - started
    run_ids = sorted({record.run_id for record in _materializations(instance, "eval_samples", before)})
    run_seconds = [run.end_time - run.start_time for run in (instance.get_run_record_by_id(r) for r in run_ids)]
    return {"seconds": round(seconds, 2), "tick_s": round(tick_s, 3), "tick_cpu_s": round(tick_cpu, 3),
            "runs": len(tick.run_requests), "success": all(ok for _, ok, _ in summary.runs),
            "run_s": [round(s, 2) for s in run_seconds], "events": _count_events(instance, run_ids),
            **_partitions_check(instance, before, new)}


def _latest_storage_id(instance) -> int:
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetKey("eval_samples"), limit=1).records
    return records[0].storage_id if records else 0


def _materializations(instance, asset: str, after: int) -> list:
    import dagster as dg

    records, cursor = [], None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=after), limit=1000, cursor=cursor
        )
        records += page.records
        if not page.has_more:
            return records
        cursor = page.cursor


def _partitions_check(instance, after: int, new: list[Path]) -> dict:
    materialized = sorted(record.partition_key for record in _materializations(instance, "eval_samples", after))
    return {"partitions_materialized": len(materialized), "only_the_new": materialized == sorted(p.name for p in new)}


def _graphql(url: str, query: str, **variables) -> tuple[dict, float]:
    started = time.perf_counter()
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=300)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return body["data"], seconds


def _partition_queries(url: str, warm: int = 3) -> dict:
    """The partitions page's query for eval_samples, cold then `warm` times (median), and its counts."""
    key = {"path": ["eval_samples"]}
    data, cold = _graphql(url, PARTITION_HEALTH, assetKey=key)
    node = data["assetNodeOrError"]
    warms = [_graphql(url, PARTITION_HEALTH, assetKey=key)[1] for _ in range(warm)]
    stats, stats_s = _graphql(url, PARTITION_STATS, assetKey=key)
    return {"partition_health_cold_s": round(cold, 3), "partition_health_warm_s": round(statistics.median(warms), 3),
            "partition_keys": len(node["partitionKeysByDimension"][0]["partitionKeys"]),
            "materialized": len(node["assetPartitionStatuses"]["materializedPartitions"]),
            "partition_stats_s": round(stats_s, 3), "partition_stats": stats["assetNodeOrError"]["partitionStats"]}


def webserver_queries(project) -> dict:
    """`dagster-webserver` alone (no daemon) on the instance: the partitions page's queries. The
    `refresh_results` sensor is stopped here, for the daemon's watch that follows."""
    from tests.dagster_dev import LOCATION, wait_for

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with open(project.root / "webserver.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=project.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.perf_counter()
        wait_for(lambda: requests.get(f"{url}/server_info", timeout=5).ok, 300, "the webserver to answer")
        out = {"webserver_up_s": round(time.perf_counter() - started, 1), **_partition_queries(url)}
        sensor = _graphql(url, SENSOR_STATE, name="refresh_results", location=LOCATION)[0]["sensorOrError"]
        stopped = _graphql(url, STOP_SENSOR, id=sensor["sensorState"]["id"])[0]["stopSensor"]
        out["refresh_results_stopped"] = stopped.get("instigationState", {}).get("status") == "STOPPED"
        return out
    finally:
        _stop(process)


def daemon_watch(project, new: list[Path], watch: float) -> dict:
    """`dagster dev` for `watch` seconds with nothing new (each sensor's ticks), then NEW logs
    dropped in: seconds until the daemon's ingest run ended, and what it materialized."""
    from tests.dagster_dev import LOCATION, DagsterDev, wait_for

    _, instance, _ = _instance_and_resources()
    before = _latest_storage_id(instance)
    with DagsterDev(project) as dev:
        up = time.time()
        time.sleep(watch)
        ticks = {name: _tick_summary(dev.graphql(SENSOR_STATE, name=name, location=LOCATION)["sensorOrError"], up) for name in SENSORS}
        queries = _partition_queries(dev.url)
        dropped = time.time()
        for path in new:
            os.link(path, project.logs / path.name)

        def ingest_done() -> bool:
            runs = [r for r in dev.runs() if r["creationTime"] >= dropped and r["tags"].get("hibayes/stage") == "ingest"]
            return bool(runs) and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)

        wait_for(ingest_done, 600, "the daemon's ingest of the new logs")
        runs = [r for r in dev.runs() if r["creationTime"] >= dropped]
        ingest = [r for r in runs if r["tags"].get("hibayes/stage") == "ingest"]
        sensor = dev.graphql(SENSOR_STATE, name="new_inspect_logs", location=LOCATION)["sensorOrError"]
        after_ticks = _tick_summary(sensor, dropped)
        requested = min(t["timestamp"] for t in sensor["sensorState"]["ticks"] if t["timestamp"] >= dropped and t["status"] == "SUCCESS")
    return {
        "watch_s": watch, "ticks": ticks, "graphql_with_daemon": queries,
        "new_logs": {
            "drop_to_run_created_s": round(min(r["creationTime"] for r in ingest) - dropped, 1),
            "drop_to_run_started_s": round(min(r["startTime"] for r in ingest) - dropped, 1),
            "drop_to_ingested_s": round(max(r["endTime"] for r in ingest) - dropped, 1),
            "tick_to_ingested_s": round(max(r["endTime"] for r in ingest) - requested, 1),
            "run_s": [round(r["endTime"] - r["startTime"], 1) for r in ingest],
            "ingest_runs": len(ingest), "statuses": sorted(r["status"] for r in ingest),
            "other_runs": len(runs) - len(ingest), "first_tick_after_drop": after_ticks,
            **_partitions_check(instance, before, new),
        },
    }


def _tick_summary(sensor: dict, since: float) -> dict:
    """A sensor's ticks since `since`: how many, by status, their durations and the gaps between them."""
    ticks = sorted((t for t in sensor["sensorState"]["ticks"] if t["timestamp"] >= since), key=lambda t: t["timestamp"])
    durations = [t["endTimestamp"] - t["timestamp"] for t in ticks if t["endTimestamp"]]
    gaps = [b["timestamp"] - a["timestamp"] for a, b in zip(ticks, ticks[1:])]
    statuses: dict[str, int] = {}
    for tick in ticks:
        statuses[tick["status"]] = statuses.get(tick["status"], 0) + 1
    return {
        "status": sensor["sensorState"]["status"], "ticks": len(ticks), "by_status": statuses,
        "errors": [t["error"]["message"][:300] for t in ticks if t.get("error")][:3],
        "duration_median_s": round(statistics.median(durations), 2) if durations else None,
        "duration_max_s": round(max(durations), 2) if durations else None,
        "gap_median_s": round(statistics.median(gaps), 2) if gaps else None,
        "gap_max_s": round(max(gaps), 2) if gaps else None,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    import signal

    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def report(results: list[dict]) -> list[str]:
    """The table and RATIO lines of the measure over the sizes run."""
    lines = [
        "| logs | first ingest s (events, per log) | idle tick s (CPU s) | planner tick s | 10 new logs in process: s (tick s, runs, only the new) "
        "| daemon: drop -> ingested s (tick -> ingested s; run s) | partitions page cold / warm s | daemon ticks in watch (statuses, max s, max gap s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        first, tick, new, gql, daemon = r["first_ingest"], r["tick"], r["new_in_process"], r["graphql"], r["daemon"]
        live = daemon["new_logs"]
        watched = "; ".join(
            f"{name} {t['ticks']} ({', '.join(f'{k} {v}' for k, v in t['by_status'].items()) or t['status']}, {t['duration_max_s']}, {t['gap_max_s']})"
            for name, t in daemon["ticks"].items()
        )
        lines.append(
            f"| {r['logs']} | {first['seconds']} ({first['events']}, {first['events_per_log']}) | {tick['new_inspect_logs']['median_s']} "
            f"({tick['new_inspect_logs']['median_cpu_s']}) | {tick['refresh_results']['median_s']} | {new['seconds']} ({new['tick_s']}, "
            f"{new['runs']}, {new['only_the_new']}) | {live['drop_to_ingested_s']} ({live.get('tick_to_ingested_s')}; {live['run_s']}, {live['only_the_new']}) | "
            f"{gql['partition_health_cold_s']} / {gql['partition_health_warm_s']} | {watched} |"
        )
    if len(results) > 1:
        small, large = results[0], results[-1]
        size = large["logs"] / small["logs"]
        for label, pick in (
            ("idle new_inspect_logs tick", lambda r: r["tick"]["new_inspect_logs"]["median_s"]),
            ("first ingest", lambda r: r["first_ingest"]["seconds"]),
            ("10 new logs in process", lambda r: r["new_in_process"]["seconds"]),
            ("partitions page (warm)", lambda r: r["graphql"]["partition_health_warm_s"]),
        ):
            lines.append(f"RATIO {label}: {large['logs']} / {small['logs']} logs = {pick(large) / pick(small):.2f} (size ratio {size:.1f})")
    return lines


def run(corpus: Path, watch: float = 60.0) -> dict:
    """`measure_dagster` in a fresh child process with its own scratch folder (deleted after); its
    progress lines go to stderr as they come."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench_scale_dagster_") as scratch:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(corpus), scratch, str(watch)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"the dagster measure failed on {corpus} (exit {done.returncode}); its output:\n{done.stdout[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_results(results: list[dict], out: Path) -> Path:
    for line in report(results):
        print(line)
    path = out / "dagster.json"
    path.write_text(json.dumps(results, indent=1))
    return path


if __name__ == "__main__":  # python benchmarks/scale_dagster.py CORPUS SCRATCH [WATCH]: one size, JSON on the last line
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    print(json.dumps(measure_dagster(Path(sys.argv[1]), Path(sys.argv[2]), *(float(a) for a in sys.argv[3:4]))))
