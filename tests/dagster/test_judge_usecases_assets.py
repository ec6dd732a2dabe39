"""HiBayES's llm-as-a-judge examples q3-q5 as assets, configs unchanged: Dagster runs from the
example's folder (HiBayES's working-directory rule finds `data/data.csv` and `../custom_*.py`)
with `files/` as the analyses folder. Small sampler settings come from HIBAYES_FIT_OVERRIDE, and
with them no check blocks the report (HIBAYES_BLOCKING_CHECKS empty).
(q1 and q2 share their models and communicators with these and run through the CLI tests.)"""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from hibayes import idata as idata_api
from hibayes.config import load_analysis
from hibayes.settings import Settings
from hibayes.warehouse import Warehouse
from hibayes_assets.resources import build_resources
from tests.conftest import PROJECT_ROOT
from tests.dagster.conftest import Project, materializations

ANALYSIS = "config"  # the partition is named after the YAML file, files/config.yaml


def materialize_example(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, dict, list[str]]:
    monkeypatch.chdir(folder)
    # Fitted once: no warm-start sampler compiled for a refit that never comes.
    monkeypatch.setenv("HIBAYES_FIT_OVERRIDE", "samples=300,warmup=300,warm_start=false")
    # 300 draws are too few for the configs' r_hat <= 1.01: nothing blocks the reports these tests read.
    monkeypatch.setenv("HIBAYES_BLOCKING_CHECKS", "")
    settings = Settings(log_dir=tmp_path / "logs", analyses_dir=folder / "files", home=tmp_path / "home", dagster_home=tmp_path / "dh")
    (tmp_path / "dh").mkdir()
    overrides = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    models = load_analysis(folder / "files" / "config.yaml").model_names
    with dg.instance_for_test(temp_dir=str(tmp_path / "dh"), overrides=overrides) as instance:
        project = Project(tmp_path, settings, instance, build_resources(settings))
        project.register_analyses()
        assert project.materialize(["analysis_data", "analysis_features"], ANALYSIS).success
        fit = project.materialize(["model_fit"], ANALYSIS)
        assert materializations(fit, "model_fit"), models
        assert project.materialize(["check_results", "model_comparison"], ANALYSIS).success
        report = project.materialize(["analysis_report"], ANALYSIS)
        assert report.success
    checks = Warehouse(settings.warehouse_path).query(f"SELECT model, name, status, value FROM check_results WHERE analysis = '{ANALYSIS}'")
    assert set(checks["model"]) == set(models)
    (metadata,) = [
        e.event_specific_data.materialization.metadata for e in report.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == dg.AssetKey("analysis_report")
    ]
    return settings, metadata, models


def posterior(settings: Settings, model: str, variable: str) -> pd.Series:
    idata = idata_api.load(settings.home / "fits" / ANALYSIS / f"{model}.nc")
    values = idata.posterior[variable]
    return pd.Series(values.mean(("chain", "draw")).values, index=values[values.dims[-1]].values)


def test_q3_custom_processor_and_hierarchical_model(judge_usecases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings, meta, models = materialize_example(judge_usecases / "q3", tmp_path, monkeypatch)
    data = Warehouse(settings.warehouse_path).query('SELECT * FROM "analysis_data_config"')
    assert len(data) == 1048
    hierarchical = "hierarchical_ordered_logistic_modelversion_1"
    # Humans score higher than autograders: the type difference (model - human) is negative, and
    # each grader's effect includes its type's mean, so the three humans have the largest effects.
    assert posterior(settings, hierarchical, "grader_type_differences").iloc[0] < 0
    assert set(posterior(settings, hierarchical, "grader_effects").sort_values().index[-3:]) == {"Human X", "Human Y", "Human Z"}
    # The user's model may diverge (HiBayES's fit had 9 divergences): reported, not hidden.
    checks = Warehouse(settings.warehouse_path).query("SELECT * FROM check_results WHERE name = 'divergences'")
    assert checks["value"].notna().all()
    communicators = meta["communicators"].value
    assert communicators["cutpoint_plot"] == "pass" and communicators["category_frequency_plot"] == "pass"
    assert communicators["model_comparison_plot"] == "pass"
    assert any(f.endswith("_cutpoints.png") for f in meta["files"].value)


def test_q4_krippendorff_alpha(judge_usecases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings, meta, _ = materialize_example(judge_usecases / "q4", tmp_path, monkeypatch)
    assert meta["communicators"].value["krippendorff_alpha"] == "pass"
    table = next(settings.home.glob("artifacts/config/*krippendorff_alpha.csv"))
    alpha = pd.read_csv(table).set_index("alpha")["mean"]
    # Graders disagree in level (humans ~7, autograders ~3): removing grader bias raises agreement.
    assert alpha["bias corrected"] > alpha["observed"] + 0.3


def test_q5_pairwise_model_with_per_grader_length_slopes(judge_usecases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings, meta, models = materialize_example(judge_usecases / "q5", tmp_path, monkeypatch)
    slopes = posterior(settings, "pairwise_logistic_modelwith_length_diff", "grader_length_diff_effects")
    assert len(slopes) == 2 and np.all(np.isfinite(slopes))
    assert meta["communicators"].value["model_comparison_plot"] == "pass"
