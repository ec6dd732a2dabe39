"""A real `dagster dev` (webserver + daemon + code server) over a temporary project, driven through
its GraphQL API: used by the slow webserver test and by benchmarks/bench_live.py."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCATION = "hibayes_assets"  # workspace.yaml's location_name
IN_PROGRESS = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}

RUNS = """query ($limit: Int!) { runsOrError(limit: $limit) { ... on Runs { results {
  runId status startTime endTime creationTime tags { key value } } } } }"""
MATERIALIZATIONS = """query ($path: [String!]!) { assetOrError(assetKey: {path: $path}) {
  ... on Asset { assetMaterializations(limit: 200) { partition timestamp } } } }"""
SENSOR_TICKS = """query ($name: String!, $location: String!) { sensorOrError(sensorSelector: {
  repositoryLocationName: $location, repositoryName: "__repository__", sensorName: $name }) {
  ... on Sensor { sensorState { ticks(limit: 100) { status timestamp } } } } }"""


@dataclass
class LiveProject:
    """The folders and settings of one temporary project, as environment variables."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def analyses(self) -> Path:
        return self.root / "analyses"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DAGSTER_HOME": str(self.root / "dagster_home"),
            "HIBAYES_LOG_DIR": str(self.logs),
            "HIBAYES_ANALYSES_DIR": str(self.analyses),
            "HIBAYES_HOME": str(self.home),
            "HIBAYES_PRICES": str(self.root / "prices.yaml"),
            "HIBAYES_IRT_CONFIG": str(self.root / "irt.yaml"),
        }

    def create(self, logs: list[Path], analyses: list[Path], irt_yaml: Path | str) -> None:
        for folder in (self.logs, self.analyses, self.root / "dagster_home"):
            folder.mkdir(parents=True, exist_ok=True)
        for path in logs:
            shutil.copy(path, self.logs / path.name)
        for path in analyses:
            shutil.copy(path, self.analyses / path.name)
        (self.root / "irt.yaml").write_text(irt_yaml.read_text() if isinstance(irt_yaml, Path) else irt_yaml)
        shutil.copy(PROJECT_ROOT / "examples" / "prices.yaml", self.root / "prices.yaml")

    def demo(self) -> subprocess.CompletedProcess:
        """`make demo`'s command on this project."""
        return subprocess.run(
            [sys.executable, "-m", "hibayes_assets.demo"], cwd=PROJECT_ROOT, env={**self.env, "PYTHONHASHSEED": "0"},
            capture_output=True, text=True,
        )


class DagsterDev:
    """`dagster dev` on 127.0.0.1 over a LiveProject; stopped (SIGINT, then SIGKILL) on exit."""

    def __init__(self, project: LiveProject):
        self.project = project
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = project.root / "dagster_dev.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> DagsterDev:
        dagster = str(Path(sys.executable).parent / "dagster")
        self.process = subprocess.Popen(
            [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=PROJECT_ROOT, env=self.project.env, start_new_session=True,
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT,
        )
        wait_for(lambda: requests.get(f"{self.url}/server_info", timeout=5).ok, 240, "the webserver to answer")
        return self

    def __exit__(self, *exc) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def graphql(self, query: str, **variables) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60)
        response.raise_for_status()
        return response.json()["data"]

    def runs(self) -> list[dict]:
        """Every run, newest first, with its tags as a dict."""
        found = self.graphql(RUNS, limit=1000)["runsOrError"]["results"]
        return [{**run, "tags": {t["key"]: t["value"] for t in run["tags"]}} for run in found]

    def materializations(self, asset: str) -> list[tuple[str | None, float]]:
        """(partition, timestamp in seconds) of the asset's materializations, newest first."""
        found = self.graphql(MATERIALIZATIONS, path=[asset])["assetOrError"]
        return [(m["partition"], int(m["timestamp"]) / 1000) for m in found.get("assetMaterializations") or []]

    def sensor_ticks(self, name: str) -> int:
        found = self.graphql(SENSOR_TICKS, name=name, location=LOCATION)["sensorOrError"]
        return len(found["sensorState"]["ticks"])

    def wait_until_settled(self, quiet_seconds: float, timeout: float, since: float | None = None) -> float:
        """Wait until no run is in progress and none has been created for `quiet_seconds` (and,
        with `since`, at least one run was created after it); the time (epoch seconds) the last run ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs()
            if since is not None and not any(run["creationTime"] >= since for run in runs):
                time.sleep(1)
                continue
            busy = any(run["status"] in IN_PROGRESS for run in runs)
            last = max([run["endTime"] or 0 for run in runs] + [run["creationTime"] for run in runs] + [0])
            if not busy and time.time() - last > quiet_seconds:
                return last
            time.sleep(1)
        raise AssertionError(f"not settled after {timeout}s; see {self.log_path}")


def stage_counts(runs: list[dict]) -> Counter:
    """Runs by the planner's stage tag (the log sensor's runs are `ingest`)."""
    return Counter(run["tags"].get("hibayes/stage", run["tags"].get("hibayes/trigger", "other")) for run in runs)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")
