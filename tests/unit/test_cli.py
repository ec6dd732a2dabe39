"""The HiBayES commands end to end on the example logs: each stage saves a state the next one
loads, with no pickle anywhere, and `hibayes-full` matches the stages run one by one."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
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
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))  # the CLI's JAX cache, kept out of ~/.cache
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


def write_custom(path: Path, source: str) -> Path:
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def line_of(path: Path, fragment: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def write_config(project: Path, **sections) -> Path:
    path = project / "files" / "custom.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **sections}))
    return path


def test_a_custom_extractor_that_raises_fails_the_load_after_the_others_ran(project: Path, capsys):
    custom = write_custom(
        project / "files" / "custom_extractor.py",
        """
        from hibayes.load import Extractor, extractor

        @extractor
        def broken_extractor() -> Extractor:
            def extract(sample, eval_log):
                raise LookupError(f"no domain for sample {sample.id}")
            return extract
        """,
    )
    loader = {**CONFIG["data_loader"], "extractors": {"path": "custom_extractor.py", "enabled": ["base_extractor", "broken_extractor"]}}
    assert main(["load", "--config", str(write_config(project, data_loader=loader)), "--out", "s1"], prog="hibayes") == 1
    err = capsys.readouterr().err
    assert "extractor 'broken_extractor' raised on" in err and "LookupError: no domain for sample" in err
    assert f"(at {custom.resolve()}, line {line_of(custom, 'no domain')})" in err
    data = pd.read_parquet(project / "s1" / "data.parquet")  # saved: base_extractor ran
    assert len(data) > 0 and data["score"].notna().any()


def test_a_custom_processor_that_raises_names_its_file_and_line(project: Path, capsys):
    custom = write_custom(
        project / "files" / "custom_processor.py",
        """
        from hibayes.process import DataProcessor, process

        @process
        def broken_processor() -> DataProcessor:
            def inner(state, display=None):
                state.processed_data["copy"] = state.processed_data["no_such_column"]
                return state
            return inner
        """,
    )
    processors = [{"broken_processor": {}}, *CONFIG["data_process"]["processors"]]
    config = write_config(project, data_process={"path": "custom_processor.py", "processors": processors})
    assert main(["full", "--config", str(config), "--out", "x"], prog="hibayes") == 1
    err = capsys.readouterr().err
    assert "processor 'broken_processor' raised KeyError: 'no_such_column'" in err
    assert f"(at {custom.resolve()}, line {line_of(custom, 'no_such_column')})" in err


def test_a_failing_custom_checker_or_communicator_fails_the_run_after_the_others_ran(project: Path, capsys):
    checks = write_custom(
        project / "files" / "custom_checks.py",
        """
        from hibayes.check import Checker, checker

        @checker
        def broken_checker() -> Checker:
            def inner(state, display=None):
                raise RuntimeError("the checker broke")
            return inner
        """,
    )
    communicators = write_custom(
        project / "files" / "custom_communicators.py",
        """
        import pandas as pd
        from matplotlib.figure import Figure

        from hibayes.communicate import Communicator, communicate

        @communicate
        def keyword_outputs() -> Communicator:
            # As HiBayES's example communicators call the state: by keyword.
            def inner(state, display=None):
                fig = Figure()
                fig.add_subplot().plot([0, 1])
                state.add_plot(plot=fig, plot_name="keyword_plot")
                state.add_table(table=pd.DataFrame({"a": [1]}), table_name="keyword_table")
                state.add_log(log_entry="keyword_outputs ran", stage="communicate")
                return state, "pass"
            return inner

        @communicate
        def broken_communicator() -> Communicator:
            def inner(state, display=None):
                return state.get_model(model_name="no_such_model"), "pass"
            return inner
        """,
    )
    config = write_config(
        project,
        model={"models": [{"name": "simplified_group_binomial_exponential", "config": {"fit": {"samples": 100, "warmup": 100, "chains": 2}}}]},
        check={"path": "custom_checks.py", "checkers": ["divergences", "broken_checker"]},
        communicate={"path": "custom_communicators.py", "communicators": ["broken_communicator", "forest_plot", "keyword_outputs", "summary_table"]},
    )
    assert main(["full", "--config", str(config), "--out", "out"], prog="hibayes") == 1
    captured = capsys.readouterr()
    assert (
        "simplified_group_binomial_exponential: checker 'broken_checker' raised RuntimeError: the checker broke "
        f"(at {checks.resolve()}, line {line_of(checks, 'the checker broke')})"
    ) in captured.err
    assert "communicator 'broken_communicator' raised UnknownModelError: no model named 'no_such_model'" in captured.err
    assert f"(at {communicators.resolve()}, line {line_of(communicators, 'no_such_model')})" in captured.err
    # Everything else ran and was saved.
    out = project / "out"
    assert (out / "plots" / "keyword_plot.png").exists() and (out / "tables" / "keyword_table.csv").exists()
    assert list((out / "plots").glob("*forest*.png")) and list((out / "tables").glob("*summary*.csv"))
    checks_json = json.loads((out / "models" / "simplified_group_binomial_exponential" / "checks.json").read_text())["checks"]
    assert checks_json["divergences"]["status"] in ("pass", "fail") and checks_json["broken_checker"]["status"] == "error"
    assert "keyword_outputs ran" in captured.out


@pytest.mark.parametrize(
    ("section", "source"),
    [
        ("communicate", None),  # the file does not exist
        ("check", "from hibayes.check import no_such_name\n"),  # it does not import
    ],
)
def test_every_custom_file_is_checked_before_anything_is_loaded(project: Path, capsys, monkeypatch, section, source):
    import hibayes.analysis

    monkeypatch.setattr(hibayes.analysis, "load_data", lambda *args, **kwargs: pytest.fail("logs were read before the custom files were checked"))
    if source is not None:
        (project / "files" / "custom_code.py").write_text(source)
    config = write_config(project, **{section: {**CONFIG[section], "path": "custom_code.py"}})
    assert main(["full", "--config", str(config), "--out", "x"], prog="hibayes") == 2
    err = capsys.readouterr().err
    assert "custom_code.py" in err and ("not found" in err if source is None else "line 1: ImportError" in err)
    assert not (project / "x").exists()


def test_the_jax_compilation_cache_is_per_user_not_per_folder(project: Path, monkeypatch):
    import hibayes.model.platform
    from hibayes.settings import user_cache_dir

    used = []
    monkeypatch.setattr(hibayes.model.platform, "enable_compilation_cache", used.append)
    assert main(["load", "--config", str(project / "files" / "config.yaml"), "--out", "s1"], prog="hibayes") == 0
    assert used == [project / "user_cache" / "hibayes" / "jax"]
    assert not (project / ".hibayes").exists()

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(project / "someone"))
    assert user_cache_dir() == project / "someone" / ".cache" / "hibayes"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid under the XDG rule: ignored
    assert user_cache_dir() == project / "someone" / ".cache" / "hibayes"


@pytest.fixture
def no_loading(monkeypatch):
    import hibayes.analysis

    monkeypatch.setattr(hibayes.analysis, "load_data", lambda *args, **kwargs: pytest.fail("logs were read before the config was checked"))


def test_bad_fit_values_fail_as_config_errors_before_anything_is_read(project: Path, capsys, no_loading):
    model = {"models": [{"name": "simplified_group_binomial_exponential", "config": {"fit": {"chains": 0}}}]}
    config = write_config(project, model=model)
    assert main(["full", "--config", str(config), "--out", "x"], prog="hibayes") == 2
    err = capsys.readouterr().err
    assert f"{config}: 'fit.chains' of model 'simplified_group_binomial_exponential' must be a whole number" in err
    assert not (project / "x").exists()


def test_a_gpu_analysis_where_jax_sees_no_gpu_fails_naming_the_file_and_field(project: Path, capsys, no_loading):
    import jax

    if any(device.platform == "gpu" for device in jax.devices()):
        pytest.skip("JAX has a GPU here: the analysis would run on it")
    config = write_config(project, platform={"device_type": "gpu"})
    assert main(["full", "--config", str(config), "--out", "x"], prog="hibayes") == 2
    err = capsys.readouterr().err
    assert f"{config}: 'platform.device_type' is gpu, but JAX sees no GPU on this machine (it has: cpu)" in err
    assert "set 'device_type: cpu'" in err
    assert not (project / "x").exists()


def test_unknown_checker_or_communicator_names_fail_before_anything_is_read(project: Path, capsys, no_loading):
    config = write_config(project, check={"checkers": ["divergences", "r_hatt"]})
    assert main(["full", "--config", str(config), "--out", "x"], prog="hibayes") == 2
    assert "unknown checker 'r_hatt' in 'check.checkers' (did you mean 'r_hat'?)" in capsys.readouterr().err
    # With a custom file, the names are checked once it has registered its own.
    write_custom(
        project / "files" / "named_communicators.py",
        """
        from hibayes.communicate import Communicator, communicate

        @communicate
        def cli_named_table() -> Communicator:
            def inner(state, display=None):
                return state, "pass"
            return inner
        """,
    )
    communicate = {"path": "named_communicators.py", "communicators": ["cli_named_table", "cli_named_tabel"]}
    config = write_config(project, communicate=communicate)
    assert main(["full", "--config", str(config), "--out", "x"], prog="hibayes") == 2
    err = capsys.readouterr().err
    assert f"{config}: unknown communicator 'cli_named_tabel' in 'communicate.communicators' (did you mean 'cli_named_table'?)" in err
    assert "named_communicators.py" in err and not (project / "x").exists()


def test_compare_names_a_wrong_contrast_before_fitting_and_exits_2(project: Path, capsys):
    """The fits and the table of `hibayes compare` are tested with the asset and the notebook
    (tests/dagster/test_comparisons.py); here, its failure: one line, before any model is fitted."""
    config = project / "files" / "config.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "compare": {"contrasts": [["aurora", "aurorra"]]}}))
    assert main(["compare", "--config", str(config), "--out", "cmp"], prog="hibayes") == 2
    captured = capsys.readouterr()
    assert "[model]" not in captured.out and not (project / "cmp").exists()
    assert captured.err.strip() == (
        f"hibayes: error: {config}: 'compare.contrasts' names models without scores: aurorra; "
        "the models are: aurora, borealis, cirrus, draco"
    )
    from hibayes.cli import build_parser

    assert "'compare' compares the models pair by pair" in " ".join(build_parser("hibayes", None).format_help().split())
