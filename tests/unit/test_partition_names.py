"""Analysis and model names become partition keys, fit keys (`<analysis>/<model>`) and folder
names: a file whose names cannot be is reported as that file's problem, and the others are used."""

import dagster as dg
import pytest
import yaml

from hibayes_assets.partitions import NAME_RULE, name_problem
from hibayes_assets.planner import read_analyses
from hibayes_assets.sensors import partition_changes

GOOD = {"model": {"models": ["two_level_group_binomial"]}}
SLASH_TAG = {"model": {"models": [{"name": "two_level_group_binomial", "config": {"tag": "v/2"}}]}}
BAD_FILES = ["a|b", "a,b", "a b", "a...b", "..", "-x", "hal", "tab\there", "semi;colon", "été"]


@pytest.mark.parametrize("name", ["model_comparison", "three_level", "A-1.v2", "_x", "a..b"])
def test_ordinary_names_are_fine(name):
    assert name_problem(name) is None


@pytest.mark.parametrize("name", ["a|b", "a,b", "a b", "a/b", "a...b", ".", "..", ".hidden", "-x", "a\nb", "irt", "HAL", ""])
def test_names_that_break_a_key_or_a_path_say_what_is_allowed(name):
    problem = name_problem(name, "model name")
    assert problem and problem.startswith("model name")
    if name.lower() not in ("irt", "hal"):
        assert NAME_RULE in problem


def test_bad_file_and_model_names_are_that_files_problem_and_the_others_run(tmp_path):
    folder = tmp_path / "analyses"
    folder.mkdir()
    (folder / "good.yaml").write_text(yaml.safe_dump(GOOD))
    for stem in BAD_FILES:
        (folder / f"{stem}.yaml").write_text(yaml.safe_dump(GOOD))
    (folder / "slash_tag.yaml").write_text(yaml.safe_dump(SLASH_TAG))

    configs, problems = read_analyses(folder)
    assert list(configs) == ["good"]
    assert set(problems) == {*BAD_FILES, "slash_tag"}
    assert "'|'" in problems["a|b"] and "','" in problems["a,b"] and "' '" in problems["a b"]
    assert "'...'" in problems["a...b"] and "'\\t'" in problems["tab\there"]
    assert "rename the file" in problems["a|b"] and NAME_RULE in problems["a|b"]
    assert "model name 'two_level_group_binomialv/2'" in problems["slash_tag"] and "'/'" in problems["slash_tag"]

    instance = dg.DagsterInstance.ephemeral()
    requests, reported = partition_changes(instance, folder)
    added = {request.partitions_def_name: list(request.partition_keys) for request in requests}
    assert added == {"analyses": ["good"]}
    assert len(reported) == len(BAD_FILES) + 1 and all(NAME_RULE in line or "taken" in line for line in reported)
