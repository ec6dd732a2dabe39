"""One config, one frame: HiBayES's loader (reading the logs, as the CLI does) and the warehouse path
(reading the ingested tables, as the `analysis_data` asset does) give identical frames: columns,
dtypes and values, row for row once both are sorted. Over the bundled example logs, a log written
by inspect_ai with null metadata values, a log whose first scorer returns dicts, and the third-party logs in ../shared/fixtures (older
writers whose summaries lack fields, a cancelled log, files that are not logs, and the same run
saved as both .eval and .json)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import shortuuid
from inspect_ai.log import read_eval_log, write_eval_log

from hibayes.config import parse_analysis
from hibayes.load import DataLoaderConfig, load_data, load_data_with_report
from hibayes.load.copies import ingest_logs
from hibayes.load.inspect_reader import list_log_files, log_key_for
from hibayes.load.warehouse_extract import extract_analysis_data
from hibayes.warehouse import Warehouse
from tests.conftest import EXAMPLE_LOGS, SHARED_FIXTURES, example_log_files
from tests.logfactory import write_dict_scores_log

ROW_KEY = ["log", "id", "epoch"]
CHALLENGE = {"category": "web", "max_messages": "12", "capabilities": [{"name": "recon", "level": 2}]}


def configs(scorer: str) -> dict[str, dict]:
    """Loader sections to compare; `scorer` is one that some (not all) of the source's logs have."""
    return {
        "default": {},
        "chosen scorer and tokens": {
            "extractors": {"enabled": [{"base_extractor": {"scorer": scorer}}, "token_extractor"]},
        },
        "metadata fields, null values and defaults": {
            "extractors": {"enabled": [
                "base_extractor",
                {"metadata_field_extractor": {"field_path": "difficulty", "default_value": "unknown"}},
                {"metadata_field_extractor": {"field_path": "reviewer", "default_value": "nobody", "rename_to": "who"}},
                {"metadata_field_extractor": {"field_path": "nested.foo"}},
                {"metadata_field_extractor": {"field_path": "label_confidence", "default_value": -1.0}},
            ]},
        },
        "normalised scores, cyber metadata, every sample and log kept": {
            "extractors": {"enabled": [
                {"score_normalizer": {"scorer": scorer, "custom_mapping": {"C": 0.9}, "score_field": "graded"}},
                "cyber_extractor",
                "token_extractor",
            ]},
            "include_errored_samples": True,
            "include_incomplete_logs": True,
        },
        # The dict-scores log's first scorer, `graded`, returns {"accuracy": letter, "f1": number}.
        "keys of dict scores": {
            "extractors": {"enabled": [
                {"base_extractor": {"key": "accuracy"}},
                {"score_normalizer": {"scorer": "graded", "key": "f1", "score_field": "f1"}},
            ]},
        },
    }


@pytest.fixture(scope="module")
def null_metadata_logs(tmp_path_factory) -> Path:
    """An example spelling log (two scorers) saved again by inspect_ai as a new run, with metadata
    keys present as null, a null difficulty, cyber challenge metadata on some samples, and one
    reviewer note that Inspect cuts from the sample summary (so both paths read the log in full)."""
    folder = tmp_path_factory.mktemp("null_metadata")
    log = read_eval_log(str(next(p for p in example_log_files() if "_spelling_" in p.name)))
    log.eval.eval_id = shortuuid.uuid()
    for number, sample in enumerate(log.samples):
        sample.metadata["reviewer"] = None if number % 2 else "ann"
        if number % 3 == 0:
            sample.metadata["difficulty"] = None
            sample.metadata["challenge_metadata"] = CHALLENGE
    log.samples[4].metadata["reviewer"] = "a  long\nnote " * 200
    write_eval_log(log, str(folder / "2026-01-01T00-00-00-00-00_spelling_nulls.eval"))
    return folder


@pytest.fixture(scope="module")
def dict_scores_logs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dict_scores")
    write_dict_scores_log(folder)
    return folder


