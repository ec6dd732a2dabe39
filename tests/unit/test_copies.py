"""The same run in two files counts once: in the warehouse (and so in HAL, IRT and the analyses that
read it) and in HiBayES's loader. Real logs written by inspect_ai: the bundled examples, byte-for-byte
copies of them, and re-saves with the same or a new eval_id."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import shortuuid
from inspect_ai.log import read_eval_log, write_eval_log

from hibayes.cli import main
from hibayes.config import parse_analysis
from hibayes.hal import load_prices, run_metrics_from_samples
from hibayes.load import DataLoaderConfig, load_data_with_report
from hibayes.load.copies import ingest_logs
from hibayes.load.inspect_reader import list_log_files, log_key_for
from hibayes.load.manifest import LogEntry, warehouse_version
from hibayes.load.warehouse_extract import extract_analysis_data
from hibayes.warehouse import Warehouse
from tests.conftest import PROJECT_ROOT, example_log_files

SAMPLE_KEY = ["eval_id", "sample_id", "epoch"]


def ingest_folder(warehouse: Warehouse, folder: Path) -> None:
    ingest_logs(warehouse, {log_key_for(path, folder): path for path in list_log_files(folder)})


def judge_log() -> Path:
    """A judge log: 40 samples, each with usage that HAL prices."""
    return next(path for path in example_log_files() if "_judge_" in path.name)


@pytest.fixture
def original_and_copy(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "logs"
    folder.mkdir()
    original = shutil.copy(judge_log(), folder / "a_original.eval")
    copy = shutil.copy(judge_log(), folder / "b_synced_copy.eval")
    return Path(original), Path(copy)


def test_a_byte_identical_copy_adds_no_rows_and_is_recorded_with_both_files(tmp_path, original_and_copy):
    original, copy = original_and_copy
    warehouse = Warehouse(tmp_path / "w.duckdb")
    ingest_folder(warehouse, original.parent)

    samples = warehouse.table("samples")
    assert len(samples) == len(read_eval_log(str(judge_log())).samples) == 40
    assert not samples.duplicated(SAMPLE_KEY).any()
    assert list(warehouse.table("evals")["log_key"]) == [original.name]  # the first in key order
    assert set(warehouse.table("scores")["log_key"]) == {original.name}

    files = warehouse.query("SELECT log_key, used_log_key FROM log_files ORDER BY log_key")
    assert files.values.tolist() == [[original.name, original.name], [copy.name, original.name]]
    (duplicate,) = warehouse.query("SELECT * FROM ingest_errors WHERE field = 'duplicate'").itertuples()
    assert duplicate.log_key == copy.name
    assert str(copy) in duplicate.message and str(original) in duplicate.message

    # Ingesting either file again changes nothing: the first file ingested keeps the run.
    before = warehouse.count_rows()
    for path in (copy, original):
        ingest_logs(warehouse, {path.name: path})
        assert warehouse.count_rows() == before
    assert list(warehouse.table("evals")["log_key"]) == [original.name]


def test_every_reader_of_the_warehouse_counts_the_run_once(tmp_path, original_and_copy):
    original, _ = original_and_copy
    alone = Warehouse(tmp_path / "alone.duckdb")
    ingest_logs(alone, {original.name: original})
    with_copy = Warehouse(tmp_path / "with_copy.duckdb")
    ingest_folder(with_copy, original.parent)

    prices = load_prices(PROJECT_ROOT / "examples" / "prices.yaml")
    costs = [
        run_metrics_from_samples(w.table("samples"), prices, evals=w.table("evals"))[0]["total_cost"].sum()
        for w in (alone, with_copy)
    ]
    assert costs[0] > 0 and costs[1] == pytest.approx(costs[0])  # HAL's run_metrics

    config = parse_analysis({"data_loader": {"extractors": {"enabled": ["base_extractor"]}}}, name="copies")
    frames = [extract_analysis_data(w, config)[0] for w in (alone, with_copy)]
    assert len(frames[1]) == len(frames[0]) > 0  # analysis_data's warehouse path


def test_the_loader_reads_a_folder_with_a_copy_once_and_names_both_files(tmp_path, original_and_copy):
    original, copy = original_and_copy
    config = DataLoaderConfig.from_dict({"paths": {"files_to_process": [str(original.parent)]}})
    data, report = load_data_with_report(config, workers=1)
    assert len(data) == len(data.drop_duplicates(["id", "epoch"])) > 0
    assert set(data["log"]) == {str(original)}
    (skipped,) = report.skipped_logs
    assert skipped.path == str(copy) and str(original) in skipped.reason and "same run" in skipped.reason

    # The CLI's load stage, which reads the config's folder directly.
    analysis = tmp_path / "analysis.yaml"
    analysis.write_text(f"data_loader: {{paths: {{files_to_process: [{original.parent}]}}}}\n")
    assert main(["load", "--config", str(analysis), "--out", str(tmp_path / "state")], prog="hibayes") == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "state" / "data.parquet"), data)


def test_the_same_run_saved_again_in_another_format_is_a_copy_but_a_new_run_is_not(tmp_path):
    """A re-save keeps the eval_id (other bytes: found by eval_id); a new eval_id is another run of
    the same task and model, and counts."""
    folder = tmp_path / "logs"
    folder.mkdir()
    log = read_eval_log(str(judge_log()))
    write_eval_log(log, str(folder / "a.eval"))
    write_eval_log(log, str(folder / "b_resaved.json"))
    log.eval.eval_id = shortuuid.uuid()
    write_eval_log(log, str(folder / "c_new_run.eval"))

    warehouse = Warehouse(tmp_path / "w.duckdb")
    ingest_folder(warehouse, folder)
    assert sorted(warehouse.table("evals")["log_key"]) == ["a.eval", "c_new_run.eval"]
    assert len(warehouse.table("samples")) == 2 * len(log.samples)
    assert list(warehouse.query("SELECT log_key FROM ingest_errors WHERE field = 'duplicate'")["log_key"]) == ["b_resaved.json"]

    data, report = load_data_with_report(DataLoaderConfig.from_dict({"paths": {"files_to_process": [str(folder)]}}))
    assert len(data) == 2 * len(log.samples) - sum(bool(s.error) for s in log.samples) * 2
    assert [Path(s.path).name for s in report.skipped_logs] == ["b_resaved.json"]


def test_a_copy_counts_again_once_the_kept_file_no_longer_holds_the_run(tmp_path, original_and_copy):
    """What deleting the kept file needs: its rows go (here: it now holds another run), the copy is
    named as orphaned, and ingesting the copy again makes it count."""
    original, copy = original_and_copy
    warehouse = Warehouse(tmp_path / "w.duckdb")
    ingest_folder(warehouse, original.parent)
    assert warehouse.orphaned_copies() == []

    shutil.copy(example_log_files()[0], original)  # the kept file's name now holds another run
    ingest_logs(warehouse, {original.name: original})
    assert warehouse.orphaned_copies() == [copy.name]

    ingest_logs(warehouse, {copy.name: copy})
    assert warehouse.orphaned_copies() == []
    assert sorted(warehouse.table("evals")["log_key"]) == [original.name, copy.name]
    assert warehouse.query("SELECT count(*) AS n FROM ingest_errors WHERE field = 'duplicate'")["n"].item() == 0


def test_copies_leave_the_warehouse_version_unchanged():
    kept = {"a.eval": LogEntry("1:10", "aaa", "success")}
    with_copy = {**kept, "b.eval": LogEntry("1:10", "aaa", "success", copy_of="a.eval")}
    assert warehouse_version(with_copy) == warehouse_version(kept)
