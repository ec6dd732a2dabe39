"""The HiBayES commands end to end on the example logs: each stage saves a state the next one
loads, with no pickle anywhere, and `hibayes-full` matches the stages run one by one."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hibayes.cli import main
from tests.conftest import EXAMPLE_LOGS

CONFIG = {
    # The judge logs' 0..10 ratings have no difficulty: dropping rows without one keeps the 0/1 tasks.
    "data_loader": {
        "paths": {"files_to_process": ["logs"]},
        "extractors": {"enabled": ["base_extractor", {"metadata_field_extractor": {"field_path": "difficulty"}}]},
    },
    "data_process": {
        "processors": [
            {"drop_rows_with_missing_features": {"feature_names": ["difficulty"]}},
            {"map_columns": {"column_mapping": {"model": "group"}}},
            {"groupby": {"groupby_columns": ["group"]}},
            {"extract_features": {"categorical_features": ["group"], "continuous_features": ["n_total"]}},
            {"extract_observed_feature": {"feature_name": "n_correct"}},
        ]
    },
    "model": {"models": [{"name": "simplified_group_binomial_exponential", "config": {"fit": {"samples": 300, "warmup": 300}}}]},
    "check": {"checkers": ["divergences", {"r_hat": {"threshold": 1.05}}]},
    "communicate": {"communicators": ["forest_plot", "summary_table"]},
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "files").mkdir()
    (tmp_path / "logs").symlink_to(EXAMPLE_LOGS)
    (tmp_path / "files" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    monkeypatch.chdir(tmp_path)  # `logs` is found relative to the working directory, as HiBayES does
    monkeypatch.setenv("HIBAYES_HOME", str(tmp_path / "home"))
    return tmp_path


def test_stages_one_by_one_then_full(project: Path, capsys):
    config = project / "files" / "config.yaml"
    assert main(["--config", str(config), "--out", "s1"], prog="hibayes-load") == 0
    assert (project / "s1" / "data.parquet").exists()
    assert main(["process", "--config", str(config), "--analysis-state", "s1", "--out", "s2"], prog="hibayes") == 0
    assert main(["--config", str(config), "--analysis-state", "s2", "--out", "s3", "--no-tui"], prog="hibayes-model") == 0
    saved = project / "s3" / "models" / "simplified_group_binomial_exponential"
    assert (saved / "inference_data.nc").exists()
    checks = json.loads((saved / "checks.json").read_text())["checks"]
    assert checks["divergences"]["status"] == "pass"
    assert main(["--config", str(config), "--analysis-state", "s3", "--out", "s4", "--no-frequent-save"], prog="hibayes-comm") == 0
    assert list((project / "s4" / "tables").glob("*summary*.csv"))
    assert list((project / "s4" / "plots").glob("*forest*.png"))
    assert not list(project.rglob("*.pkl")) and not list(project.rglob("*.pickle"))

    assert main(["--config", str(config), "--out", "full"], prog="hibayes-full") == 0
    stepwise = (project / "s4" / "tables").glob("*summary*.csv").__next__().read_text()
    full = (project / "full" / "tables").glob("*summary*.csv").__next__().read_text()
    assert stepwise == full  # same seed, same data: the same posterior
    out = capsys.readouterr().out
    assert "[model]" in out and "divergences pass" in out


def test_errors_are_one_clear_line(project: Path, capsys):
    config = project / "files" / "config.yaml"
    assert main(["model", "--config", str(config), "--out", "x"], prog="hibayes") == 2
    assert "needs --analysis-state" in capsys.readouterr().err
    bad = project / "files" / "bad.yaml"
    bad.write_text(yaml.safe_dump({"modle": {}}))
    assert main(["load", "--config", str(bad), "--out", "x"], prog="hibayes") == 2
    assert "did you mean 'model'" in capsys.readouterr().err


def test_console_scripts_are_installed():
    bin_dir = Path(sys.executable).parent
    for name in ("hibayes", "hibayes-load", "hibayes-process", "hibayes-model", "hibayes-comm", "hibayes-full"):
        result = subprocess.run([str(bin_dir / name), "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "--config" in result.stdout


def test_a_model_needing_features_the_processors_do_not_make_fails_before_loading(project: Path, capsys):
    config = {**CONFIG, "data_process": {"processors": [{"groupby": {"groupby_columns": ["model"]}}]}}
    path = project / "files" / "no_features.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["full", "--config", str(path), "--out", "x"], prog="hibayes") == 2
    err = capsys.readouterr().err
    assert "group_index" in err and "extract_features" in err
    assert not (project / "x").exists()


def test_check_reruns_the_checkers_on_a_saved_state(project: Path, capsys):
    config = project / "files" / "config.yaml"
    assert main(["full", "--config", str(config), "--out", "fitted"], prog="hibayes") == 0
    assert main(["check", "--config", str(config), "--analysis-state", "fitted", "--out", "checked"], prog="hibayes") == 0
    checks = json.loads((project / "checked" / "models" / "simplified_group_binomial_exponential" / "checks.json").read_text())
    assert set(checks["checks"]) == {"divergences", "r_hat"}
    assert "[check]" in capsys.readouterr().out


def test_a_custom_file_that_fails_to_import_is_named_with_its_line(project: Path, capsys):
    (project / "files" / "custom_model.py").write_text(
        "from hibayes.model import Model, model\n\nfrom hibayes.model import no_such_name\n"
    )
    config = {**CONFIG, "model": {**CONFIG["model"], "path": "custom_model.py"}}
    path = project / "files" / "custom.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["load", "--config", str(path), "--out", "x"], prog="hibayes") == 2
    err = capsys.readouterr().err
    assert "custom_model.py: line 3: ImportError" in err and "no_such_name" in err
