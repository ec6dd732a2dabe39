"""Samples -> response matrix: binarisation, epochs, errors, validation messages."""

from __future__ import annotations

import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from hibayes.irt.config import IRTConfig
from hibayes.irt.responses import (
    ResponseError,
    balance_weights,
    build_response_matrix,
    match_mean_threshold,
    split_respondents,
    wide_select_sql,
)


def _samples(rows):
    cols = ["model", "task", "sample_id", "epoch", "score", "has_error", "scaffold", "input"]
    return pd.DataFrame(rows, columns=cols)


def _grid(models=("m/a", "m/b", "m/c"), items=3, score=lambda j, i: float((i + j) % 2)):
    rows = []
    for j, m in enumerate(models):
        for i in range(items):
            rows.append((m, "t", str(i), 1, score(j, i), False, "basic", f"question {i}"))
    return rows


def test_basic_matrix_and_errored_samples_are_counted():
    rows = _grid() + [("m/a", "t", "0", 2, None, True, "basic", "question 0")]
    rm = build_response_matrix(_samples(rows), IRTConfig())
    assert rm.shape == (3, 3)
    assert rm.items == ["t::0", "t::1", "t::2"]
    assert rm.counts["n_errored"] == 1
    np.testing.assert_array_equal(rm.y[0], [0, 1, 0])
    long = rm.to_long()
    assert len(long) == 9 and set(long.columns) >= {"respondent", "item", "y", "trials"}
    assert rm.item_table["input"].tolist() == ["question 0", "question 1", "question 2"]


def test_epochs_mean_then_binarise_versus_binomial():
    rows = []
    for m, scores in (("m/a", (1, 0, 0)), ("m/b", (1, 1, 0)), ("m/c", (0, 0, 0))):
        for e, s in enumerate(scores):
            rows.append((m, "t", "x", e + 1, float(s), False, None, "q"))
            rows.append((m, "t", "y", e + 1, 1.0, False, None, "q"))
    df = _samples(rows)
    mean_rule = build_response_matrix(df, IRTConfig(binarise="score >= 0.5"))
    np.testing.assert_array_equal(mean_rule.y[:, 0], [0, 1, 0])  # means 1/3, 2/3, 0
    assert mean_rule.trials.max() == 1
    binom = build_response_matrix(df, IRTConfig(binarise="score > 0", epochs="binomial"))
    np.testing.assert_array_equal(binom.successes[:, 0], [1, 2, 0])
    np.testing.assert_array_equal(binom.trials[:, 0], [3, 3, 3])


def test_respondent_model_plus_scaffold():
    rows = _grid(models=("m/a",)) + [(m, t, s, e, sc, he, "react", i) for (m, t, s, e, sc, he, _, i) in _grid(models=("m/a",))]
    rows += _grid(models=("m/b",))
    rm = build_response_matrix(_samples(rows), IRTConfig(respondent="model+scaffold"))
    assert rm.respondents == ["m/a|basic", "m/a|react", "m/b|basic"]
    train, new = split_respondents(rm, ["m/b"])
    assert train.respondents == ["m/a|basic", "m/a|react"] and new.respondents == ["m/b|basic"]


def test_non_binary_scores_without_a_rule_get_a_clear_message():
    rows = _grid(score=lambda j, i: 0.5 * ((i + j) % 3))
    with pytest.raises(ResponseError, match=r"not binary.*no binarisation rule.*score > 0"):
        build_response_matrix(_samples(rows), IRTConfig(binarise=None))


def test_model_with_no_responses_is_named():
    rows = _grid() + [("m/dead", "t", str(i), 1, None, True, None, "q") for i in range(3)]
    with pytest.raises(ResponseError, match=r"no usable responses.*m/dead"):
        build_response_matrix(_samples(rows), IRTConfig())
    with pytest.warns(UserWarning, match="m/dead"):
        rm = build_response_matrix(_samples(rows), IRTConfig(on_invalid="drop"))
    assert "m/dead" not in rm.respondents


def test_item_answered_by_one_model_is_named():
    rows = _grid() + [("m/a", "t", "lonely", 1, 1.0, False, None, "q")]
    with pytest.raises(ResponseError, match=r"fewer than 2 respondents.*t::lonely \(1\)"):
        build_response_matrix(_samples(rows), IRTConfig())
    with pytest.warns(UserWarning):
        rm = build_response_matrix(_samples(rows), IRTConfig(on_invalid="drop"))
    assert "t::lonely" not in rm.items and rm.counts["n_items_dropped"] == 1


def test_missing_columns_and_unknown_new_model():
    with pytest.raises(ResponseError, match=r"missing column\(s\) \['score'\]"):
        build_response_matrix(pd.DataFrame({"model": ["a"], "task": ["t"], "sample_id": ["1"]}))
    rm = build_response_matrix(_samples(_grid()))
    with pytest.raises(ResponseError, match=r"'m/bb' is not a respondent; did you mean 'm/b'"):
        split_respondents(rm, ["m/bb"])


def test_match_mean_threshold_and_balance_weights():
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.7, 0.6, 0.3, 0.4])
    resp = np.array(["a"] * 4 + ["b"] * 4)
    c = match_mean_threshold(scores, resp)
    assert 0.4 <= c < 0.6
    groups = np.array(["x"] * 3 + ["y"])
    w = balance_weights(groups)
    np.testing.assert_allclose(w, [4 / 6, 4 / 6, 4 / 6, 2.0])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    # weighted mean = mean of the group means
    assert np.mean(w * y) == pytest.approx(np.mean([2 / 3, 0.0]), abs=1e-12)


def test_wide_view_in_duckdb():
    rm = build_response_matrix(_samples(_grid()))
    con = duckdb.connect()
    con.register("incoming", rm.to_long())
    con.execute("CREATE TABLE irt_responses AS SELECT * FROM incoming")
    con.execute("CREATE VIEW irt_responses_wide AS " + wide_select_sql("irt_responses", rm.respondents))
    wide = con.execute("SELECT * FROM irt_responses_wide").df()
    assert wide.shape == (3, 3 + 3)
    np.testing.assert_array_equal(wide["m/b"].to_numpy(), rm.y[1])


def test_tasks_and_exclude_tasks_select_items_and_other_scales_are_warned():
    models = ("m/a", "m/b", "m/c")
    judge = [(m, "judge", str(i), 1, float(3 + i + j), False, "basic", "rate") for j, m in enumerate(models) for i in range(2)]
    df = _samples(_grid() + judge)
    with pytest.warns(UserWarning, match=r"outside \[0, 1\].*judge \(3 to 6\).*exclude_tasks"):
        everything = build_response_matrix(df, IRTConfig())
    assert everything.shape == (3, 5) and everything.counts["n_task_excluded"] == 0

    config = IRTConfig.from_mapping({"exclude_tasks": "judge"})  # one name or a list
    assert config.exclude_tasks == ("judge",) and config.to_dict()["exclude_tasks"] == ["judge"]
    rm = build_response_matrix(df, config)
    assert rm.items == ["t::0", "t::1", "t::2"] and rm.counts["n_task_excluded"] == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tasks chosen by name: no warning about their scale
        only = build_response_matrix(df, IRTConfig.from_mapping({"tasks": ["judge"], "binarise": "score > 4"}))
    assert set(only.item_table["task"]) == {"judge"} and only.counts["n_task_excluded"] == 9
    with pytest.raises(ResponseError, match="no samples left after tasks=\\['nope'\\]"), pytest.warns(UserWarning):
        build_response_matrix(df, IRTConfig(tasks=["nope"]))
