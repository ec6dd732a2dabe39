import numpy as np
import pandas as pd
import pytest

from hibayes.analysis_state import AnalysisState
from hibayes.config import parse_analysis
from hibayes.process import run_processors
from hibayes.process.processors import ProcessingError


def _bernoulli_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["b", "a", "a", "b", "c", "a"],
            "task": ["t1", "t1", "t2", "t2", "t1", "t1"],
            "score": [1.0, 0.0, 1.0, 1.0, None, 1.0],
        }
    )


def test_default_processors_turn_rows_into_binomial_counts_per_model():
    config = parse_analysis({}, name="defaults")
    state = run_processors(AnalysisState(data=_bernoulli_rows()), config.processors)
    table = state.processed_data.set_index("group")
    assert table.loc["a", "n_correct"] == 2 and table.loc["a", "n_total"] == 3
    assert table.loc["b", "n_correct"] == 2 and table.loc["b", "n_total"] == 2
    assert "c" not in table.index  # its only row had no score; the drop is logged
    assert any("dropped 1 rows" in entry for _, entry in state.logs)
    assert state.coords["group"] == ["a", "b"]
    assert list(np.asarray(state.features["group_index"])) == [0, 1]
    assert state.features["num_group"] == 2
    assert list(np.asarray(state.features["obs"])) == [2, 2]
    assert np.asarray(state.features["obs"]).dtype == np.int32
    assert state.dims["group_effects"] == ["group"]


def test_reference_category_comes_first_and_order_is_respected():
    config = parse_analysis(
        {"data_process": {"processors": [{"extract_features": {"categorical_features": ["model", "task"], "reference_categories": {"model": "b"}, "category_order": {"task": ["t2", "t1"]}}}]}},
        name="x",
    )
    state = run_processors(AnalysisState(data=_bernoulli_rows()), config.processors)
    assert state.coords["model"] == ["b", "a", "c"]
    assert state.coords["task"] == ["t2", "t1"]
    assert list(np.asarray(state.features["task_index"])) == [1, 1, 0, 0, 1, 1]


def test_missing_column_is_named_with_a_suggestion():
    config = parse_analysis({"data_process": {"processors": [{"groupby": {"groupby_columns": ["modle"]}}]}}, name="x")
    with pytest.raises(ProcessingError, match="column 'modle' is not in the data \\(did you mean 'model'"):
        run_processors(AnalysisState(data=_bernoulli_rows()), config.processors)


def test_empty_data_is_an_error_not_an_empty_fit():
    config = parse_analysis({}, name="x")
    with pytest.raises(ProcessingError, match="0 rows"):
        run_processors(AnalysisState(data=_bernoulli_rows().iloc[:0]), config.processors)
