"""The example analyses and the judge logs they need, without fitting anything: every config in
examples/analyses parses, its processors make what its models need, and together the configs
use every built-in model and communicator; the judge logs are real Inspect logs with integer
ratings 0..10 that the loader reads and the judge analysis turns into ordinal observations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from hibayes.analysis import process_data, validate
from hibayes.communicate import COMMUNICATORS
from hibayes.config import load_analysis
from hibayes.load import DataLoaderConfig, load_data_with_report
from hibayes.load.inspect_reader import read_log
from hibayes.model import MODELS, missing_features
from tests.conftest import EXAMPLE_ANALYSES, EXAMPLE_LOGS, PROJECT_ROOT

CONFIGS = sorted(EXAMPLE_ANALYSES.glob("*.yaml"))
JUDGE_LOGS = sorted(EXAMPLE_LOGS.glob("*_judge_*.eval"))
TRUTH = json.loads((PROJECT_ROOT / "examples" / "truth.json").read_text())["judge"]


def builtin(registry) -> set[str]:
    """Names registered by the library itself: other tests register custom components in the
    same registries (from `path:` files), and those are not the examples' business."""
    return {name for name in registry.names() if registry.builder(name).__module__.startswith("hibayes.")}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_example_config_parses_and_its_processors_make_what_its_models_need(path: Path):
    config = load_analysis(path)
    assert config.name == path.stem and config.models and config.communicators
    assert missing_features(config.processors, config.models) == []
    validate(config)  # the same check the analysis_features asset makes, with custom code imported
    assert path.read_text().startswith("# ")  # the question it answers, first


def test_the_examples_use_every_builtin_model_and_communicator():
    configs = [load_analysis(path) for path in CONFIGS]
    models = {spec.name for config in configs for spec in config.models}
    communicators = {name for config in configs for name, _ in config.communicators}
    assert len(builtin(MODELS)) >= 6 and len(builtin(COMMUNICATORS)) >= 5  # the registries are filled
    assert builtin(MODELS) - models == set()
    assert builtin(COMMUNICATORS) - communicators == set()


def test_judge_logs_are_real_inspect_logs_with_integer_ratings():
    from inspect_ai.log import read_eval_log

    assert len(JUDGE_LOGS) == 4
    seen = {}
    for path in JUDGE_LOGS:
        log = read_eval_log(str(path))
        assert log.status == "success" and log.eval.task == "judge"
        assert log.eval.metadata == {"scaffold": "generalist"}
        assert len(log.samples) == 40
        for sample in log.samples:
            assert list(sample.scores) == ["helpfulness_judge"] and sample.error is None
            value = sample.scores["helpfulness_judge"].value
            assert type(value) is int and 0 <= value <= 10  # an int, not a float or a bool
            assert sample.metadata == {"rubric": "helpfulness"}
            seen.setdefault(log.eval.model, {})[str(sample.id)] = value
    assert seen == TRUTH["ratings"]  # the logs hold exactly the ratings truth.json records


def test_the_loader_and_the_ingest_read_the_judge_ratings():
    config = load_analysis(EXAMPLE_ANALYSES / "judge_ratings.yaml")
    loader = dataclasses.replace(DataLoaderConfig.from_analysis(config), files_to_process=(str(EXAMPLE_LOGS),))
    data, report = load_data_with_report(loader, workers=1)
    judged = data[data["task"] == "judge"]
    assert len(judged) == 160 and report.extractor_problems == {}
    assert set(judged["rubric"]) == {"helpfulness"} and data.loc[data["task"] != "judge", "rubric"].isna().all()
    expected = {(model, sample_id): r for model, by_id in TRUTH["ratings"].items() for sample_id, r in by_id.items()}
    got = {(raw, sid): score for raw, sid, score in judged[["model_raw", "sample_id", "score"]].itertuples(index=False)}
    assert got == expected

    state = process_data(config, data)  # drops every correct/incorrect task's rows
    obs = np.asarray(state.features["obs"])
    assert len(state.processed_data) == 160 and state.features["num_model"] == 4
    assert np.array_equal(obs, np.round(obs)) and obs.min() >= 0 and obs.max() <= 10

    rows = read_log(JUDGE_LOGS[0], JUDGE_LOGS[0].name)  # the Dagster ingest's reader
    assert rows.samples["score"].between(0, 10).all() and len(rows.samples) == 40
    assert set(rows.scores["value_type"]) == {"number"}


@pytest.mark.parametrize("name", ["model_comparison", "three_level", "scaffold_effects"])
def test_binary_analyses_leave_the_judge_ratings_out(name: str):
    """The correct/incorrect analyses drop the judge rows (no difficulty), so every count is a
    number of successes out of n_total."""
    import pandas as pd

    config = load_analysis(EXAMPLE_ANALYSES / f"{name}.yaml")
    rows = [
        (model, scaffold, "arithmetic", "math", difficulty, float(n % 2))
        for n, (model, scaffold, difficulty) in enumerate(
            (m, s, d) for m in ("aurora", "draco") for s in ("generalist", "specialist") for d in ("easy", "medium", "hard")
        )
    ]
    rows += [(model, "generalist", "judge", None, None, 7.0) for model in ("aurora", "draco")]
    frame = pd.DataFrame(rows, columns=["model", "scaffold", "task", "domain", "difficulty", "score"])
    state = process_data(config, frame)
    assert (np.asarray(state.features["obs"]) <= np.asarray(state.features["n_total"])).all()
    assert int(np.asarray(state.features["n_total"]).sum()) == 12 and "judge" not in set(state.processed_data.get("task", []))
