"""`data_loader:` parsing and `load_data` on real Inspect logs, prepared tables and bad inputs."""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import zipfile_zstd  # noqa: F401 - lets zipfile read the zstd members Inspect writes

from hibayes.config import ConfigError, load_analysis
from hibayes.load import DataLoaderConfig, LoadReport, MixedTypesError, load_data, load_data_with_report
from hibayes.load import EXTRACTORS, extractor
from hibayes.load.loader import _worker_count, expand_inputs, settle_types
from hibayes.ui import Display
from hibayes.registry import UnknownComponentError
from tests.conftest import EXAMPLE_LOGS, PROJECT_ROOT, example_log_files
from tests.logfactory import (
    ODD_VALUES,
    write_error_log,
    write_not_a_zip,
    write_odd_scores_log,
    write_truncated_copy,
)

SHARED_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"
SHARED_HIBAYES = SHARED_FIXTURES / "hibayes"
EXAMPLE_LOGS_COUNT = 28  # 24 correct/incorrect logs and 4 judge logs
EXAMPLE_ROWS = 880  # 24 logs x 30 samples + 4 judge logs x 40
EXAMPLE_ERRORED = 3  # draco/specialist/capitals: cap07, cap18, cap26 raise

CUSTOM_EXTRACTORS = '''
from hibayes.load import DataLoaderConfig, Extractor, extractor


@extractor
def domains_extractor(default_domain: str = "other") -> Extractor:
    """Written as in HiBayES's examples: a builder whose kwargs come from the YAML."""

    def extract(sample, eval_log):
        return {"domain": sample.metadata.get("domain", default_domain), "task_family": eval_log.eval.task[:4]}

    return extract
'''