@pytest.fixture(scope="module")
def sources(null_metadata_logs, dict_scores_logs, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Each source folder (resolved, as the loader resolves it) and a scorer to choose in it."""
    found = {
        "examples": (EXAMPLE_LOGS, "letter_accuracy"),
        "null metadata": (null_metadata_logs, "letter_accuracy"),
        "dict scores": (dict_scores_logs, "length_ok"),
    }
    third_party = SHARED_FIXTURES / "inspect_logs"
    if third_party.is_dir():
        found["third party"] = (third_party, "match")
    return {name: (folder.resolve(), scorer) for name, (folder, scorer) in found.items()}


@pytest.fixture(scope="module")
def warehouses(sources, tmp_path_factory) -> dict[str, Warehouse]:
    """Each source ingested as the `eval_samples` asset ingests a folder: one batch."""
    built = {}
    for name, (folder, _) in sources.items():
        warehouse = Warehouse(tmp_path_factory.mktemp("warehouse") / "w.duckdb")
        ingest_logs(warehouse, {log_key_for(path, folder): path for path in list_log_files(folder)})
        built[name] = warehouse
    return built


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values(ROW_KEY, kind="stable").reset_index(drop=True)
    frame.attrs = {}
    return frame


@pytest.mark.parametrize("source", ["examples", "null metadata", "dict scores", "third party"])
@pytest.mark.parametrize("config_name", list(configs("x")))
def test_the_loader_and_the_warehouse_give_the_same_frame(sources, warehouses, source, config_name):
    if source not in sources:
        pytest.skip("third-party Inspect logs not found at ../shared/fixtures/inspect_logs (the ../shared folder is absent)")
    folder, scorer = sources[source]
    section = configs(scorer)[config_name]
    from_logs = load_data(DataLoaderConfig.from_dict({**section, "paths": {"files_to_process": [str(folder)]}}), workers=1)
    from_warehouse, _ = extract_analysis_data(warehouses[source], parse_analysis({"data_loader": section}, name="parity"))
    assert len(from_logs) > 0
    pd.testing.assert_frame_equal(sorted_frame(from_warehouse), sorted_frame(from_logs), check_exact=True)


@pytest.mark.parametrize("source", ["examples", "third party"])
@pytest.mark.parametrize("config_name", list(configs("x")))
def test_reading_the_warehouse_in_batches_of_logs_gives_the_same_frame_and_report(sources, warehouses, source, config_name):
    """A batch of one log (each log's facts read and dropped on their own) against one batch of all."""
    if source not in sources:
        pytest.skip("third-party Inspect logs not found at ../shared/fixtures/inspect_logs (the ../shared folder is absent)")
    _, scorer = sources[source]
    config = parse_analysis({"data_loader": configs(scorer)[config_name]}, name="parity")
    whole, whole_report = extract_analysis_data(warehouses[source], config, batch_logs=10_000)
    batched, batched_report = extract_analysis_data(warehouses[source], config, batch_logs=1)
    assert whole_report.logs > 1 and len(whole) > 0
    pd.testing.assert_frame_equal(batched, whole, check_exact=True)  # row order included
    assert batched_report == whole_report


def test_the_null_metadata_log_exercises_what_it_should(sources, warehouses):
    """The frames compared above hold a chosen scorer, null values replaced by defaults, and a value
    cut from the summaries that both paths read from the full samples: the parity is not vacuous."""
    folder, scorer = sources["null metadata"]
    section = configs(scorer)["metadata fields, null values and defaults"]
    data, report = load_data_with_report(
        DataLoaderConfig.from_dict({**section, "paths": {"files_to_process": [str(folder)]}}), workers=1
    )
    assert {"ann", "nobody", "a  long\nnote " * 200} == set(data["who"]) and "unknown" in set(data["difficulty"])
    assert report.logs_read_in_full == 1
    _, extracted = extract_analysis_data(warehouses["null metadata"], parse_analysis({"data_loader": section}, name="p"))
    assert extracted.logs_read_in_full == 1
    chosen = configs(scorer)["chosen scorer and tokens"]
    scores = load_data(DataLoaderConfig.from_dict({**chosen, "paths": {"files_to_process": [str(folder)]}}), workers=1)
    assert not scores["score"].isin([0.0, 1.0]).all()  # letter_accuracy, not the first scorer's C/I


def test_the_dict_scores_log_is_read_through_the_chosen_keys(sources, warehouses):
    """The frames compared above hold the keys' values: the parity of the key option is not vacuous."""
    section = configs("length_ok")["keys of dict scores"]
    data, _ = extract_analysis_data(warehouses["dict scores"], parse_analysis({"data_loader": section}, name="p"))
    data = data.sort_values("sample_id")
    assert data["score"].tolist() == [1.0, 0.0, 1.0, 0.5]  # accuracy C, I, C, P
    assert data["f1"].tolist()[:3] == [0.5, 0.25, 1.0] and pd.isna(data["f1"].iloc[3])  # None: unscored
