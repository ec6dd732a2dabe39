"""The comparisons stage's inputs: the per-item rows an analysis config makes of its data, and each
model's mean-score draws from a fit (known answers computed directly from the draws)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from hibayes import idata as idata_api
from hibayes.analysis import comparison_columns, comparison_frame
from hibayes.comparisons import ComparisonError
from hibayes.config import parse_analysis
from hibayes.model import MODELS
from hibayes.model.mean_scores import mean_score_draws

PROCESSORS = [
    {"drop_rows_with_missing_features": {"feature_names": ["difficulty"]}},
    {"map_columns": {"column_mapping": {"model": "group"}}},
    {"groupby": {"groupby_columns": ["group"]}},
    {"extract_features": {"categorical_features": ["group"], "continuous_features": ["n_total"]}},
    {"extract_observed_feature": {"feature_name": "n_correct"}},
]


def _data() -> pd.DataFrame:
    """Two models, two tasks whose sample ids overlap, two epochs, and judge rows (0..10, no difficulty)."""
    rows = []
    for model, offset in (("aurora", 1), ("borealis", 0)):
        for task in ("arithmetic", "capitals"):
            for sample_id in (1, 2, 3):
                for epoch in (1, 2):
                    rows.append({"model": model, "task": task, "sample_id": sample_id, "epoch": epoch, "difficulty": "easy",
                                 "score": float((sample_id + epoch + offset) % 2)})
        rows.append({"model": model, "task": "judge", "sample_id": 1, "epoch": 1, "difficulty": None, "score": 7.0})
    return pd.DataFrame(rows)


def test_rows_are_the_data_before_the_groupby_with_renames_followed():
    config = parse_analysis({"data_process": {"processors": PROCESSORS}}, name="a")
    frame, rows = comparison_frame(config, _data())
    assert rows == "24 rows of the analysis data after drop_rows_with_missing_features, map_columns"
    assert list(frame.columns) == ["model", "score", "item", "cluster"]
    assert set(frame["cluster"]) == {"arithmetic", "capitals"} and frame["score"].max() == 1.0  # the judge rows are left out
    # Sample ids repeat across tasks: the item is the id within its task.
    assert frame.groupby("item").size().to_dict() == {f"{t}/{i}": 4 for t in ("arithmetic", "capitals") for i in (1, 2, 3)}


def test_written_columns_are_used_and_a_missing_one_is_named_with_the_file():
    config = parse_analysis({"compare": {"item": "sample_id", "cluster": None}}, name="b")
    frame, rows = comparison_frame(config, _data())
    assert "cluster" not in frame.columns and set(frame["item"]) == {1, 2, 3} and rows == "26 rows of the analysis data after map_columns"  # the default processors
    config = parse_analysis({"compare": {"score": "rating"}}, name="c")
    with pytest.raises(ComparisonError, match="analysis 'c': comparisons: no column 'rating' for score"):
        comparison_frame(config, _data())


def test_only_the_columns_the_comparisons_read_give_the_same_rows():
    """With a groupby first, the comparisons read a few columns of the analysis data (the asset
    selects just those); with a processor before it (a filter may read any column), all of them."""
    grouped_first = parse_analysis({"data_process": {"processors": PROCESSORS[2:]}}, name="d")
    columns = comparison_columns(grouped_first)
    assert columns == ["model", "score", "sample_id", "task"]
    pd.testing.assert_frame_equal(comparison_frame(grouped_first, _data()[columns])[0], comparison_frame(grouped_first, _data())[0])
    assert comparison_columns(parse_analysis({"data_process": {"processors": PROCESSORS}}, name="e")) is None


def _cells() -> tuple[dict, list[str]]:
    """Model x task cells of unequal sizes for linear_group_binomial(main_effects=[model, task])."""
    models = ["aurora", "aurora", "borealis", "borealis", "cirrus"]
    features = {
        "model_index": np.array([0, 0, 1, 1, 2]), "num_model": 3,
        "task_index": np.array([0, 1, 0, 1, 1]), "num_task": 2,
        "n_total": np.array([10, 30, 20, 20, 5]), "obs": np.array([7, 20, 9, 11, 2]),
    }
    return features, models


def test_binomial_fits_give_each_models_trial_weighted_accuracy_per_draw():
    features, row_models = _cells()
    rng = np.random.default_rng(0)
    n = 50
    draws = {"intercept": rng.normal(0, 1, n), "model_effects_constrained": rng.normal(0, 1, (n, 2)),
             "task_effects_constrained": rng.normal(0, 1, (n, 1))}
    idata = idata_api.from_draws({"posterior": draws}, {}, {})
    model_fn = MODELS.build("linear_group_binomial", {"main_effects": ["model", "task"]})
    result = mean_score_draws("linear", model_fn, features, idata, row_models)
    # Effect coding: the last level is minus the sum of the others.
    model_effects = np.column_stack([draws["model_effects_constrained"], -draws["model_effects_constrained"].sum(axis=1)])
    task_effects = np.column_stack([draws["task_effects_constrained"], -draws["task_effects_constrained"].sum(axis=1)])
    p = expit(draws["intercept"][:, None] + model_effects[:, features["model_index"]] + task_effects[:, features["task_index"]])
    for model, rows in (("aurora", [0, 1]), ("borealis", [2, 3]), ("cirrus", [4])):
        weights = features["n_total"][rows]
        np.testing.assert_allclose(result.draws[model], p[:, rows] @ weights / weights.sum(), rtol=1e-5)
    assert list(result.draws.columns) == ["aurora", "borealis", "cirrus"] and len(result.draws) == n
    assert "trial counts, over 50 posterior draws" in result.note


def test_models_that_do_not_say_give_no_draws_and_say_why():
    features, row_models = _cells()
    idata = idata_api.from_draws({"posterior": {"intercept": np.zeros(4)}}, {}, {})
    ordinal = {k: v for k, v in features.items() if k != "n_total"}
    assert mean_score_draws("judge", None, ordinal, idata, row_models).note == (
        "judge is not a binomial model of `n_total` trials, so it does not say what a model's mean score is "
        "(an ordinal or custom likelihood); the posterior columns are empty"
    )

    def normal_model(features):
        import numpyro
        import numpyro.distributions as dist

        mu = numpyro.sample("intercept", dist.Normal(0, 1))
        numpyro.sample("obs", dist.Normal(mu, 1).expand([5]), obs=features["obs"])

    custom = mean_score_draws("custom", normal_model, features, idata, row_models)
    assert custom.draws is None and "`obs` is not a Binomial" in custom.note
    held_out = mean_score_draws("linear", normal_model, features, idata, row_models[:4])
    assert held_out.draws is None and "fitted on 5 rows but the processed data has 4" in held_out.note
    assert mean_score_draws("unfitted", normal_model, features, None, row_models).note == "unfitted has no posterior draws (not fitted)"
