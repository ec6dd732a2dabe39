"""Shared test set-up: XLA host devices before JAX loads, a JAX compilation cache shared across test
runs, real example logs, and the third-party fixtures folder (skipped with a reason when absent)."""

import os
import shutil
from pathlib import Path

import pytest

from hibayes.model.platform import configure_host_devices
from tests.postgres import postgres_database, postgres_server  # noqa: F401 - fixtures for every test module
from tests.s3 import s3_log_dir, s3_server  # noqa: F401 - fixtures for every test module

configure_host_devices(4)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_LOGS = PROJECT_ROOT / "examples" / "logs"
EXAMPLE_ANALYSES = PROJECT_ROOT / "examples" / "analyses"
SHARED_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"
HIBAYES_EXAMPLE_FILES = PROJECT_ROOT / "tests" / "hibayes_examples"
JAX_CACHE = PROJECT_ROOT / ".hibayes" / "cache" / "jax-tests"


# The files that take longest (minutes each on 2 cores), started first: with `-n 2 --dist loadfile`
# each worker takes the next file in collection order, so a long file collected last would run
# alone at the end while the other worker idles.
SLOWEST_FIRST = (
    "tests/dagster/test_judge_usecases_assets.py",
    "tests/slow/test_webserver.py",
    "tests/dagster/test_live_pipeline.py",
    "tests/unit/test_models_full.py",
    "tests/dagster/test_irt_assets.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the slowest files first (`SLOWEST_FIRST`), the others after them in their usual order."""
    rank = {name: index for index, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache():
    """Tests fit the same small models on every run: reuse compiled samplers across runs."""
    from hibayes.model.platform import enable_compilation_cache

    enable_compilation_cache(JAX_CACHE)


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"third-party fixtures not found at {SHARED_FIXTURES} (the ../shared folder is absent)")
    return SHARED_FIXTURES


@pytest.fixture
def judge_usecases(shared_fixtures: Path, tmp_path: Path) -> Path:
    """HiBayES's llm-as-a-judge examples q1-q5 laid out as in its repository: each `qN/` with its
    unchanged `files/config.yaml` and `data/`, and beside them our test versions of the custom
    files their configs name (`../custom_model.py`, ...), which the fixtures do not include."""
    source = shared_fixtures / "hibayes" / "examples" / "llm-as-a-judge-usecases"
    if not source.is_dir():
        pytest.skip(f"HiBayES examples not found at {source}")
    target = tmp_path / "llm-as-a-judge-usecases"
    for example in ("q1", "q2", "q3", "q4", "q5"):
        shutil.copytree(source / example, target / example, ignore=shutil.ignore_patterns(".output", "dvc.*"))
    for path in HIBAYES_EXAMPLE_FILES.glob("custom_*.py"):
        shutil.copy(path, target / path.name)
    return target


@pytest.fixture
def example_logs(tmp_path: Path) -> Path:
    """A temporary copy of the bundled example logs (tests may add or break files in it)."""
    target = tmp_path / "logs"
    shutil.copytree(EXAMPLE_LOGS, target)
    return target


def example_log_files() -> list[Path]:
    return sorted(EXAMPLE_LOGS.glob("*.eval"))


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every HIBAYES_* setting at a temporary folder."""
    monkeypatch.setenv("HIBAYES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIBAYES_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("HIBAYES_ANALYSES_DIR", str(tmp_path / "analyses"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    os.makedirs(tmp_path / "dagster_home", exist_ok=True)
    return tmp_path
