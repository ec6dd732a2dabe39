"""A real Dagster instance (instance_for_test) over temporary copies of the example logs and an
example analysis with small sampler settings."""

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml

from hibayes.settings import Settings
from hibayes_assets.definitions import defs
from hibayes_assets.resources import build_resources
from tests.conftest import EXAMPLE_ANALYSES, PROJECT_ROOT, example_log_files

# Enough logs for every model to appear in both scaffolds, few enough to ingest in seconds.
N_LOGS = 8
TEST_FIT = {"samples": 400, "warmup": 400, "chains": 4}
# The IRT group refreshes with every change of the warehouse: settings that make it cheap.
FAST_IRT = {"irt": {
    "model": "1pl", "respondent": "model+scaffold", "fit_method": "map", "steps": 100, "n_anchors": 5, "kmeans_restarts": 1,
    "gp_bias": "in_sample", "n_interval_draws": 50, "routing_dims": 1, "k": 3,
}}


@dataclass
class Project:
    root: Path
    settings: Settings
    instance: dg.DagsterInstance
    resources: dict

    def materialize(
        self, selection: list[str], partition_key, run_config: dict | None = None, tags: dict | None = None
    ) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*defs.assets, *defs.asset_checks], selection=selection, partition_key=partition_key,
            instance=self.instance, resources=self.resources, raise_on_error=False, run_config=run_config, tags=tags,
        )

    def register_analyses(self) -> None:
        """The partitions the analysis_configs sensor would register for the analyses folder."""
        from hibayes_assets.sensors import apply_partition_changes, partition_changes

        requests, problems = partition_changes(self.instance, self.settings.analyses_dir)
        apply_partition_changes(self.instance, requests)

    def add_logs(self, keys: list[str]) -> None:
        self.instance.add_dynamic_partitions("inspect_logs", keys)

    def ingest(self, key: str) -> dg.ExecuteInProcessResult:
        return self.materialize(["inspect_log", "eval_samples", "ingest_errors"], key)


def materializations(result: dg.ExecuteInProcessResult, asset: str) -> list[dict]:
    """The metadata values of every materialization of `asset` in a run (whichever step made it)."""
    return [
        {key: value.value for key, value in event.event_specific_data.materialization.metadata.items()}
        for event in result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
        and event.event_specific_data.materialization.asset_key == dg.AssetKey(asset)
    ]


def write_test_analysis(folder: Path, models: list[str] | None = None) -> Path:
    """The example analysis with small sampler settings (and only `models`, when given)."""
    config = yaml.safe_load((EXAMPLE_ANALYSES / "model_comparison.yaml").read_text())
    if models:
        config["model"]["models"] = [entry for entry in config["model"]["models"] if entry["name"] in models]
    for entry in config["model"]["models"]:
        entry["config"]["fit"].update(TEST_FIT)
    config["check"]["checkers"] = [{"r_hat": {"threshold": 1.05}}, {"ess_bulk": {"threshold": 100}}, "divergences"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model_comparison.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def project_settings(tmp_path: Path, n_logs: int = N_LOGS) -> Settings:
    """Settings over temporary folders: copies of the first `n_logs` example logs, the test analysis,
    an empty Dagster home."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for path in example_log_files()[:n_logs]:
        shutil.copy(path, logs / path.name)
    write_test_analysis(tmp_path / "analyses")
    (tmp_path / "dh").mkdir()
    return Settings(
        log_dir=logs, analyses_dir=tmp_path / "analyses", home=tmp_path / "home", dagster_home=tmp_path / "dh",
        prices_path=tmp_path / "prices.yaml", irt_config=tmp_path / "irt.yaml",  # missing: each group's defaults
    )


@pytest.fixture
def project(tmp_path: Path):
    settings = project_settings(tmp_path)
    overrides = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    with dg.instance_for_test(temp_dir=str(settings.dagster_home), overrides=overrides) as instance:
        yield Project(tmp_path, settings, instance, build_resources(settings))
