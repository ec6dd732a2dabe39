"""HAL's run metrics on real Inspect logs: the example logs (examples/generate_logs.py, truth in
examples/truth.json) and a log with status 'error' written by inspect_ai (tests/logfactory.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from inspect_ai.log import read_eval_log_sample_summaries

from hibayes.hal import load_prices, prices_from_mapping, run_metrics_from_samples
from hibayes.load.inspect_reader import read_logs
from tests.conftest import PROJECT_ROOT, example_log_files
from tests.logfactory import write_error_log

PRICES = load_prices(PROJECT_ROOT / "examples" / "prices.yaml")
TRUTH = json.loads((PROJECT_ROOT / "examples" / "truth.json").read_text())


def warehouse_tables(paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `samples` and `evals` rows ingest writes for these logs."""
    rows = read_logs({path.name: path for path in paths})

    def table(name: str) -> pd.DataFrame:
        return pd.DataFrame([record for r in rows for record in getattr(r, name).to_dict("records")])

    return table("samples"), table("evals")


def logs_of(task: str) -> list[Path]:
    return [path for path in example_log_files() if f"_{task}_" in path.name]


@pytest.fixture(scope="module")
def capitals_and_judge() -> tuple[pd.DataFrame, pd.DataFrame]:
    return warehouse_tables(logs_of("capitals") + logs_of("judge"))


def test_samples_without_usage_leave_the_rest_of_the_run_priced(capitals_and_judge):
    """The crash run (truth.json's injected errors) has 3 samples that failed before any model call:
    Inspect logged no usage for them. The run's cost is that of the other samples, priced here from
    Inspect's own sample summaries."""
    samples, evals = capitals_and_judge
    crash = TRUTH["injected_errors"][0]
    runs, errors = run_metrics_from_samples(samples, PRICES, evals=evals)
    run = runs.set_index(["benchmark", "model", "scaffold"]).loc[(crash["task"], crash["model"], crash["scaffold"])]

    log = evals.loc[(evals["model"] == crash["model"]) & (evals["scaffold"] == crash["scaffold"])
                    & (evals["task"] == crash["task"]), "log_path"].item()
    price = PRICES.set_index("model").loc[crash["model"]]
    summaries = read_eval_log_sample_summaries(log)
    priced = [s for s in summaries if s.model_usage]
    expected = sum(
        (u.input_tokens * price.input_per_mtok + u.output_tokens * price.output_per_mtok
         + (u.input_tokens_cache_read or 0) * price.cache_read_per_mtok
         + (u.input_tokens_cache_write or 0) * price.cache_write_per_mtok) / 1e6
        for s in priced for u in s.model_usage.values()
    )
    assert len(summaries) - len(priced) == len(TRUTH["injected_errors"]) == 3
    assert run.total_cost == pytest.approx(expected, rel=1e-12) and expected > 0
    assert (run.n_priced, run.n_unpriced, run.cost_incomplete) == (len(priced), 3, True)
    assert run.cost_per_task == pytest.approx(expected / len(priced), rel=1e-12)
    flagged = errors[(errors["field"] == "token_usage") & (errors["model"] == crash["model"])]
    assert list(flagged["severity"]) == ["warning"] and flagged["count"].tolist() == [3]
    # Every other run had usage on every sample.
    others = runs.drop(runs.index[runs["run_id"] == run.run_id])
    assert others["n_unpriced"].eq(0).all() and not others["cost_incomplete"].any()
    assert others["total_cost"].gt(0).all()


def test_a_judge_rating_is_kept_on_its_own_scale(capitals_and_judge):
    samples, evals = capitals_and_judge
    runs, errors = run_metrics_from_samples(samples, PRICES, evals=evals)
    judge = runs[runs["benchmark"] == "judge"]
    capitals = runs[runs["benchmark"] == "capitals"]
    assert len(judge) == 4 and judge["score_scale"].eq("own").all()
    assert judge["accuracy"].gt(1).all()  # mean ratings on 0..10, not proportions
    assert judge["interval_method"].eq("normal").all() and judge["successes"].isna().all()
    assert capitals["score_scale"].eq("proportion").all() and capitals["accuracy"].between(0, 1).all()
    message = errors[(errors["benchmark"] == "judge") & (errors["field"] == "score")]
    assert len(message) == 1 and "own scale" in message["message"].item()


def test_judge_ratings_stay_out_of_the_accuracy_plots(capitals_and_judge):
    import matplotlib

    matplotlib.use("Agg")
    from hibayes.hal.plots import hal_report

    samples, evals = capitals_and_judge
    runs, _ = run_metrics_from_samples(samples, PRICES, evals=evals)
    figures = hal_report(runs, n_draws=50)

    def rows_of(name: str) -> list[str]:
        return [t.get_text() for t in figures[name].axes[0].get_yticklabels()]

    for scaffold_type in ("generalist", "task_specific"):
        assert "judge" not in rows_of(f"heatmap_accuracy_{scaffold_type}")
    assert rows_of("heatmap_mean_score_generalist") == ["judge"]
    panels = {ax.get_title(): ax.get_ylabel() for ax in figures["frontier_cost_accuracy"].axes if ax.get_title()}
    assert panels == {"capitals": "Accuracy", "judge": "Mean score (own scale)"}


@pytest.fixture(scope="module")
def with_an_error_log(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    error_log = write_error_log(tmp_path_factory.mktemp("error_log"))
    return warehouse_tables([error_log, *logs_of("arithmetic")[:2]])


def test_logs_that_did_not_finish_are_left_out_unless_kept(with_an_error_log):
    samples, evals = with_an_error_log
    prices = pd.concat([PRICES, prices_from_mapping({"models": {"mockllm/odd": {"input": 1, "output": 2}}})])
    unfinished = evals.loc[evals["status"] == "error", "log_key"].item()
    rows_of_unfinished = int((samples["log_key"] == unfinished).sum())
    assert rows_of_unfinished > 0  # the log holds samples that would otherwise count

    runs, errors = run_metrics_from_samples(samples, prices, evals=evals)
    assert "explodes" not in set(runs["benchmark"])  # left out, as the analyses and IRT leave it out
    note = errors[errors["field"] == "log_status"]
    assert list(note["severity"]) == ["info"] and note["count"].tolist() == [rows_of_unfinished]
    assert "status 'error'" in note["message"].item()
    assert runs["n_incomplete_log_rows"].eq(0).all()

    kept, errors = run_metrics_from_samples(samples, prices, evals=evals, include_incomplete_logs=True)
    run = kept.set_index("benchmark").loc["explodes"]
    assert run.n_incomplete_log_rows == run.n_sample_epochs == rows_of_unfinished
    assert np.isfinite(run.total_cost)
    assert list(errors.loc[errors["field"] == "log_status", "severity"]) == ["warning"]
