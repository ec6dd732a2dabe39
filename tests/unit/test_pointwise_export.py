"""The per-observation LOO/WAIC export (`write_pointwise_per_observation`): a binomial fit's weighted
columns written as one row per trial, in batches, summing to the model's elpd; batching changes
nothing in what is written."""

import numpy as np
import pandas as pd
import pytest

from hibayes.analysis_state import ModelAnalysisState
from hibayes.communicate import write_pointwise_per_observation
from hibayes.model.sampling import fit
from tests.unit.test_pointwise import SMALL, group_model, grouped_counts

EXACT = 1e-6


@pytest.fixture(scope="module")
def counts_model() -> ModelAnalysisState:
    features = grouped_counts()
    inference_data = fit(group_model(1.0), features, SMALL).inference_data
    coords = {"group": ["alpha", "beta", "gamma", "delta"]}
    return ModelAnalysisState("counts", group_model(1.0), None, features, coords, {}, inference_data=inference_data, is_fitted=True)


def test_one_row_per_trial_with_the_cell_values_and_the_elpd_as_sum(counts_model, tmp_path):
    path = tmp_path / "pointwise.parquet"
    written = write_pointwise_per_observation([counts_model], path, batch_rows=50)  # 195 trials: 4 batches
    table = pd.read_parquet(path)
    features = grouped_counts()
    assert written == len(table) == features["n_total"].sum() == 195
    assert not path.with_name(path.name + ".partial").exists()
    per_cell = table.groupby(["group", "outcome"], observed=True).size()
    for row, name in enumerate(["alpha", "beta", "gamma", "delta"]):
        assert per_cell[(name, 1)] == features["obs"][row]
        assert per_cell[(name, 0)] == features["n_total"][row] - features["obs"][row]
    # Every trial of a cell carries the cell's value.
    assert table.groupby("column")[["loo_i", "waic_i"]].nunique().max().max() == 1
    assert table["loo_i"].sum() == pytest.approx(counts_model.get_ic("loo").elpd, abs=EXACT)
    assert table["waic_i"].sum() == pytest.approx(counts_model.get_ic("waic").elpd, abs=EXACT)
    assert {"model", "label", "column", "row", "outcome", "pareto_k", "n_total"} <= set(table.columns)
    assert "weight" not in table.columns


def test_batches_do_not_change_the_rows(counts_model, tmp_path):
    one = tmp_path / "one.parquet"
    many = tmp_path / "many.parquet"
    write_pointwise_per_observation([counts_model], one)
    write_pointwise_per_observation([counts_model], many, batch_rows=7)
    pd.testing.assert_frame_equal(pd.read_parquet(one), pd.read_parquet(many))


def test_nothing_fitted_writes_nothing(tmp_path):
    unfitted = ModelAnalysisState("empty", group_model(1.0), None, grouped_counts(), {}, {})
    path = tmp_path / "pointwise.parquet"
    assert write_pointwise_per_observation([unfitted], path) == 0
    assert not path.exists()


def test_weight_batches_cover_every_column_once():
    from hibayes.communicate.comparison import _weight_batches

    weights = np.array([3, 1, 10, 2, 2, 5])
    batches = _weight_batches(weights, 4)
    assert batches[0][0] == 0 and batches[-1][1] == len(weights)
    assert all(a < b for a, b in batches) and all(b == c for (_, b), (c, _) in zip(batches, batches[1:]))
    assert _weight_batches(weights, 1000) == [(0, len(weights))]
