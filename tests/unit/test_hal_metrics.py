"""run_metrics from samples and from the HAL CSV: hand-computed values and bad input.

Prices of model ``p/m1`` in USD per million tokens: input 2, output 10, cache_read 0.2,
cache_write 2.5. Run (t1, p/m1, generalist), five sample-epochs:

| sample | epoch | score | error | in   | out | cache r | cache w | cost (USD)                          | working |
|--------|-------|-------|-------|------|-----|---------|---------|-------------------------------------|---------|
| a      | 1     | 1     |       | 1000 | 500 | 2000    | 400     | .002 + .005 + .0004 + .001 = .0084  | 10      |
| a      | 2     | 0     |       | 1000 | 500 | 0       | 0       | .007                                | 20      |
| b      | 1     | 1     |       | 0    | 100 | NULL    | NULL    | .001                                | 30      |
| c      | 1     | NULL  | yes   | 500  | 0   | 0       | 0       | .001                                | 40      |
| d      | 1     | NULL  |       | 0    | 0   | 0       | 0       | 0                                   | NULL    |

accuracy = mean(mean(1, 0), 1) = 0.75 over n = 2 scored samples (k = 1.5); total cost .0174,
per task .0174 / 5 = .00348; mean latency 25 (NULL skipped); 4 samples, 1 error, 1 unscored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hibayes.hal import (
    RUN_COLUMNS,
    classify_scaffold,
    load_prices,
    model_cost_latency,
    prices_from_mapping,
    run_metrics_from_hal,
    run_metrics_from_samples,
)

REPO = Path(__file__).resolve().parents[2]

PRICES = prices_from_mapping(
    {"models": {"p/m1": {"input": 2.0, "output": 10.0, "cache_read": 0.2, "cache_write": 2.5},
                "p/m2": {"input": 1.0, "output": 1.0}}}
)


def sample(**kw):
    base = dict(
        log_key="log1", eval_id="e1", sample_uuid=None, sample_id="s", epoch=1, model="p/m1", task="t1",
        dataset="t1", scaffold="generalist", input="q", target="a", input_tokens=0, output_tokens=0,
        total_tokens=0, cache_read_tokens=0, cache_write_tokens=0, reasoning_tokens=None, total_cost=None,
        total_time=None, working_time=1.0, message_count=2, error=None, has_error=False, limit_type=None,
        score=1.0, metadata="{}",
    )
    base.update(kw)
    return base


def known_run() -> list[dict]:
    return [
        sample(sample_id="a", epoch=1, score=1.0, input_tokens=1000, output_tokens=500, cache_read_tokens=2000,
               cache_write_tokens=400, working_time=10.0),
        sample(sample_id="a", epoch=2, score=0.0, input_tokens=1000, output_tokens=500, working_time=20.0),
        sample(sample_id="b", score=1.0, input_tokens=0, output_tokens=100, cache_read_tokens=None,
               cache_write_tokens=None, working_time=30.0),
        sample(sample_id="c", score=None, has_error=True, error="boom", input_tokens=500, working_time=40.0),
        sample(sample_id="d", score=None, working_time=None),
    ]


def test_known_run_by_hand():
    runs, errors = run_metrics_from_samples(pd.DataFrame(known_run()), PRICES)
    assert list(runs.columns) == list(RUN_COLUMNS)
    r = runs.iloc[0]
    assert (r.benchmark, r.model, r.scaffold, r.scaffold_type) == ("t1", "p/m1", "generalist", "generalist")
    assert (r.n_samples, r.n_sample_epochs, r.n_errors, r.n_unscored, r.n_scored) == (4, 5, 1, 1, 2)
    assert r.accuracy == pytest.approx(0.75, abs=1e-15)
    assert r.successes == pytest.approx(1.5, abs=1e-15)
    assert r.interval_method == "beta"
    assert r.accuracy_lo == pytest.approx(stats.beta.ppf(0.025, 2.5, 1.5), abs=1e-12)
    assert r.accuracy_hi == pytest.approx(stats.beta.ppf(0.975, 2.5, 1.5), abs=1e-12)
    assert r.accuracy_lo < r.accuracy < r.accuracy_hi
    assert r.total_cost == pytest.approx(0.0174, abs=1e-15)
    assert r.cost_per_task == pytest.approx(0.00348, abs=1e-15)
    assert (r.input_tokens, r.output_tokens, r.cache_read_tokens, r.cache_write_tokens) == (2500, 1100, 2000, 400)
    assert r.mean_latency == 25.0 and r.median_latency == 25.0
    assert np.isnan(r.logged_total_cost)  # Inspect did not price these samples
    fields = set(zip(errors["severity"], errors["field"]))
    assert fields == {("info", "has_error"), ("warning", "score"), ("warning", "working_time")}


def test_errors_can_be_kept_and_total_time_used():
    rows = known_run()
    rows[3]["score"] = 0.0
    for i, t in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
        rows[i]["total_time"] = t
    runs, _ = run_metrics_from_samples(pd.DataFrame(rows), PRICES, exclude_errors=False,
                                       latency_field="total_time")
    r = runs.iloc[0]
    assert r.accuracy == pytest.approx((0.5 + 1 + 0) / 3)  # sample c now counts, as a 0
    assert r.mean_latency == 3.0 and r.latency_field == "total_time"


def test_missing_price_zero_cost_negative_and_nan_values():
    rows = [
        sample(task="t1", model="p/unknown", sample_id="x", input_tokens=10, output_tokens=10),
        sample(task="t2", model="p/m1", sample_id="y", input_tokens=0, output_tokens=0),
        sample(task="t3", model="p/m1", sample_id="z1", input_tokens=-5, output_tokens=10, working_time=-2.0),
        sample(task="t3", model="p/m1", sample_id="z2", input_tokens=5, output_tokens=None, working_time=4.0),
        sample(task="t4", model="p/m1", sample_id="w", score=None, has_error=True, error="x", total_cost=-1.0),
        sample(task="t5", model="p/m1", sample_id="v", score=2.0, total_cost=0.5),
        sample(task="t5", model="p/m1", sample_id="u", score=0.0, total_cost=0.25),
    ]
    evals = pd.DataFrame({"log_key": ["log1", "log6"], "task": ["t1", "t6"], "model": ["p/unknown", "p/m1"],
                          "scaffold": ["generalist", "agentx"], "status": ["success", "success"]})
    runs, errors = run_metrics_from_samples(pd.DataFrame(rows), PRICES, evals=evals)
    r = runs.set_index("benchmark")
    # Missing price: reported, never zero.
    assert np.isnan(r.loc["t1", "total_cost"])
    e = errors[(errors.benchmark == "t1") & (errors.field == "prices")]
    assert len(e) == 1 and e.iloc[0].severity == "error" and "p/unknown" in e.iloc[0].message
    # Zero cost: kept, warned.
    assert r.loc["t2", "total_cost"] == 0
    assert ((errors.benchmark == "t2") & (errors.field == "total_cost") & (errors.severity == "warning")).sum() == 1
    # A negative token count is corrupt: cost NaN. A missing count is missing usage: warned, not priced.
    assert np.isnan(r.loc["t3", "total_cost"])
    t3 = errors[errors.benchmark == "t3"].set_index("field")
    assert t3.loc["input_tokens", "severity"] == "error" and "negative" in t3.loc["input_tokens", "message"]
    assert t3.loc["token_usage", "severity"] == "warning" and "1 of 2" in t3.loc["token_usage", "message"]
    assert t3.loc["working_time", "severity"] == "error"
    assert r.loc["t3", "mean_latency"] == 4.0
    # Every sample errored: accuracy NaN and said so; negative logged cost reported.
    assert np.isnan(r.loc["t4", "accuracy"])
    t4 = errors[errors.benchmark == "t4"]
    assert ((t4.field == "score") & (t4.severity == "error")).sum() == 1
    assert ((t4.field == "total_cost") & t4.message.str.contains("negative")).sum() == 1
    # Scores outside [0, 1]: normal interval, warning, no successes; logged cost summed.
    assert r.loc["t5", "interval_method"] == "normal" and np.isnan(r.loc["t5", "successes"])
    assert r.loc["t5", "accuracy"] == 1.0
    assert r.loc["t5", "logged_total_cost"] == 0.75
    # A run in the evals table with no samples: a row with n_samples 0 and an error.
    assert r.loc["t6", "n_samples"] == 0 and np.isnan(r.loc["t6", "accuracy"])
    assert r.loc["t6", "scaffold_type"] == "task_specific"
    assert ((errors.benchmark == "t6") & (errors.field == "samples")).sum() == 1
    # Every error row names its source and a known severity.
    assert set(errors.source) == {"run_metrics"}
    assert set(errors.severity) <= {"error", "warning", "info"}


def test_scaffold_rule_and_metadata_source():
    assert classify_scaffold("generalist") == "generalist"
    assert classify_scaffold("HAL Generalist Agent") == "generalist"
    assert classify_scaffold("task_specific") == "task_specific"
    assert classify_scaffold("SWE-Agent") == "task_specific"
    assert classify_scaffold(None) == "task_specific"
    assert classify_scaffold("react", {"react": "generalist"}) == "generalist"
    assert classify_scaffold("generalist", {"generalist": "Task-Specific"}) == "task_specific"
    with pytest.raises(ValueError, match="scaffold_types"):
        classify_scaffold("x", {"x": "both"})
    rows = [sample(sample_id="a", metadata='{"agent": "react"}', scaffold="solverA"),
            sample(sample_id="b", metadata="{}", scaffold="solverA"),
            sample(sample_id="c", metadata="not json", scaffold=None)]
    runs, errors = run_metrics_from_samples(pd.DataFrame(rows), PRICES, scaffold_field="metadata.agent",
                                            scaffold_types={"react": "generalist"})
    assert sorted(runs["scaffold"]) == ["react", "solverA", "unknown"]
    assert runs.set_index("scaffold").loc["react", "scaffold_type"] == "generalist"
    assert {"metadata.agent", "scaffold"} <= set(errors["field"])


def test_missing_columns_and_bad_settings_raise():
    frame = pd.DataFrame(known_run())
    with pytest.raises(ValueError, match=r"\['score'\]"):
        run_metrics_from_samples(frame.drop(columns="score"), PRICES)
    with pytest.raises(ValueError, match="latency_field"):
        run_metrics_from_samples(frame, PRICES, latency_field="wall")
    with pytest.raises(ValueError, match="listed more than once"):
        run_metrics_from_samples(frame, pd.concat([PRICES, PRICES]))


def test_prices_yaml_example_and_validation(tmp_path):
    prices = load_prices(REPO / "examples" / "prices.yaml")
    assert sorted(prices["model"]) == ["mockllm/aurora", "mockllm/borealis", "mockllm/cirrus", "mockllm/draco"]
    assert not prices[["cache_read_defaulted", "cache_write_defaulted"]].any().any()
    defaulted = prices_from_mapping({"models": {"m": {"input": 3, "output": 4}}})
    assert defaulted.iloc[0].cache_read_per_mtok == 3 and defaulted.iloc[0].cache_read_defaulted
    bad = {
        "missing output": ({"models": {"m": {"input": 1}}}, "'output' is required"),
        "negative": ({"models": {"m": {"input": -1, "output": 1}}}, "'input' must be finite and >= 0"),
        "text": ({"models": {"m": {"input": "1$", "output": 1}}}, "'input' must be a number"),
        "typo": ({"models": {"m": {"input": 1, "ouput": 1, "output": 1}}}, "unknown price field"),
        "unit": ({"unit": "usd_per_gallon", "models": {"m": {"input": 1, "output": 1}}}, "'unit'"),
        "no models": ({"prices": {}}, "'prices' must be a non-empty mapping"),
    }
    for name, (mapping, message) in bad.items():
        with pytest.raises(ValueError, match=message):
            prices_from_mapping(mapping)
    path = tmp_path / "p.yaml"
    path.write_text("models:\n  m: {input: 1, output: .nan}\n")
    with pytest.raises(ValueError, match=r"p\.yaml: model 'm': field 'output'"):
        load_prices(path)


def hal_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "benchmark_name": ["b1", "b1", "b1", "b1", "b2", "b2"],
            "agent_name_short": ["HAL Generalist Agent", "Tool Agent", "Tool Agent", "Tool Agent", "X", "X"],
            "model_name_short": ["m1", "m1", "m2", "m2", "m1", "m2"],
            "run_id": ["r1", "r2", "r3", "r4", "r5", "r6"],
            "accuracy": [0.5, 0.25, np.nan, 0.5, 1.2, 0.0],
            "total_cost": [10.0, 0.0, 5.0, -1.0, 3.0, 4.0],
            "latencies_per_task": [[1.0, 3.0], [2.0], [], [4.0, 6.0, 20.0], [1.0], [1.0]],
            "mean_latency": [2.0, 2.0, -3.0, 10.0, 1.0, np.nan],
        }
    )


def test_hal_input_without_and_with_task_counts():
    runs, errors = run_metrics_from_hal(hal_rows())
    assert len(runs) == 6  # nothing dropped
    assert runs["scaffold_type"].tolist()[:2] == ["generalist", "task_specific"]
    assert runs["accuracy_lo"].isna().all() and runs["n_scored"].isna().all()
    info = errors[errors.field == "n_tasks"]
    assert sorted(info.benchmark) == ["b1", "b2"] and (info.severity == "info").all()
    by_field = errors.groupby(["field", "severity"]).size().to_dict()
    assert by_field[("accuracy", "error")] == 2  # NaN and 1.2
    assert by_field[("total_cost", "error")] == 1  # negative
    assert by_field[("total_cost", "warning")] == 1  # zero
    assert by_field[("mean_latency", "error")] == 1  # negative
    assert runs.loc[5, "mean_latency"] == 1.0  # NaN mean recomputed from the list
    assert runs.loc[3, "median_latency"] == 6.0
    assert ((errors.field == "run_id") & (errors.model == "m2")).sum() == 1  # two m2 Tool Agent runs on b1

    runs, errors = run_metrics_from_hal(hal_rows(), n_tasks={"b1": 4, "b2": 10})
    r = runs.iloc[0]
    assert (r.n_scored, r.successes) == (4, 2.0)
    assert r.accuracy_lo == pytest.approx(stats.beta.ppf(0.025, 3, 3))
    assert r.cost_per_task == 2.5
    assert runs.loc[5, "accuracy_lo"] == 0.0  # k = 0: lower end 0
    assert not (errors.field == "n_tasks").any()
    with pytest.raises(ValueError, match="n_tasks"):
        run_metrics_from_hal(hal_rows(), n_tasks={"b1": 0})
    with pytest.raises(ValueError, match="total_cost"):
        run_metrics_from_hal(hal_rows().drop(columns="total_cost"))


def test_model_means_skip_and_report_missing():
    runs = pd.DataFrame({"benchmark": ["a", "a", "b", "b"], "model": ["m"] * 4,
                         "total_cost": [1.0, 3.0, 10.0, np.nan], "mean_latency": [1.0, 1.0, 2.0, 2.0]})
    table, errors = model_cost_latency(runs)
    assert table.iloc[0].mean_cost == pytest.approx((2.0 + 10.0) / 2)
    assert table.iloc[0].mean_latency == pytest.approx(1.5)
    assert errors.iloc[0].field == "total_cost" and errors.iloc[0]["count"] == 1


def test_cost_sums_the_samples_with_usage_and_counts_the_others():
    rows = known_run()
    rows[3].update(input_tokens=None, output_tokens=None)  # sample c errored before any model call
    runs, errors = run_metrics_from_samples(pd.DataFrame(rows), PRICES)
    r = runs.iloc[0]
    assert r.total_cost == pytest.approx(0.0174 - 0.001, abs=1e-15)
    assert (r.n_priced, r.n_unpriced, r.cost_incomplete) == (4, 1, True)
    assert r.cost_per_task == pytest.approx(0.0164 / 4, abs=1e-15)
    usage = errors[errors.field == "token_usage"]
    assert list(usage.severity) == ["warning"] and usage["count"].tolist() == [1]
    for row in rows:
        row.update(input_tokens=None)
    runs, errors = run_metrics_from_samples(pd.DataFrame(rows), PRICES)
    assert np.isnan(runs.iloc[0].total_cost) and runs.iloc[0].n_priced == 0
    assert ((errors.field == "token_usage") & (errors.severity == "error")).sum() == 1


def test_price_files_in_the_obvious_shapes(tmp_path):
    from hibayes.hal.io import read_price_file

    per_token = prices_from_mapping({
        "unit": "usd_per_token", "prices": {"m": {"input": 2.5e-6, "output": 1e-5, "source": "https://example.com"}},
    })
    assert per_token.iloc[0].input_per_mtok == pytest.approx(2.5) and per_token.iloc[0].output_per_mtok == pytest.approx(10)
    path = tmp_path / "prices.yaml"
    path.write_text(
        "description: list prices read on 2026-11-01\n"
        "version: 3\n"
        "sources: [https://example.com/pricing]\n"
        "unit: per million tokens\n"
        "include_incomplete_logs: true\n"
        "models:\n"
        "  m:\n"
        "    input: 3\n"
        "    output: 15\n"
        "    updated: 2026-11-01\n"
        "    note: batch discount not applied\n"
    )
    price_file = read_price_file(path)
    assert price_file.include_incomplete_logs
    assert price_file.prices.iloc[0].output_per_mtok == 15
    assert not read_price_file(REPO / "examples" / "prices.yaml").include_incomplete_logs


def test_rejected_price_files_say_what_was_expected():
    good = {"m": {"input": 1, "output": 2}}
    bad = {
        "a list": ([{"model": "m", "input": 1}], "expected a YAML mapping with a 'models:' \\(or 'prices:'\\) section"),
        "empty file": (None, "got an empty file"),
        "no section": ({"model": good}, "unknown top-level key 'model' \\(did you mean 'models'\\?\\)"),
        "bare mapping": ({"m": {"input": 1}}, "unknown top-level key 'm'"),
        "both sections": ({"models": good, "prices": good}, "found both 'models' and 'prices'"),
        "unit": ({"unit": "eur_per_token", "models": good}, "usd_per_million_tokens, .*usd_per_token"),
        "misspelt price": ({"models": {"m": {"input": 1, "output": 2, "cach_read": 0.5}}},
                           "unknown price field 'cach_read' \\(did you mean 'cache_read'\\?\\)"),
        "setting": ({"models": good, "include_incomplete_logs": "yes"}, "must be true or false"),
        "misspelt setting": ({"models": good, "include_incomplete_log": True}, "did you mean 'include_incomplete_logs'"),
    }
    for name, (mapping, message) in bad.items():
        with pytest.raises(ValueError, match=message):
            prices_from_mapping(mapping)



# --------------------------------------------------------------------------- parity with the per-run code

GOLDEN = Path(__file__).parent / "data" / "hal_run_metrics_golden.json"
PARITY_SETTINGS = {"default": {}, "keep_errors_and_incomplete": {"exclude_errors": False, "include_incomplete_logs": True},
                   "total_time": {"latency_field": "total_time"}}


def messy_samples() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Samples covering every per-run branch, their evals and a price table (one model unpriced)."""
    rng = np.random.default_rng(5)
    rows = []
    logs = []
    for b, task in enumerate(["arith", "judge", "qa"]):
        for m, model in enumerate(["p/m0", "p/m1", "p/m2", "p/unpriced"]):
            for scaffold in ["generalist", "react", None]:
                log_key = f"{task}-{model}-{scaffold}"
                status = "cancelled" if (b, m, scaffold) == (2, 1, "react") else "success"
                logs.append({"log_key": log_key, "model": model, "task": task, "scaffold": scaffold, "status": status})
                for sample in range(12):
                    for epoch in (1, 2):
                        score = rng.uniform(0, 10) if task == "judge" else float(rng.integers(0, 2))
                        if task == "qa":
                            score = float(rng.choice([0.0, 0.5, 1.0]))
                        rows.append({
                            "log_key": log_key, "eval_id": log_key, "model": model, "task": task, "scaffold": scaffold,
                            "sample_id": str(sample), "sample_uuid": f"{log_key}-{sample}-{epoch}", "epoch": epoch,
                            "score": score, "has_error": bool(rng.uniform() < 0.1), "error": None,
                            "input_tokens": float(rng.integers(100, 900)), "output_tokens": float(rng.integers(10, 300)),
                            "cache_read_tokens": float(rng.integers(0, 50)) if rng.uniform() < 0.7 else np.nan,
                            "cache_write_tokens": np.nan if rng.uniform() < 0.5 else float(rng.integers(0, 20)),
                            "working_time": float(rng.uniform(1, 60)), "total_time": float(rng.uniform(1, 90)),
                            "total_cost": float(rng.uniform(0, 0.01)), "metadata": None,
                        })
    df = pd.DataFrame(rows)
    run = df["log_key"]
    df.loc[rng.uniform(size=len(df)) < 0.05, "score"] = np.nan  # unscored
    df.loc[rng.uniform(size=len(df)) < 0.04, "input_tokens"] = np.nan  # no usage
    df.loc[rng.uniform(size=len(df)) < 0.04, "working_time"] = np.nan
    df.loc[rng.uniform(size=len(df)) < 0.02, "working_time"] = -1.0
    df.loc[rng.uniform(size=len(df)) < 0.03, "total_cost"] = np.nan
    df.loc[run == "arith-p/m0-react", "output_tokens"] = -5.0  # corrupt counts
    df.loc[run == "arith-p/m1-react", "total_cost"] = -0.1  # negative logged cost
    df.loc[run == "qa-p/m0-generalist", ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]] = 0.0
    df.loc[run == "qa-p/m2-react", "score"] = np.nan  # no usable score
    df.loc[run == "qa-p/m1-generalist", "input_tokens"] = np.nan  # no usage at all
    df.loc[run == "judge-p/m2-generalist", "working_time"] = np.nan  # no usable time
    dup = df[run == "arith-p/m2-generalist"].head(3)  # the same sample and epoch twice
    df = pd.concat([df, dup], ignore_index=True)
    df.loc[(df["log_key"] == "qa-p/m2-generalist") & (df["sample_id"] == "3"), "sample_id"] = None  # uuid fallback
    df.loc[(df["log_key"] == "qa-p/m2-generalist") & (df["sample_id"] == "4"), ["sample_id", "sample_uuid"]] = None
    df.loc[df["has_error"], "error"] = "boom"
    df["has_error"] = df["has_error"].astype("boolean")
    df.loc[5, "has_error"] = pd.NA  # filled from `error`
    orphan = {"log_key": "orphan", "model": "p/m0", "task": "arith", "scaffold": "lonely", "status": "success"}
    evals = pd.DataFrame([*logs, orphan])
    prices = pd.DataFrame({
        "model": ["p/m0", "p/m1", "p/m2"], "input_per_mtok": [1.0, 2.5, 0.3], "output_per_mtok": [4.0, 10.0, 1.2],
        "cache_read_per_mtok": [0.1, 1.25, 0.03], "cache_write_per_mtok": [1.25, 2.5, 0.3],
        "cache_read_defaulted": False, "cache_write_defaulted": False})
    return df, evals, prices


