"""Reading real Inspect logs: the examples, odd score types, bad files, third-party logs."""

import json
from pathlib import Path

import pandas as pd
import pytest

from hibayes.load.copies import ingest_logs
from hibayes.load.inspect_reader import list_log_files, log_key_for, read_log, scan_logs
from hibayes.warehouse import Warehouse
from tests.conftest import example_log_files
from tests.logfactory import (
    ODD_VALUES,
    write_dict_scores_log,
    write_error_log,
    write_json_not_a_log,
    write_not_a_zip,
    write_odd_scores_log,
    write_truncated_copy,
)


@pytest.fixture(scope="module")
def factory_logs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("factory")
    return {"odd": write_odd_scores_log(folder), "error": write_error_log(folder), "dict": write_dict_scores_log(folder)}


def test_example_log_reads_into_rows_for_every_table():
    path = example_log_files()[0]
    rows = read_log(path, path.name)
    assert rows.status == "success"
    assert len(rows.evals) == 1
    assert len(rows.samples) >= 20
    assert len(rows.scores) >= len(rows.samples)  # one row per scorer
    sample = rows.samples.iloc[0]
    assert sample["model"].startswith("mockllm/")
    assert sample["input_tokens"] > 0 and sample["total_time"] is not None
    assert rows.evals.iloc[0]["scaffold"] in {"generalist", "specialist"}
    assert set(rows.scores["scorer_rank"]) >= {0}


def test_odd_score_types_are_kept_typed_and_flagged(factory_logs):
    rows = read_log(factory_logs["odd"], "odd.eval")
    assert rows.status == "success"
    scores = rows.scores.sort_values("sample_id", key=lambda s: s.astype(int))
    assert list(scores["value_type"]) == ["letter", "letter", "letter", "number", "bool", "string", "nan", "dict", "list"]
    values = list(scores["value"])
    assert values[:5] == [1.0, 0.0, 0.5, 0.25, 1.0]
    assert all(v is None or v != v for v in values[5:])  # None/NaN: never a silent zero
    assert json.loads(scores.iloc[7]["raw_value"]) == ODD_VALUES[7]
    # The one value that should have been numeric and is not gets an error row naming it, and the
    # dict value of the first scorer a row for the log saying which key to choose.
    assert list(rows.errors["field"]) == ["score.odd_scorer", "score.odd_scorer"]
    assert "'banana'" in rows.errors.iloc[0]["message"] or '"banana"' in rows.errors.iloc[0]["message"]
    assert rows.errors.iloc[1]["sample_id"] is None and "1 of 9 samples" in rows.errors.iloc[1]["message"]


def test_a_first_scorer_returning_dicts_gets_an_ingest_error_saying_what_to_set(factory_logs, tmp_path):
    """Each sample's `score` is its first scorer's value; a dict is none, so the samples had no
    score and only the analysis metadata's `rows_without_score` said so."""
    path = factory_logs["dict"]
    warehouse = Warehouse(tmp_path / "w.duckdb")
    ingest_logs(warehouse, {path.name: path})
    assert warehouse.query("SELECT count(*) AS n FROM samples WHERE score IS NULL")["n"].item() == 4
    errors = warehouse.query("SELECT log_path, sample_id, epoch, field, message FROM ingest_errors")
    assert len(errors) == 1  # one row for the log, not one per sample
    error = errors.iloc[0]
    assert error["log_path"] == str(path) and error["field"] == "score.graded"
    assert pd.isna(error["sample_id"]) and pd.isna(error["epoch"])  # NULL: the log as a whole
    message = error["message"]
    for words in (path.name, "scorer 'graded'", "4 of 4 samples", "keys accuracy, f1", "no `score`",
                  "base_extractor: {scorer: graded, key: accuracy}", "base_extractor: {scorer: length_ok}"):
        assert words in message, (words, message)


def test_error_status_log_is_recorded_with_its_reason(factory_logs):
    rows = read_log(factory_logs["error"], "error.eval")
    assert rows.status == "error"
    status_errors = rows.errors[rows.errors["field"] == "status"]
    assert len(status_errors) == 1
    assert "status is 'error'" in status_errors.iloc[0]["message"]
    assert "boom on sample 1" in status_errors.iloc[0]["message"]


@pytest.mark.parametrize("make", ["truncated", "not_zip", "json_not_log"])
def test_unreadable_files_give_one_clear_error_row(tmp_path, make):
    target = {
        "truncated": lambda: write_truncated_copy(example_log_files()[0], tmp_path / "truncated.eval"),
        "not_zip": lambda: write_not_a_zip(tmp_path / "garbage.eval"),
        "json_not_log": lambda: write_json_not_a_log(tmp_path / "logs.json"),
    }[make]()
    rows = read_log(target, target.name)
    assert rows.status == "unreadable"
    assert rows.samples.empty and rows.evals.empty
    assert len(rows.errors) == 1
    error = rows.errors.iloc[0]
    assert error["field"] == "file"
    assert error["log_key"] == target.name and target.name in error["message"]


def test_listing_and_keys(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.eval").write_text("x")
    (tmp_path / "b.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.eval").write_text("x")
    assert [log_key_for(p, tmp_path) for p in list_log_files(tmp_path)] == ["b.json", "sub/a.eval"]
    assert set(scan_logs(tmp_path)) == {"b.json", "sub/a.eval"}


def test_third_party_logs_match_their_known_sample_counts(shared_fixtures):
    logs_root = shared_fixtures / "inspect_logs"
    expected = {
        "2025-09-15T15-02-26-04-00_popularity_L8g2GLGDDfsiXvdJ8LyZNJ.eval": (100, 0.52),
        "2025-09-15T15-04-34-04-00_popularity_CuCFPdqnwXupUkxp69nJ2a.eval": (50, 0.60),
        "2025-03-18T14-21-24+00-00_theory-of-mind_8zKwLcZJY872dKXo8GWXad.eval": (30, 0.967),
    }
    for path in list_log_files(logs_root):
        if path.name in expected:
            rows = read_log(path, path.name)
            count, mean = expected.pop(path.name)
            assert len(rows.samples) == count
            assert rows.samples["score"].mean() == pytest.approx(mean, abs=0.001)
    assert not expected, f"fixture logs not found: {list(expected)}"
    cancelled = read_log(logs_root / "inspect_ai/tests/analysis/test_logs/2025-05-12T20-28-13-04-00_popularity.json", "c.json")
    assert cancelled.status == "cancelled" and len(cancelled.samples) == 3


def test_logs_whose_summaries_lack_fields_are_ingested_from_their_full_samples(shared_fixtures):
    """Writers before inspect_ai 0.3.93 left usage out of sample summaries, and 0.3.128 the message
    count: those rows come from the full samples (as the loader reads them), not as NULLs."""
    logs = shared_fixtures / "inspect_logs"
    older = {
        "0.3.74": logs / "cfung89" / "2025-03-18T14-21-24+00-00_theory-of-mind_8zKwLcZJY872dKXo8GWXad.eval",
        "0.3.128": logs / "inspect_ai" / "log-sets" / "set2" / "2025-09-15T15-04-34-04-00_popularity_CuCFPdqnwXupUkxp69nJ2a.eval",
    }
    for writer, path in older.items():
        rows = read_log(path, path.name)
        assert rows.read_from == "full samples", writer
        assert rows.samples["total_tokens"].notna().all() and rows.samples["message_count"].notna().all(), writer
        assert rows.provenance().iloc[0]["read_from"] == "full samples"
    recent = example_log_files()[0]
    assert read_log(recent, recent.name).read_from == "summaries"
