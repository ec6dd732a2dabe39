"""The Kubernetes deploy files agree with the project: the settings they set are the project's and
parse, the code location they name is the workspace's, the image copies files that exist, and the
executor setting gives the executor it names (or a message saying what is missing)."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _env_file() -> dict[str, str]:
    lines = (DEPLOY / "helm" / "hibayes.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_the_helm_values_run_the_workspaces_code_location_with_a_run_per_pod():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]["module_name"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", module]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    # Runs see the same settings and secrets as the code location.
    assert launcher["envConfigMaps"] == deployment["envConfigMaps"] == [{"name": "hibayes-settings"}]
    assert launcher["envSecrets"] == deployment["envSecrets"] == [{"name": "hibayes-env"}]
    assert "hibayes-settings --from-env-file=deploy/helm/hibayes.env" in (DEPLOY / "helm" / "values.yaml").read_text()


def test_the_deployments_settings_are_the_projects_and_parse(monkeypatch, tmp_path):
    from hibayes.settings import executor_name, fit_workers, load_settings

    env = _env_file()
    documented = set(re.findall(r"HIBAYES_[A-Z_]+", (ROOT / "hibayes" / "settings.py").read_text()))
    assert {name for name in env if name.startswith("HIBAYES_")} <= documented
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HIBAYES_WAREHOUSE", "postgresql://hibayes@db.internal:5432/hibayes_warehouse")
    settings = load_settings(tmp_path)
    assert str(settings.log_dir).startswith("s3://") and str(settings.artifacts).startswith("s3://")
    assert settings.warehouse.startswith("postgresql://")
    assert fit_workers(env["HIBAYES_FIT_WORKERS"]) == 4 and executor_name(env["HIBAYES_EXECUTOR"]) == "in_process"


def test_the_image_copies_files_the_repository_holds():
    """Files in the checkout are not enough: `make demo` writes prices.yaml, irt.yaml and analyses/,
    and a clean clone (the image's build context) has none of them."""
    sources = []
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources += line.split()[1:-1]
    tracked = subprocess.run(["git", "ls-files", "--", *sources], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip(f"not a git checkout: {tracked.stderr.strip()}")
    listed = tracked.stdout.splitlines()
    missing = [s for s in sources if not any(f == s or f.startswith(s.rstrip("/") + "/") for f in listed)]
    assert sources and not missing, f"the Dockerfile copies files git does not track: {missing}"


def test_the_executor_setting():
    import dagster as dg

    from hibayes.settings import SettingsError, executor_name
    from hibayes_assets.definitions import executor

    assert executor(executor_name("")) is dg.in_process_executor
    assert executor(executor_name("multiprocess")) is dg.multiprocess_executor
    with pytest.raises(SettingsError, match="HIBAYES_EXECUTOR='k8s'.*k8s_job"):
        executor_name("k8s")
    try:
        import dagster_k8s  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="needs dagster-k8s"):
            executor("k8s_job")