@pytest.mark.parametrize("setting", sorted(PARITY_SETTINGS))
def test_the_grouped_computation_gives_what_the_per_run_loop_gave(setting):
    # `GOLDEN` holds what run_metrics_from_samples returned when it looped over runs one pandas
    # group at a time (commit 739209d) on `messy_samples`, which reaches every error row. The grouped
    # sums must give the same rows, the same numbers to 1e-12 and the same error rows in the same order.
    import json

    samples, evals, prices = messy_samples()
    runs, errors = run_metrics_from_samples(samples, prices, evals=evals, **PARITY_SETTINGS[setting])
    golden = json.loads(GOLDEN.read_text())[setting]
    assert json.loads(errors.to_json(orient="split")) == golden["errors"]
    got = json.loads(runs.to_json(orient="split", double_precision=15))
    assert got["columns"] == golden["runs"]["columns"] and len(got["data"]) == len(golden["runs"]["data"])
    for new_row, old_row in zip(got["data"], golden["runs"]["data"]):
        for column, new, old in zip(got["columns"], new_row, old_row):
            if isinstance(old, float) and isinstance(new, float):
                assert new == pytest.approx(old, rel=1e-12, abs=1e-12), (column, old_row[:3])
            else:
                assert new == old, (column, old_row[:3])
    assert errors["field"].nunique() >= 8 and runs["score_scale"].nunique() == 2  # the branches are reached
