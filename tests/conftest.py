"""Shared test set-up: XLA host devices before JAX loads, a JAX compilation cache shared across test
runs, real example logs, and the third-party fixtures folder (skipped with a reason when absent)."""

import os
import shutil
from pathlib import Path

import pytest

from hibayes.model.platform import configure_host_devices

configure_host_devices(4)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_LOGS = PROJECT_ROOT / "examples" / "logs"
EXAMPLE_ANALYSES = PROJECT_ROOT / "examples" / "analyses"
SHARED_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"
JAX_CACHE = PROJECT_ROOT / ".hibayes" / "cache" / "jax-tests"


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
