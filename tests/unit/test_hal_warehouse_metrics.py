"""Run metrics summed in the warehouse (SQL) equal the pandas path on the same rows.

The warehouse holds real Inspect logs ingested the project's way (a run with samples that failed
before any model call, so without usage; a judge rated 0-10; several scorers; a second file
holding the same run, which ingest sets aside), and one hand-made log with what the logs lack:
epochs, a sample and epoch twice, samples without an id, NULL has_error beside an error text, no
scaffold, negative token counts and times, a row without a model, and a log that did not finish.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hibayes.hal import load_prices, prices_from_mapping, run_metrics_from_samples
from hibayes.hal.warehouse_metrics import run_metrics_from_warehouse
from hibayes.load.copies import ingest_logs
from hibayes.warehouse import Warehouse
from tests.conftest import PROJECT_ROOT, example_log_files

EXAMPLE_PRICES = load_prices(PROJECT_ROOT / "examples" / "prices.yaml")
PRICES = pd.concat([EXAMPLE_PRICES, prices_from_mapping(
    {"models": {"p/m1": {"input": 2.0, "output": 10.0, "cache_read": 0.2, "cache_write": 2.5}}})], ignore_index=True)


def _sample(log_key: str, sample_id: str | None, **values) -> dict:
    row = dict(log_key=log_key, eval_id=f"eval-{log_key}", sample_uuid=None, sample_id=sample_id, epoch=1,
               model="p/m1", task="hand", dataset="hand", scaffold="generalist", input_tokens=100, output_tokens=10,
               total_tokens=110, cache_read_tokens=None, cache_write_tokens=None, total_cost=None, total_time=2.0,
               working_time=1.0, error=None, has_error=False, score=1.0, metadata="{}")
    row.update(values)
    return row


def _hand_made_logs() -> dict[str, dict[str, pd.DataFrame]]:
    """Two logs: ``hand.eval`` (finished) and ``hand_cancelled.eval`` (status cancelled)."""
    finished = [
        _sample("hand.eval", "a", epoch=1, score=1.0, cache_read_tokens=50, working_time=3.0),
        _sample("hand.eval", "a", epoch=2, score=0.0, working_time=5.0),
        _sample("hand.eval", "b", score=0.5, total_cost=0.25),
        _sample("hand.eval", "b", score=1.0, total_cost=0.5),  # the same sample and epoch twice
        _sample("hand.eval", None, sample_uuid="u1", score=0.0),
        _sample("hand.eval", None, score=1.0, working_time=None),  # no id at all: a sample of its own
        _sample("hand.eval", None, score=0.0, working_time=-1.0),
        _sample("hand.eval", "c", score=None, has_error=None, error="boom", input_tokens=None, output_tokens=None),
        _sample("hand.eval", "d", score=None),
        _sample("hand.eval", "e", scaffold=None, score=1.0),
        _sample("hand.eval", "f", task="hand_corrupt", input_tokens=-5, score=0.0),
        _sample("hand.eval", "g", model=None),
        _sample("hand.eval", "h", model="p/unpriced", output_tokens=0, input_tokens=0),
    ]
    cancelled = [_sample("hand_cancelled.eval", s, score=0.0) for s in ("a", "x", "y")]
    scores = [dict(log_key="hand.eval", sample_id="a", epoch=1, scorer=scorer, scorer_rank=rank, value=value)
              for rank, (scorer, value) in enumerate((("first", 1.0), ("second", 0.0)))]

    def evals(key: str, status: str) -> pd.DataFrame:
        return pd.DataFrame([dict(log_key=key, eval_id=f"eval-{key}", task="hand", model="p/m1",
                                  scaffold="generalist", status=status)])

    return {
        "hand.eval": {"evals": evals("hand.eval", "success"), "samples": pd.DataFrame(finished),
                      "scores": pd.DataFrame(scores)},
        "hand_cancelled.eval": {"evals": evals("hand_cancelled.eval", "cancelled"),
                                "samples": pd.DataFrame(cancelled)},
    }


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    folder = tmp_path_factory.mktemp("logs")
    picked = [p for p in example_log_files() if "_capitals_" in p.name][:2] + \
        [p for p in example_log_files() if "_judge_" in p.name][:1]
    paths = {p.name: shutil.copy(p, folder / p.name) for p in picked}
    paths["zz_copy.eval"] = shutil.copy(picked[0], folder / "zz_copy.eval")  # the same run again
    store = Warehouse(tmp_path_factory.mktemp("home") / "warehouse.duckdb")
    ingest_logs(store, {key: Path(path) for key, path in paths.items()})
    for key, frames in _hand_made_logs().items():  # one log a call: pandas warns on concatenating all-NULL columns
        store.replace_logs({key: frames})
    return store


SETTINGS = {
    "default": {},
    "errors_and_unfinished_kept": {"exclude_errors": False, "include_incomplete_logs": True},
    "total_time": {"latency_field": "total_time"},
}


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=list(SETTINGS))
def test_the_warehouse_sums_give_the_pandas_answer(warehouse, settings):
    runs, errors = run_metrics_from_warehouse(warehouse, PRICES, **settings)
    expected_runs, expected_errors = run_metrics_from_samples(
        warehouse.table("samples"), PRICES, evals=warehouse.table("evals"), **settings)
    pd.testing.assert_frame_equal(errors, expected_errors)
    pd.testing.assert_frame_equal(runs, expected_runs, check_exact=False, rtol=1e-12, atol=0)
    assert len(runs) >= 6 and errors["severity"].eq("error").any()


def test_known_answers_of_the_hand_made_run(warehouse):
    runs, errors = run_metrics_from_warehouse(warehouse, PRICES)
    hand = runs.set_index(["benchmark", "model", "scaffold"]).loc[("hand", "p/m1", "generalist")]
    # a: mean(1, 0); b: mean(0.5, 1); u1: 0; two id-less rows: 1 and 0; c errored, d unscored.
    assert (hand.n_sample_epochs, hand.n_samples, hand.n_scored, hand.n_errors, hand.n_unscored) == (9, 7, 5, 1, 1)
    assert hand.accuracy == pytest.approx((0.5 + 0.75 + 0 + 1 + 0) / 5)
    assert hand.n_incomplete_log_rows == 3  # the cancelled log's rows, left out
    assert (hand.n_priced, hand.n_unpriced) == (8, 1)
    assert hand.total_cost == pytest.approx((8 * 100 * 2.0 + 8 * 10 * 10.0 + 50 * 0.2) / 1e6)
    assert hand.mean_latency == pytest.approx((3 + 5 + 1 + 1 + 1 + 1 + 1) / 7)  # NULL and -1 skipped
    assert np.isnan(hand.logged_total_cost)
    assert np.isnan(runs.set_index("benchmark").loc["hand_corrupt", "total_cost"])
    unknown = runs[runs["scaffold"] == "unknown"]
    assert unknown[["benchmark", "n_samples"]].values.tolist() == [["hand", 1]]
    counted = errors[errors["field"] == "sample_id/epoch"]
    assert counted["count"].tolist() == [2]
    assert errors["field"].eq("model/task").sum() == 1


def test_a_copy_of_a_log_is_counted_once(warehouse):
    runs, _ = run_metrics_from_warehouse(warehouse, PRICES)
    evals = warehouse.table("evals")
    assert "zz_copy.eval" not in set(evals["log_key"])
    capitals = runs[runs["benchmark"] == "capitals"].set_index("model")
    per_log = evals[evals["task"] == "capitals"].set_index("model")
    assert len(capitals) == len(per_log) == 2
    for model, run in capitals.iterrows():
        assert run.n_sample_epochs == per_log.loc[model, "n_samples"]