def loader(tmp_path: Path, section: str, name: str = "config.yaml") -> DataLoaderConfig:
    """A DataLoaderConfig read from a real YAML file at tmp_path/name."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(section))
    return DataLoaderConfig.from_yaml(path)


def raw_first_scores(path: Path) -> list[float]:
    """First-scorer values of every non-errored sample, read straight from the zip members."""
    values = []
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.startswith("samples/"):
                sample = json.loads(archive.read(member))
                if sample.get("error"):
                    continue
                value = next(iter(sample["scores"].values()))["value"]
                values.append({"C": 1.0, "I": 0.0}.get(value, value) if isinstance(value, str) else float(value))
    return values


@pytest.fixture(scope="module")
def factory_logs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("factory")
    return {"odd": write_odd_scores_log(folder), "error": write_error_log(folder)}


@pytest.fixture(scope="module")
def example_data() -> tuple[pd.DataFrame, LoadReport]:
    config = DataLoaderConfig.from_dict(
        {
            "paths": {"files_to_process": [str(EXAMPLE_LOGS)]},
            "extractors": {
                "enabled": [
                    "base_extractor",
                    "token_extractor",
                    {"metadata_field_extractor": {"field_path": "difficulty"}},
                ]
            },
        }
    )
    return load_data_with_report(config, workers=1)


# ---------------------------------------------------------------------------------------------
# data_loader: parsing
# ---------------------------------------------------------------------------------------------
def test_config_accepts_the_three_extractor_list_forms(tmp_path):
    names = loader(tmp_path, "extractors: {enabled: [base_extractor, token_extractor]}")
    pairs = loader(tmp_path, "extractors: {enabled: [{metadata_field_extractor: {field_path: a.b}}, tools_extractor]}")
    mapping = loader(
        tmp_path, "extractors: {enabled: {metadata_field_extractor: {field_path: a.b}, cyber_extractor: }}"
    )
    assert names.extractors == (("base_extractor", {}), ("token_extractor", {}))
    assert pairs.extractors == (("metadata_field_extractor", {"field_path": "a.b"}), ("tools_extractor", {}))
    assert mapping.extractors == (("metadata_field_extractor", {"field_path": "a.b"}), ("cyber_extractor", {}))
    default = loader(tmp_path, "paths: {files_to_process: logs/}")
    assert default.extractors == (("base_extractor", {}),) and default.files_to_process == ("logs/",)


def test_config_reads_a_whole_analysis_file_or_the_section_alone(tmp_path):
    whole = loader(tmp_path, "data_loader:\n  paths: {files_to_process: [a.eval]}\nmodel: {models: [x]}", "whole.yaml")
    alone = loader(tmp_path, "paths: {files_to_process: [a.eval]}\ninclude_errored_samples: true\n", "alone.yaml")
    assert whole.files_to_process == alone.files_to_process == ("a.eval",)
    assert alone.include_errored_samples and not whole.include_errored_samples
    assert whole.source == tmp_path / "whole.yaml"


def test_config_from_a_parsed_analysis(tmp_path):
    path = tmp_path / "analysis.yaml"
    path.write_text("data_loader:\n  paths: {files_to_process: logs}\n  extractors: {path: mine.py, enabled: [mine]}\n")
    config = DataLoaderConfig.from_analysis(load_analysis(path))
    assert (config.files_to_process, config.extractor_paths, config.extractors) == (("logs",), ("mine.py",), (("mine", {}),))
    assert config.source == path


@pytest.mark.parametrize(
    "section, bad, suggestion",
    [
        ("extractor: {enabled: [base_extractor]}", "extractor", "extractors"),
        ("paths: {file_to_process: [a.eval]}", "file_to_process", "files_to_process"),
        ("paths: {extracted: [a.csv]}", "extracted", "extracted_data"),
        ("extractors: {enable: [base_extractor]}", "enable", "enabled"),
        ("include_errored_sample: true", "include_errored_sample", "include_errored_samples"),
    ],
)
def test_unknown_keys_are_named_with_a_suggestion_and_the_file(tmp_path, section, bad, suggestion):
    with pytest.raises(ConfigError) as caught:
        loader(tmp_path, section)
    message = str(caught.value)
    assert str(tmp_path / "config.yaml") in message
    assert f"'{bad}' (did you mean '{suggestion}'?)" in message


def test_files_to_process_and_extracted_data_are_exclusive(tmp_path):
    with pytest.raises(ConfigError, match="both 'files_to_process' and 'extracted_data'"):
        loader(tmp_path, "paths: {files_to_process: [a.eval], extracted_data: [a.csv]}")


def test_bad_values_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="include_incomplete_logs' must be true or false"):
        loader(tmp_path, "include_incomplete_logs: 'yes'")
    with pytest.raises(ConfigError, match="files_to_process' must be a path or a list of paths"):
        loader(tmp_path, "paths: {files_to_process: {a: 1}}")
    with pytest.raises(ConfigError, match="neither files_to_process"):
        load_data(loader(tmp_path, "extractors: {enabled: [base_extractor]}"))


def test_unknown_extractor_or_argument_is_named_before_reading(tmp_path):
    logs = f"paths: {{files_to_process: [{EXAMPLE_LOGS}]}}\n"
    with pytest.raises(UnknownComponentError, match="did you mean 'base_extractor'"):
        load_data(loader(tmp_path, logs + "extractors: {enabled: [base_extracter]}"))
    with pytest.raises(TypeError, match="'field' \\(did you mean 'field_path'"):
        load_data(loader(tmp_path, logs + "extractors: {enabled: [{metadata_field_extractor: {field: a}}]}"))


# ---------------------------------------------------------------------------------------------
# Reading logs
# ---------------------------------------------------------------------------------------------
def test_example_logs_load_from_summaries_with_errored_samples_left_out(example_data):
    data, report = example_data
    assert len(data) == EXAMPLE_ROWS - EXAMPLE_ERRORED
    assert (report.logs_read, report.logs_read_in_full) == (EXAMPLE_LOGS_COUNT, 0)
    assert report.errored_samples_excluded == EXAMPLE_ERRORED
    assert report.skipped_logs == [] and report.extractor_problems == {}
    assert list(data.columns[:4]) == ["log", "id", "epoch", "error"]
    assert data["error"].isna().all()
    assert set(data["task"]) == {"arithmetic", "capitals", "spelling", "judge"}
    assert set(data["model"]) == {"aurora", "borealis", "cirrus", "draco"}
    judge = data["task"] == "judge"
    assert set(data.loc[~judge, "difficulty"]) == {"easy", "medium", "hard"}
    assert data.loc[judge, "difficulty"].isna().all()  # the judge's samples have no difficulty
    assert set(data.loc[judge, "score"]) <= set(range(11)) and data.loc[~judge, "score"].between(0, 1).all()
    assert data["score"].dtype == float and data["epoch"].dtype == "int64"
    assert data["cache_read_tokens"].dtype == "int64"
    for path in example_log_files():  # per-log scores equal the first scorer's values in the zip
        rows = data[data["log_path"] == str(path)]
        assert sorted(rows["score"]) == pytest.approx(sorted(raw_first_scores(path)))
    assert data.attrs["load_report"]["rows"] == len(data)


def test_full_samples_are_read_only_when_an_extractor_needs_them(example_data):
    summary_data, _ = example_data
    config = DataLoaderConfig.from_dict(
        {
            "paths": {"files_to_process": [str(EXAMPLE_LOGS)]},
            "extractors": {
                "enabled": [
                    "base_extractor",
                    "token_extractor",
                    {"metadata_field_extractor": {"field_path": "difficulty"}},
                    "message_count_extractor",
                ]
            },
        }
    )
    data, report = load_data_with_report(config, workers=1)
    assert report.logs_read_in_full == EXAMPLE_LOGS_COUNT
    pd.testing.assert_frame_equal(data[summary_data.columns], summary_data)  # same rows, same order
    assert (data["total_messages"] == data["num_messages"]).all()


def test_errored_samples_are_kept_on_request_with_their_error(tmp_path):
    config = loader(tmp_path, f"paths: {{files_to_process: [{EXAMPLE_LOGS}]}}\ninclude_errored_samples: true")
    data, report = load_data_with_report(config, workers=1)
    errored = data[data["error"].notna()]
    assert len(data) == EXAMPLE_ROWS and report.errored_samples_excluded == 0
    assert sorted(errored["sample_id"]) == ["cap07", "cap18", "cap26"]
    assert errored["score"].isna().all() and report.rows_without_score == EXAMPLE_ERRORED
    assert report.extractor_problems == {}  # an errored sample's missing score is not an extractor problem


@pytest.mark.parametrize(
    # two spawned interpreters import inspect_ai: 3-15 s on a busy 2-core machine
    "workers", [1, pytest.param(2, marks=pytest.mark.slow, id="spawned-workers")]
)
def test_custom_extractor_from_a_path_file_written_as_in_hibayes(tmp_path, monkeypatch, workers):
    """The YAML and the custom file sit in files/, as in HiBayES's examples. With two workers, the
    processes are started with spawn (never fork: JAX may be loaded here) and import the custom
    file themselves."""
    start_methods: list[str] = []
    get_context = multiprocessing.get_context
    monkeypatch.setattr(
        multiprocessing, "get_context", lambda method: start_methods.append(method) or get_context(method)
    )
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "custom_extractor.py").write_text(CUSTOM_EXTRACTORS)
    logs = tmp_path / "data"
    logs.mkdir()
    for path in example_log_files()[:2] + example_log_files()[4:5]:
        shutil.copy(path, logs)
    section = """
        data_loader:
          paths: {files_to_process: [../data]}
          extractors:
            path: custom_extractor.py
            enabled: [base_extractor, {domains_extractor: {default_domain: none}}]
    """
    data, report = load_data_with_report(loader(tmp_path, section, "files/config.yaml"), workers=workers)
    base_only = load_data(DataLoaderConfig.from_dict({"paths": {"files_to_process": [str(logs)]}}), workers=1)
    assert report.workers == workers and report.logs_read == 3
    assert start_methods == (["spawn"] if workers > 1 else [])
    pd.testing.assert_frame_equal(data[base_only.columns], base_only)  # same rows, in the inputs' order
    assert data.groupby("task")["domain"].unique().map(list).to_dict() == {
        "arithmetic": ["math"],
        "capitals": ["knowledge"],
    }
    assert set(data["task_family"]) == {"arit", "capi"}


def test_failing_extractors_are_counted_per_extractor_and_rows_kept(tmp_path):
    (tmp_path / "flaky.py").write_text(
        textwrap.dedent(
            """
            from hibayes.load import Extractor, extractor

            @extractor
            def flaky_extractor() -> Extractor:
                def extract(sample, eval_log):
                    if str(sample.id).startswith("cap"):
                        raise KeyError("no such field")
                    return {"flaky": 1}
                return extract

            @extractor
            def not_a_dict_extractor() -> Extractor:
                return lambda sample, eval_log: ["oops"]
            """
        )
    )
    section = f"""
        paths: {{files_to_process: [{example_log_files()[4]}, {example_log_files()[0]}]}}
        extractors: {{path: flaky.py, enabled: [base_extractor, flaky_extractor, not_a_dict_extractor]}}
    """
    data, report = load_data_with_report(loader(tmp_path, section), workers=1)
    assert len(data) == 60  # every row kept
    flaky = report.extractor_problems["flaky_extractor"]
    assert (flaky.failed, flaky.warned) == (30, 0)
    assert "sample cap01 epoch 1: KeyError: 'no such field'" in flaky.examples[0] and len(flaky.examples) == 3
    assert report.extractor_problems["not_a_dict_extractor"].failed == 60
    assert "returned list, expected a dict" in report.extractor_problems["not_a_dict_extractor"].examples[0]
    assert data["flaky"].isna().sum() == 30 and data["score"].notna().all()
    assert any(line.startswith("extractor flaky_extractor failed on 30 samples") for line in report.problems())


def test_odd_score_types_give_nan_and_counted_warnings(factory_logs):
    config = DataLoaderConfig.from_dict({"paths": {"files_to_process": [str(factory_logs["odd"])]}})
    data, report = load_data_with_report(config)
    scores = data.sort_values("sample_id", key=lambda s: s.astype(int))["score"].tolist()
    assert scores[:5] == [1.0, 0.0, 0.5, 0.25, 1.0]  # C, I, P (HiBayES raised here), 0.25, True
    assert all(math.isnan(v) for v in scores[5:])  # banana, NaN, dict, list: never a silent zero
    assert [type(v) for v in ODD_VALUES[5:]] == [str, float, dict, list]
    base = report.extractor_problems["base_extractor"]
    assert (base.failed, base.warned) == (0, 3)  # banana, dict and list; NaN is "unscored"
    assert report.rows_without_score == 4


def test_error_status_log_is_skipped_with_its_reason_or_kept_on_request(factory_logs, tmp_path):
    section = f"paths: {{files_to_process: [{factory_logs['error']}, {example_log_files()[0]}]}}"
    data, report = load_data_with_report(loader(tmp_path, section), workers=1)
    assert report.logs_read == 1 and len(data) == 30
    (skipped,) = report.skipped_logs
    assert skipped.path == str(factory_logs["error"])
    assert "status is 'error'" in skipped.reason and "boom on sample 1" in skipped.reason
    kept = load_data(loader(tmp_path, section + "\ninclude_incomplete_logs: true"), workers=1)
    assert set(kept["task"]) == {"explodes", "arithmetic"} and len(kept) > 30


class RecordingDisplay(Display):
    def __init__(self) -> None:
        super().__init__(logging.getLogger("test.display"))
        self.stats: dict[str, object] = {}

    def update_stat(self, name: str, value: object) -> None:
        self.stats[name] = value


def test_unreadable_logs_are_skipped_with_their_reason_and_shown(tmp_path, caplog):
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(example_log_files()[0], logs)
    write_truncated_copy(example_log_files()[1], logs / "truncated.eval")
    write_not_a_zip(logs / "garbage.eval")
    display = RecordingDisplay()
    config = DataLoaderConfig.from_dict({"paths": {"files_to_process": [str(logs)]}})
    with caplog.at_level(logging.INFO, logger="test.display"):
        data, report = load_data_with_report(config, display=display)
    assert report.logs_read == 1 and len(data) == 30
    reasons = {Path(s.path).name: s.reason for s in report.skipped_logs}
    assert set(reasons) == {"truncated.eval", "garbage.eval"}
    assert all(reason.startswith("not a readable Inspect log (") for reason in reasons.values())
    assert display.stats == {"Samples found": 30, "Logs read": 1, "Logs skipped": 2, "Extractor errors": 0}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(line.startswith("skipped ") and "garbage.eval" in line for line in warned)


def test_a_cut_summary_value_makes_that_log_read_in_full(tmp_path):
    from inspect_ai.log import read_eval_log, write_eval_log

    log = read_eval_log(str(example_log_files()[0]))
    log.samples[3].metadata["difficulty"] = "very " * 300  # over 1 kB: removed from the summary
    write_eval_log(log, str(tmp_path / "long.eval"))
    paths = [str(tmp_path / "long.eval"), str(example_log_files()[1])]
    enabled = ["base_extractor", {"metadata_field_extractor": {"field_path": "difficulty"}}]
    config = DataLoaderConfig.from_dict({"paths": {"files_to_process": paths}, "extractors": {"enabled": enabled}})
    data, report = load_data_with_report(config)
    assert (report.logs_read, report.logs_read_in_full) == (2, 1)
    assert data["difficulty"].iloc[3] == "very " * 300


def test_older_logs_are_read_in_full_where_their_summaries_lack_fields():
    """Summaries gained metadata and model usage in inspect_ai 0.3.93, and a message count later."""
    logs = SHARED_FIXTURES / "inspect_logs"
    paths = [
        logs / "cfung89" / "2025-03-18T14-21-24+00-00_theory-of-mind_8zKwLcZJY872dKXo8GWXad.eval",  # 0.3.74
        logs / "inspect_ai" / "tests" / "scorer" / "logs",  # two 0.3.58 logs
        logs / "inspect_ai" / "log-sets" / "set2",  # three 0.3.128 logs: summaries without message_count
    ]
    if not all(path.exists() for path in paths):
        pytest.skip(f"third-party Inspect logs not found under {logs} (the ../shared folder is absent)")
    def config(*enabled: str) -> DataLoaderConfig:
        return DataLoaderConfig.from_dict(
            {"paths": {"files_to_process": [str(p) for p in paths]}, "extractors": {"enabled": list(enabled)}}
        )

    data, report = load_data_with_report(config("base_extractor", "token_extractor"), workers=1)
    full = load_data(config("base_extractor", "token_extractor", "message_count_extractor"), workers=1)
    assert report.logs_read == report.logs_read_in_full == 6
    pd.testing.assert_frame_equal(data, full[data.columns])
    assert data["num_messages"].notna().all()


def test_extractors_defined_in_main_are_run_in_this_process(tmp_path):
    def interactive_extractor():
        return lambda sample, eval_log: {"interactive": True}

    interactive_extractor.__module__ = "__main__"  # as if typed in a notebook
    extractor(interactive_extractor)
    try:
        paths = [str(p) for p in example_log_files()[:2]]
        config = DataLoaderConfig.from_dict(
            {"paths": {"files_to_process": paths}, "extractors": {"enabled": ["interactive_extractor"]}}
        )
        data, report = load_data_with_report(config, workers=2)
    finally:
        EXTRACTORS._builders.pop("interactive_extractor")
    assert report.workers == 1 and data["interactive"].all()
    assert report.notes == [
        "read the logs in this process only: extractor 'interactive_extractor' is defined in __main__, "
        "which a new process cannot import"
    ]


def test_mixed_types_are_an_error_naming_the_column_and_types(tmp_path):
    (tmp_path / "mixed.py").write_text(
        textwrap.dedent(
            """
            from hibayes.load import Extractor, extractor

            @extractor
            def level_extractor() -> Extractor:
                def extract(sample, eval_log):
                    return {"level": 3 if isinstance(sample.id, int) else "three", "weight": sample.epoch}
                return extract
            """
        )
    )
    section = f"""
        paths: {{files_to_process: [{example_log_files()[0]}, {example_log_files()[4]}]}}
        extractors: {{path: mixed.py, enabled: [level_extractor]}}
    """
    with pytest.raises(MixedTypesError, match=r"'level' mixes int \(e.g. 3\), str \(e.g. 'three'\)"):
        load_data(loader(tmp_path, section), workers=1)


def test_ints_mixed_with_floats_become_floats_and_other_mixes_are_all_named():
    frame = pd.DataFrame({"n": [1, 2.5, None], "ok": ["a", None, "b"]}, dtype=object)
    settled = settle_types(frame)
    assert settled["n"].dtype == float and settled["ok"].dtype == object
    with pytest.raises(MixedTypesError) as caught:
        settle_types(pd.DataFrame({"a": [True, 1], "b": [[1], "x"], "c": [1, 2]}, dtype=object))
    assert "'a' mixes bool (e.g. True), int (e.g. 1)" in str(caught.value)
    assert "'b' mixes list (e.g. [1]), str (e.g. 'x')" in str(caught.value)
    assert "'c'" not in str(caught.value)


def test_loaded_data_writes_to_parquet_with_every_builtin(tmp_path):
    enabled = [
        "base_extractor",
        "token_extractor",
        "tools_extractor",
        "message_count_extractor",
        "cyber_extractor",
        "score_normalizer",
        {"metadata_field_extractor": {"field_path": "domain"}},
    ]
    paths = [str(p) for p in example_log_files()[::6]]  # four 30-sample logs and a 40-sample judge log
    config = DataLoaderConfig.from_dict({"paths": {"files_to_process": paths}, "extractors": {"enabled": enabled}})
    data = load_data(config)
    data.to_parquet(tmp_path / "data.parquet", index=False)
    back = pd.read_parquet(tmp_path / "data.parquet")
    assert back.shape == data.shape == (160, 25)  # 4 identity + 10 base + 5 token + 1 tools + 4 message + 1 metadata
    assert list(back["tools"].iloc[0]) == [None]
    assert back.attrs["load_report"]["logs_read"] == 5


# ---------------------------------------------------------------------------------------------
# Inputs: folders, manifests, the path rule, remote URLs
# ---------------------------------------------------------------------------------------------
def test_manifests_and_folders_expand_in_order_without_duplicates(tmp_path):
    logs = tmp_path / "logs"
    shutil.copytree(EXAMPLE_LOGS, logs)
    first, second, third = sorted(logs.glob("*.eval"))[:3]
    lists = tmp_path / "lists"
    lists.mkdir()
    # lines are tried against the manifest's folder first, then the working directory
    (lists / "some.txt").write_text(f"../logs/{second.name}\n\n../logs/{first.name}\n{second}\n")
    config_dir = tmp_path
    expanded = expand_inputs(["lists/some.txt", f"logs/{third.name}", "logs", "lists/some.txt"], config_dir)
    assert expanded[:3] == [str(second), str(first), str(third)]
    assert len(expanded) == EXAMPLE_LOGS_COUNT and len(set(expanded)) == EXAMPLE_LOGS_COUNT
    assert expanded[3:] == [str(p) for p in sorted(logs.glob("*.eval")) if p not in (first, second, third)]


def test_relative_paths_try_the_yaml_folder_then_the_working_directory(tmp_path, monkeypatch):
    yaml_dir, cwd = tmp_path / "analysis", tmp_path / "work"
    (yaml_dir / "logs").mkdir(parents=True)
    (cwd / "logs").mkdir(parents=True)
    shutil.copy(example_log_files()[0], yaml_dir / "logs")
    shutil.copy(example_log_files()[1], cwd / "logs")
    shutil.copy(example_log_files()[2], cwd / "only_here.eval")
    monkeypatch.chdir(cwd)
    assert expand_inputs(["logs"], yaml_dir) == [str(yaml_dir / "logs" / example_log_files()[0].name)]
    assert expand_inputs(["only_here.eval"], yaml_dir) == [str(cwd / "only_here.eval")]
    with pytest.raises(FileNotFoundError) as caught:
        expand_inputs(["missing.eval"], yaml_dir)
    assert f"tried {yaml_dir / 'missing.eval'} and {cwd / 'missing.eval'}" in str(caught.value)


def test_input_mistakes_are_explained(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "table.csv").write_text("a\n1\n")
    (tmp_path / "nested.txt").write_text("other.txt\n")
    (tmp_path / "other.txt").write_text("")
    with pytest.raises(ConfigError, match="holds no .eval or .json logs"):
        expand_inputs(["empty"], tmp_path)
    with pytest.raises(ConfigError, match="not an Inspect log .* goes under extracted_data"):
        expand_inputs(["table.csv"], tmp_path)
    with pytest.raises(ConfigError, match="cannot list another manifest"):
        expand_inputs(["nested.txt"], tmp_path)
    with pytest.raises(FileNotFoundError, match="line 1 of .*missing.txt"):
        (tmp_path / "missing.txt").write_text("nowhere.eval\n")
        expand_inputs(["missing.txt"], tmp_path)


def test_small_sets_of_logs_are_read_in_this_process_unless_workers_are_asked_for(monkeypatch):
    paths = [str(p) for p in example_log_files()]  # 1.9 MB: a pool would only add start-up time
    assert _worker_count(paths, None, full_samples=True) == 1
    assert _worker_count(paths, 3, full_samples=False) == 3
    assert _worker_count(paths[:1], 4, full_samples=True) == 1
    monkeypatch.setattr("hibayes.load.loader.PARALLEL_MIN_BYTES_FULL", 1)
    assert _worker_count(paths, None, full_samples=True) == min(EXAMPLE_LOGS_COUNT, os.cpu_count() or 1, 8)
    assert _worker_count(paths, None, full_samples=False) == 1


def test_remote_log_urls_go_to_inspect_unchanged():
    assert expand_inputs(["s3://bucket/run/2025-01-01T00-00-00_task_x.eval"], None) == [
        "s3://bucket/run/2025-01-01T00-00-00_task_x.eval"
    ]


# ---------------------------------------------------------------------------------------------
# extracted_data and cache_path
# ---------------------------------------------------------------------------------------------
TABLE = pd.DataFrame({"score": [7, 5, 9], "grader": ["Human", "LLM", "Human"], "LLM": ["LLM A", "LLM B", "LLM A"]})


@pytest.mark.parametrize("name", ["data.csv", "data.parquet", "records.json", "lines.json", "data.jsonl"])
def test_extracted_data_in_each_format(tmp_path, name):
    path = tmp_path / name
    {
        "data.csv": lambda: TABLE.to_csv(path, index=False),
        "data.parquet": lambda: TABLE.to_parquet(path, index=False),
        "records.json": lambda: TABLE.to_json(path, orient="records"),
        "lines.json": lambda: TABLE.to_json(path, orient="records", lines=True),
        "data.jsonl": lambda: TABLE.to_json(path, orient="records", lines=True),
    }[name]()
    data, report = load_data_with_report(loader(tmp_path, f"paths: {{extracted_data: [{name}, {name}]}}"))
    pd.testing.assert_frame_equal(data, pd.concat([TABLE, TABLE], ignore_index=True), check_dtype=False)
    assert report.source == "extracted_data" and report.inputs == [str(path), str(path)]
    assert report.notes == []


def test_extracted_data_ignores_extractors_and_says_so(tmp_path):
    TABLE.to_csv(tmp_path / "data.csv", index=False)
    section = "paths: {extracted_data: data.csv}\nextractors: {enabled: [token_extractor]}"
    _, report = load_data_with_report(loader(tmp_path, section))
    assert report.notes == ["extractors are not applied to extracted_data: the table is used as it is"]
    (tmp_path / "data.xlsx").write_text("")
    with pytest.raises(ConfigError, match="unsupported format '.xlsx'; supported: .csv, .parquet, .json, .jsonl"):
        load_data(loader(tmp_path, "paths: {extracted_data: data.xlsx}"))
    with pytest.raises(FileNotFoundError, match="extracted_data file 'nope.csv' not found; tried"):
        load_data(loader(tmp_path, "paths: {extracted_data: nope.csv}"))


def test_hibayes_q1_example_config_runs_unchanged_from_its_folder(monkeypatch):
    """DVC runs `hibayes-load --config files/config.yaml` in the q1 folder: `data/data.csv` is
    relative to the working directory, not to files/."""
    q1 = SHARED_HIBAYES / "examples" / "llm-as-a-judge-usecases" / "q1"
    if not q1.is_dir():
        pytest.skip(f"HiBayES example fixtures not found at {q1} (the ../shared folder is absent)")
    monkeypatch.chdir(q1)
    config = DataLoaderConfig.from_yaml(q1 / "files" / "config.yaml")
    data, report = load_data_with_report(config)
    assert [Path(p).resolve() for p in report.inputs] == [(q1 / "data" / "data.csv").resolve()]
    assert list(data.columns) == ["score", "grader", "LLM"] and len(data) == 182
    assert data["score"].between(0, 10).all()


def test_hibayes_minimal_test_log_loads():
    log = SHARED_HIBAYES / "tests" / "fixtures" / "minimal_test.eval"
    if not log.is_file():
        pytest.skip(f"HiBayES test log not found at {log} (the ../shared folder is absent)")
    data, report = load_data_with_report(DataLoaderConfig.from_dict({"paths": {"files_to_process": [str(log)]}}))
    assert report.logs_read == 1 and len(data) == 2
    assert data["model_raw"].str.startswith("mockllm/").all() and data["score"].notna().all()


def test_cache_path_is_returned_when_it_exists_and_the_report_says_so(tmp_path):
    TABLE.to_json(tmp_path / "cache.jsonl", orient="records", lines=True)
    section = f"paths: {{files_to_process: [{example_log_files()[0]}], cache_path: cache.jsonl}}"
    data, report = load_data_with_report(loader(tmp_path, section))
    pd.testing.assert_frame_equal(data, TABLE)
    assert report.source == "cache" and "files_to_process and the extractors were not used" in report.notes[0]
    (tmp_path / "cache.jsonl").unlink()
    data, report = load_data_with_report(loader(tmp_path, section))
    assert report.source == "logs" and len(data) == 30
    assert "does not exist, so the logs were read" in report.notes[0]
    assert not (tmp_path / "cache.jsonl").exists()  # HiBayES never writes it, nor do we


def test_importing_hibayes_load_pulls_in_neither_jax_nor_inspect():
    code = "import sys, hibayes.load; print(sorted(m for m in ('jax', 'inspect_ai') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    assert result.stdout.strip() == "[]"
