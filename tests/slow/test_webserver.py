"""The real thing, once: `dagster dev` (webserver + daemon) over a temporary instance. GraphQL
serves the asset graph; a log dropped into the watched folder is ingested by the sensor, and
automation carries it through to a fresh report without anyone clicking."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import PROJECT_ROOT, example_log_files
from tests.dagster.conftest import write_test_analysis

pytestmark = pytest.mark.slow

ASSET_GRAPH = "{ assetNodes { assetKey { path } groupName } }"
LATEST = """query ($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
  ... on Asset { assetMaterializations(limit: 50) { partition timestamp } } } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dagster_dev(tmp_path: Path):
    logs, analyses, home, dagster_home = (tmp_path / n for n in ("logs", "analyses", "home", "dagster_home"))
    logs.mkdir()
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    for path in example_log_files()[:2]:
        shutil.copy(path, logs / path.name)
    # One model: every automated run is a fresh process, and one fit shows the refresh as well as two.
    write_test_analysis(analyses, models=["two_level_group_binomial"])
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "HIBAYES_LOG_DIR": str(logs),
        "HIBAYES_ANALYSES_DIR": str(analyses),
        "HIBAYES_HOME": str(home),
    }
    dagster = str(Path(sys.executable).parent / "dagster")
    process = subprocess.Popen(
        [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT, env=env, start_new_session=True,
        stdout=open(tmp_path / "dagster_dev.log", "w"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(f"{url}/server_info", timeout=5).ok, 180, "webserver to answer")
        yield url, logs, home
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except requests.RequestException:
            pass
        time.sleep(3)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def _graphql(url: str, query: str, **variables) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]


def _materialized_partitions(url: str, asset: str) -> set[str]:
    found = _graphql(url, LATEST, path=[asset])["assetOrError"]
    return {m["partition"] for m in found.get("assetMaterializations") or []}


def test_graph_served_and_a_new_log_flows_through_to_the_report(dagster_dev):
    url, logs, home = dagster_dev
    nodes = _graphql(url, ASSET_GRAPH)["assetNodes"]
    assert {tuple(n["assetKey"]["path"]): n["groupName"] for n in nodes} == {
        ("inspect_log",): "ingest", ("eval_samples",): "ingest", ("ingest_errors",): "ingest",
        ("analysis_data",): "analysis", ("analysis_features",): "analysis", ("model_fit",): "analysis",
        ("check_results",): "analysis", ("model_comparison",): "analysis",
        ("analysis_report",): "analysis",
        ("run_metrics",): "hal", ("cost_frontier",): "hal", ("win_rates",): "hal", ("hal_report",): "hal",
        ("response_matrix",): "irt", ("irt_fit",): "irt", ("anchor_points",): "irt",
        ("performance_estimates",): "irt", ("irt_validation",): "irt", ("routing_report",): "irt",
    }
    first_logs = {p.name for p in logs.iterdir()}
    _wait(lambda: _materialized_partitions(url, "eval_samples") >= first_logs, 240, "the sensor to ingest the first logs")
    _wait(lambda: "model_comparison" in _materialized_partitions(url, "analysis_report"), 420, "automation to produce the report")
    artifacts = home / "artifacts" / "model_comparison"
    assert list(artifacts.glob("*forest*.png")) and list(artifacts.glob("*summary*.csv"))

    dropped = example_log_files()[2]
    shutil.copy(dropped, logs / dropped.name)
    _wait(lambda: dropped.name in _materialized_partitions(url, "eval_samples"), 240, "the sensor to ingest the dropped log")

    def report_written() -> float:
        return max(p.stat().st_mtime for p in artifacts.glob("*summary*.csv"))

    before = report_written()
    _wait(lambda: report_written() > before, 420, "automation to refresh the report after the new log")
