"""The built-in extractors on real Inspect logs, against values read straight from the logs' JSON.

The expected values come from the raw zip members (`header.json`, `samples/{id}_epoch_{n}.json`),
not from Inspect's objects, so they check the extractors rather than restate them.
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import zipfile_zstd  # noqa: F401 - lets zipfile read the zstd members Inspect writes
from inspect_ai.log import EvalPlanStep, read_eval_log, read_eval_log_sample_summaries, write_eval_log
from inspect_ai.scorer import Score

from hibayes.load import EXTRACTORS, ExtractorWarning
from hibayes.load.extractors import FactsExtractor, SummaryTooThin, sample_facts
from hibayes.load.warehouse_extract import WAREHOUSE_EXTRACTORS
from tests.conftest import example_log_files


@cache
def example_log(task: str, model: str, scaffold: str) -> Path:
    """The example log of one (task, mock model, scaffold) cell."""
    for path in example_log_files():
        header = read_eval_log(str(path), header_only=True)
        spec = header.eval
        if (spec.task, spec.model, spec.metadata["scaffold"]) == (task, f"mockllm/{model}", scaffold):
            return path
    raise LookupError((task, model, scaffold))


@cache
def full_log(path: Path):
    return read_eval_log(str(path))


def raw(path: Path, member: str) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(member))


def raw_sample(path: Path, sample_id: str | int, epoch: int = 1) -> dict[str, Any]:
    return raw(path, f"samples/{sample_id}_epoch_{epoch}.json")


def sample(path: Path, sample_id: str | int):
    return next(s for s in full_log(path).samples if s.id == sample_id)


def run(name: str, sample_obj, log, **kwargs) -> dict[str, Any]:
    return EXTRACTORS.build(name, kwargs)(sample_obj, log)


BUILTIN_ARGS = {
    "base_extractor": ["scorer", "key"],
    "cyber_extractor": [],
    "tools_extractor": [],
    "token_extractor": [],
    "message_count_extractor": ["include_system", "include_user", "include_assistant"],
    "metadata_field_extractor": ["field_path", "default_value", "rename_to"],
    "score_normalizer": ["score_field", "normalize_to_01", "custom_mapping", "scorer", "key"],
}


def test_the_seven_builtins_have_hibayes_names_and_arguments():
    for name, args in BUILTIN_ARGS.items():
        assert list(inspect.signature(EXTRACTORS.builder(name)).parameters) == args, name


def test_base_extractor_matches_the_raw_log_and_puts_the_task_name_in_task():
    path = example_log("arithmetic", "cirrus", "generalist")
    log = full_log(path)
    header, expected = raw(path, "header.json"), raw_sample(path, 7)
    row = run("base_extractor", sample(path, 7), log)
    assert row == {
        "score": {"C": 1.0, "I": 0.0}[expected["scores"]["match"]["value"]],
        "target": expected["target"],
        "model": "cirrus",
        "model_raw": "mockllm/cirrus",
        "dataset": header["eval"]["dataset"].get("name"),
        "task": "arithmetic",  # HiBayES wrote the sample id here
        "sample_id": "7",
        "epoch": 1,
        "num_messages": len(expected["messages"]),
        "log_path": log.location,
        "scaffold": header["eval"]["metadata"]["scaffold"],  # as the warehouse has it
    }


def test_base_extractor_gives_the_same_rows_from_summaries_as_from_full_samples():
    path = example_log("spelling", "aurora", "specialist")
    log = full_log(path)
    header = read_eval_log(str(path), header_only=True)
    summaries = {(s.id, s.epoch): s for s in read_eval_log_sample_summaries(str(path))}
    for full in log.samples:
        assert run("base_extractor", summaries[(full.id, full.epoch)], header) == run("base_extractor", full, log)


def test_base_extractor_reads_bool_scores_and_a_chosen_scorer():
    capitals = example_log("capitals", "borealis", "generalist")
    for sample_id in ("cap01", "cap02", "cap03"):
        expected = 1.0 if raw_sample(capitals, sample_id)["scores"]["capital_correct"]["value"] else 0.0
        assert run("base_extractor", sample(capitals, sample_id), full_log(capitals))["score"] == expected

    spelling = example_log("spelling", "draco", "generalist")
    scores = raw_sample(spelling, "sp05")["scores"]
    first = run("base_extractor", sample(spelling, "sp05"), full_log(spelling))
    chosen = run("base_extractor", sample(spelling, "sp05"), full_log(spelling), scorer="letter_accuracy")
    assert first["score"] == {"C": 1.0, "I": 0.0}[scores["includes"]["value"]]  # the first scorer, as in HiBayES
    assert chosen["score"] == pytest.approx(scores["letter_accuracy"]["value"])


def with_scores(sample_obj, *values: Any):
    return sample_obj.model_copy(update={"scores": {f"s{i}": Score(value=v) for i, v in enumerate(values)}})


@pytest.mark.parametrize(
    "value, expected", [("P", 0.5), ("N", 0.0), ("C", 1.0), ("I", 0.0), (0.25, 0.25), ("0.75", 0.75)]
)
def test_base_extractor_reads_every_inspect_convention_without_raising(value, expected):
    path = example_log("arithmetic", "aurora", "generalist")
    assert run("base_extractor", with_scores(sample(path, 1), value), full_log(path))["score"] == expected


@pytest.mark.parametrize(
    "value, message", [("banana", "is not numeric"), ({"a": 1.0}, r"is a dict: choose one of its keys \(a\)"), ([1, 0], "is not numeric")]
)
def test_base_extractor_flags_values_it_cannot_read_and_leaves_nan(value, message):
    path = example_log("arithmetic", "aurora", "generalist")
    with pytest.warns(ExtractorWarning, match=message):
        row = run("base_extractor", with_scores(sample(path, 1), value), full_log(path))
    assert math.isnan(row["score"])


def test_base_extractor_unscored_or_unknown_scorer():
    path = example_log("arithmetic", "aurora", "generalist")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN is Inspect's "unscored": no warning
        assert math.isnan(run("base_extractor", with_scores(sample(path, 1), math.nan), full_log(path))["score"])
    with pytest.warns(ExtractorWarning, match="no scorer 'mach' \\(did you mean 'match'"):
        row = run("base_extractor", sample(path, 1), full_log(path), scorer="mach")
    assert math.isnan(row["score"]) and row["task"] == "arithmetic"


def test_a_dict_score_is_read_through_the_chosen_key():
    """Inspect scorers may return one value per key; the analysis chooses the key (and the scorer)."""
    path = example_log("arithmetic", "aurora", "generalist")
    s, log = sample(path, 1), full_log(path)
    graded = with_scores(s, {"accuracy": "C", "f1": 0.5, "judge": None}, 0.25)
    assert run("base_extractor", graded, log, key="accuracy")["score"] == 1.0  # the first scorer's key
    assert run("base_extractor", graded, log, scorer="s0", key="f1")["score"] == 0.5
    assert run("score_normalizer", graded, log, key="accuracy", custom_mapping={"C": 0.9}) == {"score": 0.9}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a key holding None is "unscored", as a NaN score is
        assert math.isnan(run("base_extractor", graded, log, key="judge")["score"])
    with pytest.warns(ExtractorWarning, match=r"of scorer 's0' is a dict: choose one of its keys \(accuracy, f1, judge\).*"
                      r"base_extractor: \{scorer: s0, key: accuracy\}"):
        assert math.isnan(run("base_extractor", graded, log)["score"])
    with pytest.warns(ExtractorWarning, match=r"score of scorer 's0' has no key 'acuracy' \(did you mean 'accuracy'\?\); its keys: accuracy, f1"):
        assert math.isnan(run("base_extractor", graded, log, key="acuracy")["score"])
    with pytest.warns(ExtractorWarning, match=r"score 0.25 of scorer 's1' is not a dict, so it has no key 'f1'"):
        assert math.isnan(run("score_normalizer", graded, log, scorer="s1", key="f1")["score"])


def test_base_extractor_on_an_errored_sample_gives_nan_without_a_warning():
    path = example_log("capitals", "draco", "specialist")
    errored = sample(path, "cap07")
    assert errored.error is not None and not errored.scores
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(run("base_extractor", errored, full_log(path))["score"])


def test_token_extractor_sums_usage_including_cache_reads():
    path = example_log("arithmetic", "cirrus", "generalist")  # cirrus reports prompt-cache reads
    usage = list(raw_sample(path, 3)["model_usage"].values())
    row = run("token_extractor", sample(path, 3), full_log(path))
    assert row == {
        "total_tokens": sum(u["total_tokens"] for u in usage),
        "input_tokens": sum(u["input_tokens"] for u in usage),
        "output_tokens": sum(u["output_tokens"] for u in usage),
        "cache_write_tokens": sum(u.get("input_tokens_cache_write", 0) for u in usage),
        "cache_read_tokens": sum(u.get("input_tokens_cache_read", 0) for u in usage),
    }
    assert row["cache_read_tokens"] == 96


def test_token_extractor_counts_reasoning_inside_output_tokens():
    path = example_log("arithmetic", "aurora", "generalist")  # aurora bills hidden reasoning tokens
    usage = raw_sample(path, 1)["model_usage"]["mockllm/aurora"]
    row = run("token_extractor", sample(path, 1), full_log(path))
    assert usage["reasoning_tokens"] > 0
    assert row["output_tokens"] == usage["output_tokens"] and row["total_tokens"] == usage["total_tokens"]
    assert run("token_extractor", sample(path, 1).model_copy(update={"model_usage": {}}), full_log(path)) == {}


def test_message_count_extractor_counts_roles():
    path = example_log("arithmetic", "borealis", "specialist")  # the specialist scaffold adds a system message
    roles = [m["role"] for m in raw_sample(path, 2)["messages"]]
    row = run("message_count_extractor", sample(path, 2), full_log(path))
    assert row == {
        "system_messages": roles.count("system"),
        "user_messages": roles.count("user"),
        "assistant_messages": roles.count("assistant"),
        "total_messages": len(roles),
    }
    assert row["system_messages"] == 1
    assistant_only = run(
        "message_count_extractor", sample(path, 2), full_log(path), include_system=False, include_user=False
    )
    assert assistant_only == {"assistant_messages": roles.count("assistant"), "total_messages": len(roles)}


def test_metadata_field_extractor_reads_renames_and_defaults():
    path = example_log("capitals", "aurora", "generalist")
    metadata = raw_sample(path, "cap04")["metadata"]
    s, log = sample(path, "cap04"), full_log(path)
    assert run("metadata_field_extractor", s, log, field_path="difficulty") == {"difficulty": metadata["difficulty"]}
    renamed = run("metadata_field_extractor", s, log, field_path="domain", rename_to="group")
    assert renamed == {"group": metadata["domain"]}
    assert run("metadata_field_extractor", s, log, field_path="challenge.level", default_value="none") == {
        "challenge_level": "none"
    }
    nested = s.model_copy(update={"metadata": {"challenge": {"level": 3, "tag": None}}})
    assert run("metadata_field_extractor", nested, log, field_path="challenge.level") == {"challenge_level": 3}
    none_value = run("metadata_field_extractor", nested, log, field_path="challenge.tag", default_value="x")
    assert none_value == {"challenge_tag": "x"}  # None counts as absent, as in HiBayES


def test_score_normalizer_maps_and_flags_instead_of_silent_zero():
    path = example_log("arithmetic", "aurora", "generalist")
    s, log = sample(path, 1), full_log(path)
    assert run("score_normalizer", with_scores(s, "CORRECT"), log) == {"score": 1.0}
    assert run("score_normalizer", with_scores(s, "INCORRECT"), log) == {"score": 0.0}
    assert run("score_normalizer", with_scores(s, "P"), log) == {"score": 0.5}
    assert run("score_normalizer", with_scores(s, 85), log) == {"score": 0.85}  # a percentage
    assert run("score_normalizer", with_scores(s, 85), log, normalize_to_01=False) == {"score": 85.0}
    assert run("score_normalizer", with_scores(s, "B"), log, custom_mapping={"A": 1.0, "B": 0.25}) == {"score": 0.25}
    assert run("score_normalizer", with_scores(s, "C", 7), log, scorer="s1", score_field="grade") == {"grade": 0.07}
    with pytest.warns(ExtractorWarning, match='"banana" of scorer .s0. is not numeric'):
        assert math.isnan(run("score_normalizer", with_scores(s, "banana"), log)["score"])  # HiBayES gave 0.0
    with pytest.warns(ExtractorWarning, match="above 100"):
        assert run("score_normalizer", with_scores(s, 250), log) == {"score": 2.5}


def test_cyber_extractor_reads_challenge_metadata():
    path = example_log("arithmetic", "aurora", "generalist")
    s, log = sample(path, 1), full_log(path)
    assert run("cyber_extractor", s, log) == {}
    challenge = {
        "max_messages": "30",
        "category": "web",
        "split": "test",
        "description": "find the flag",
        "capabilities": [{"name": "recon", "level": 2}, {"name": "exploit", "level": "high"}, {"name": "no level"}],
    }
    row = run("cyber_extractor", s.model_copy(update={"metadata": {"challenge_metadata": challenge}}), log)
    assert row == {
        "max_messages": 30,
        "full_name": "1",  # the sample id when the metadata has none
        "category": "web",
        "split": "test",
        "description": "find the flag",
        "source": None,  # HiBayES wrote the string "None"
        "recon": "2",
        "exploit": "high",
    }


def test_tools_extractor_lists_plan_tools_or_none():
    path = example_log("arithmetic", "aurora", "generalist")
    log = full_log(path)
    assert raw(path, "header.json")["plan"]["steps"][0]["params"] == {"tool_calls": "loop"}
    assert run("tools_extractor", log.samples[0], log) == {"tools": [None]}
    step = EvalPlanStep(solver="use_tools", params={"tools": [{"type": "tool", "name": "bash"}, {"name": "python"}]})
    with_tools = log.model_copy(update={"plan": log.plan.model_copy(update={"steps": [step, *log.plan.steps]})})
    assert run("tools_extractor", log.samples[0], with_tools) == {"tools": ["bash", "python"]}


def test_summary_reading_extractors_ask_for_full_samples_when_thinning_cut_a_value(tmp_path):
    """A metadata value over 1 kB is replaced in Inspect's sample summary: the extractor must say so
    rather than return the placeholder."""
    log = full_log(example_log("arithmetic", "aurora", "generalist")).model_copy(deep=True)
    log.samples[0].metadata["notes"] = "x" * 2000
    log.samples[0].metadata["challenge_metadata"] = {"category": "web", "description": "y" * 2000}
    written = tmp_path / "thinned.eval"
    write_eval_log(log, str(written))
    header = read_eval_log(str(written), header_only=True)
    summary = next(s for s in read_eval_log_sample_summaries(str(written)) if s.id == log.samples[0].id)
    for name, kwargs in [("metadata_field_extractor", {"field_path": "notes"}), ("cyber_extractor", {})]:
        with pytest.raises(SummaryTooThin):
            run(name, summary, header, **kwargs)
    assert run("metadata_field_extractor", log.samples[0], log, field_path="notes") == {"notes": "x" * 2000}


def test_only_message_count_needs_full_samples():
    needs_full = [n for n in BUILTIN_ARGS if not getattr(EXTRACTORS.builder(n), "reads_summaries", False)]
    assert needs_full == ["message_count_extractor"]


def test_the_builtins_the_warehouse_runs_are_defined_once_on_sample_facts():
    """The loader calls them on Inspect's samples, the warehouse path on facts built from its rows:
    the same function either way."""
    path = example_log("spelling", "draco", "generalist")
    s, log = sample(path, "sp05"), full_log(path)
    arguments = {"metadata_field_extractor": {"field_path": "difficulty"}, "base_extractor": {"scorer": "letter_accuracy"}}
    for name in WAREHOUSE_EXTRACTORS:
        built = EXTRACTORS.build(name, arguments.get(name, {}))
        assert isinstance(built, FactsExtractor), name
        assert built(sample_facts(s, log), log) == built(s, log) == built.columns(sample_facts(s, log)), name
