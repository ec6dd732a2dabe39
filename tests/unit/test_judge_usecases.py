"""HiBayES's llm-as-a-judge examples, configs unchanged, through HiBayES's commands run from each
example's folder, with our test versions of their custom files loaded through `path:`.

q1 runs with its own sampler settings (4 chains x (1000 warmup + 2000 draws)); q2 in stages as its
dvc.yaml runs them, with HIBAYES_FIT_OVERRIDE's small settings (the config stays unchanged). q3-q5
run as assets in tests/dagster/test_judge_usecases_assets.py, and all five through `hibayes-full`
with their own settings in benchmarks/bench_hibayes_examples.py."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hibayes.cli import main
from hibayes.state_io import load_state
from tests.conftest import HIBAYES_EXAMPLE_FILES

SMALL_FIT = "samples=300,warmup=300,warm_start=false"  # fitted once: no warm-start sampler to compile


def run_example(folder: Path, monkeypatch: pytest.MonkeyPatch, *argv: str, prog: str = "hibayes-full") -> int:
    monkeypatch.chdir(folder)  # HiBayES runs each example from its folder (its dvc.yaml does)
    monkeypatch.setenv("HIBAYES_HOME", str(folder / ".home"))
    return main(["--config", "files/config.yaml", *argv], prog=prog)


def checks_of(state_dir: Path, model_name: str) -> dict:
    return json.loads((state_dir / "models" / model_name / "checks.json").read_text())["checks"]


def grader_means(folder: Path) -> pd.Series:
    data = pd.read_csv(folder / "data" / "data.csv")
    return data.groupby("grader")["score"].mean()


def posterior_means(state_dir: Path, model_name: str, variable: str) -> pd.Series:
    posterior = load_state(state_dir).get_model(model_name).inference_data.posterior[variable]
    dim = posterior.dims[-1]
    return pd.Series(posterior.mean(("chain", "draw")).values, index=posterior[dim].values)


def test_q1_unchanged_with_its_own_sampler_settings(judge_usecases: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    q1 = judge_usecases / "q1"
    assert run_example(q1, monkeypatch, "--out", ".output/", "--no-tui") == 0

    out = q1 / ".output"
    name = "ordered_logistic_modelversion_1"
    idata = load_state(out).get_model(name).inference_data
    assert idata.posterior.sizes["chain"] == 4 and idata.posterior.sizes["draw"] == 2000
    checks = checks_of(out, name)
    assert {checks[c]["status"] for c in ("divergences", "r_hat", "ess_bulk", "ess_tail")} == {"pass"}
    assert checks["waic"]["value"] < 0
    # The Human grader scores higher on average than the Autograder; so must its effect.
    effects = posterior_means(out, name, "grader_effects")
    means = grader_means(q1)
    assert list(effects.sort_values().index) == list(means.sort_values().index)
    assert effects["Human"] - effects["Autograder"] > 1.0
    # The custom communicators from ../custom_communicators.py, and the built-in ones.
    plots = {p.name for p in (out / "plots").glob("*.png")}
    for expected in ("_cutpoints.png", "_category_frequency.png", "_ordered_residuals.png", "_grader_effects_forest.png"):
        assert any(p.endswith(expected) for p in plots), (expected, plots)
    assert (out / "tables" / f"model_{name}_summary.csv").exists()
    printed = capsys.readouterr().out
    assert "cutpoint_plot: pass" in printed and "category_frequency_plot: pass" in printed


def test_q2_stages_as_in_its_dvc_file_with_model_comparison(judge_usecases: Path, monkeypatch: pytest.MonkeyPatch):
    q2 = judge_usecases / "q2"
    monkeypatch.setenv("HIBAYES_FIT_OVERRIDE", SMALL_FIT)
    assert run_example(q2, monkeypatch, "--out", ".output/load/", prog="hibayes-load") == 0
    assert run_example(q2, monkeypatch, "--analysis-state", ".output/load/", "--out", ".output/process/", prog="hibayes-process") == 0
    assert run_example(q2, monkeypatch, "--analysis-state", ".output/process/", "--out", ".output/model/", prog="hibayes-model") == 0
    assert run_example(q2, monkeypatch, "--analysis-state", ".output/model/", "--out", ".output/communicate/", prog="hibayes-comm") == 0
    out = q2 / ".output" / "communicate"
    assert list((out / "plots").glob("model_comparison*.png"))
    effects = posterior_means(out, "ordered_logistic_modelwithout_interaction", "grader_effects")
    assert effects.idxmax() == "Human"
    assert list(load_state(out).get_model("ordered_logistic_modelwith_interaction").inference_data.posterior["grader_LLM_effects"].dims[-2:]) == ["grader", "LLM"]


def test_ordinal_alpha_matches_krippendorffs_published_example():
    """Krippendorff (2011), 'Computing Krippendorff's Alpha-Reliability': 4 coders x 12 units,
    ordinal alpha 0.815."""
    sys.path.insert(0, str(HIBAYES_EXAMPLE_FILES))
    try:
        from custom_communicators import ordinal_alpha
    finally:
        sys.path.remove(str(HIBAYES_EXAMPLE_FILES))
    n = np.nan
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    assert ordinal_alpha(np.array(coders).T, 6) == pytest.approx(0.815, abs=0.001)
    assert ordinal_alpha(np.array([[3, 3], [5, 5], [1, 1.0]]), 6) == 1.0


def test_add_categorical_column_by_pattern(judge_usecases: Path):
    sys.path.insert(0, str(HIBAYES_EXAMPLE_FILES))
    try:
        from custom_processors import add_categorical_column
    finally:
        sys.path.remove(str(HIBAYES_EXAMPLE_FILES))
    from hibayes.analysis_state import AnalysisState

    data = pd.DataFrame({"grader": ["Human X", "human y", "Autograder A", "GPT judge"]})
    state = add_categorical_column("grader_type", "grader", {"Human": "human", "GPT": "llm"}, default_value="model")(
        AnalysisState(data=data), None
    )
    assert list(state.processed_data["grader_type"]) == ["human", "human", "model", "llm"]
    strict = add_categorical_column("grader_type", "grader", {"Human": "human"}, case_sensitive=True)(AnalysisState(data=data), None)
    assert list(strict.processed_data["grader_type"]) == ["human", "unknown", "unknown", "unknown"]
