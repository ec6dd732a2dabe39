"""Every built-in processor against values computed by hand on small frames, and ProcessConfig."""

import sys
import types

import numpy as np
import pandas as pd
import pytest

from hibayes.analysis_state import AnalysisState
from hibayes.config import ConfigError
from hibayes.process import PROCESSORS, ProcessConfig, ProcessingError, feature_hint, produced_features, run_processors


def run(data: pd.DataFrame, name: str, **kwargs) -> AnalysisState:
    return PROCESSORS.build(name, kwargs)(AnalysisState(data=data), None)


def values(array) -> list:
    return np.asarray(array).tolist()


@pytest.fixture
def judged() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "grader": ["gpt", "human", "claude", "gpt", "human", "claude"],
            "item": ["q1", "q1", "q2", "q2", "q3", "q3"],
            "length": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "turns": [3, 1, 2, 5, 4, 6],
            "held_out": [False, False, False, False, True, True],
            "score": [7.0, 3.0, 5.0, 10.0, 0.0, 4.0],
        }
    )


# --- extract_features: categorical --------------------------------------------------------


def test_categorical_levels_are_alphabetical_with_index_count_coords_and_dims(judged):
    state = run(judged, "extract_features", categorical_features=["grader"])
    assert state.coords["grader"] == ["claude", "gpt", "human"]
    assert values(state.features["grader_index"]) == [1, 2, 0, 1, 2, 0]
    assert np.asarray(state.features["grader_index"]).dtype == np.int32
    assert state.features["num_grader"] == 3
    assert state.dims == {"grader_effects": ["grader"]}


def test_numeric_levels_sort_as_numbers_and_mixed_types_as_text():
    state = run(pd.DataFrame({"size": [10, 2, 1, 2]}), "extract_features", categorical_features=["size"])
    assert state.coords["size"] == [1, 2, 10]
    assert values(state.features["size_index"]) == [2, 1, 0, 1]
    state = run(pd.DataFrame({"mixed": [10, "b", 2]}), "extract_features", categorical_features=["mixed"])
    assert state.coords["mixed"] == [10, 2, "b"]


def test_reference_category_goes_first_and_the_rest_stay_sorted(judged):
    state = run(judged, "extract_features", categorical_features=["grader"], reference_categories={"grader": "human"})
    assert state.coords["grader"] == ["human", "claude", "gpt"]
    assert values(state.features["grader_index"]) == [2, 0, 1, 2, 0, 1]


def test_category_order_takes_precedence_over_reference_categories(judged):
    state = run(
        judged,
        "extract_features",
        categorical_features=["grader"],
        category_order={"grader": ["gpt", "human", "claude"]},
        reference_categories={"grader": "claude"},
    )
    assert state.coords["grader"] == ["gpt", "human", "claude"]
    assert values(state.features["grader_index"]) == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"category_order": {"grader": ["gpt", "human"]}}, r"missing: \['claude'\]"),
        ({"category_order": {"grader": ["gpt", "human", "claude", "llama"]}}, r"not in the data: \['llama'\]"),
        ({"category_order": {"grader": ["gpt", "gpt", "human", "claude"]}}, r"repeated: \['gpt'\]"),
        ({"reference_categories": {"grader": "llama"}}, "reference category 'llama' is not a level of 'grader'"),
    ],
)
def test_inconsistent_level_orders_are_explained(judged, kwargs, message):
    with pytest.raises(ProcessingError, match=message):
        run(judged, "extract_features", categorical_features=["grader"], **kwargs)


def test_missing_categorical_values_are_an_error_not_a_garbage_index(judged):
    judged.loc[2, "grader"] = None
    with pytest.raises(ProcessingError, match="'grader' has 1 missing values"):
        run(judged, "extract_features", categorical_features=["grader"])


def test_effect_coding_adds_constrained_dims_over_all_but_the_last_level(judged):
    state = run(judged.assign(one="x"), "extract_features", categorical_features=["grader", "one"], effect_coding_for_main_effects=True)
    assert state.dims["grader_effects_constrained"] == ["grader_constrained"]
    assert state.coords["grader_constrained"] == ["claude", "gpt"]
    assert "one_effects_constrained" not in state.dims  # a single level has nothing to constrain
    assert "one_constrained" not in state.coords


# --- extract_features: continuous, interactions, split -------------------------------------


def test_continuous_columns_keep_their_values_and_integer_dtype(judged):
    state = run(judged, "extract_features", continuous_features=["length", "turns"])
    assert values(state.features["length"]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert np.asarray(state.features["length"]).dtype == np.float32
    assert values(state.features["turns"]) == [3, 1, 2, 5, 4, 6]
    assert np.asarray(state.features["turns"]).dtype == np.int32


def test_text_continuous_column_is_named(judged):
    with pytest.raises(ProcessingError, match="continuous column 'item' is not numeric"):
        run(judged, "extract_features", continuous_features=["item"])


def test_standardise_uses_sample_sd_and_overwrites_the_column(judged):
    state = run(judged, "extract_features", continuous_features=["length"], standardise=True)
    sd = np.sqrt(17.5 / 5)  # 1..6: mean 3.5, squared deviations sum 17.5, ddof=1
    expected = (np.arange(1, 7) - 3.5) / (sd + 1e-8)
    np.testing.assert_allclose(np.asarray(state.features["length"]), expected, rtol=1e-6)
    np.testing.assert_allclose(state.processed_data["length"], expected)


def test_train_test_split_standardises_with_training_rows_only(judged):
    state = run(judged, "extract_features", categorical_features=["item"], continuous_features=["length"], standardise=True, test="held_out")
    train_sd = np.sqrt(5 / 3)  # training lengths 1..4: mean 2.5, squared deviations sum 5, ddof=1
    np.testing.assert_allclose(np.asarray(state.features["length"]), (np.arange(1, 5) - 2.5) / train_sd, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(state.test_features["length"]), (np.array([5, 6]) - 2.5) / train_sd, rtol=1e-6)
    # Levels and sizes come from all rows: q3 only occurs in held-out rows but is still a level.
    assert state.coords["item"] == ["q1", "q2", "q3"]
    assert state.features["num_item"] == state.test_features["num_item"] == 3
    assert values(state.features["item_index"]) == [0, 0, 1, 1]
    assert values(state.test_features["item_index"]) == [2, 2]


def test_interactions_give_pair_dims_and_per_level_slope_features(judged):
    state = run(judged, "extract_features", categorical_features=["grader", "item"], continuous_features=["length"], interactions=True)
    assert state.dims["grader_item_effects"] == ["grader", "item"]
    for name in ("grader_length", "length_grader"):
        assert values(state.features[name]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        assert state.dims[f"{name}_effects"] == ["grader"]
    assert state.dims["item_length_effects"] == ["item"] == state.dims["length_item_effects"]
    assert "item_grader_effects" not in state.dims  # cat x cat pairs in the given order only


def test_interactions_as_pairs_make_only_the_named_ones(judged):
    state = run(
        judged, "extract_features", categorical_features=["grader", "item"], continuous_features=["length"], interactions=[["item", "grader"]]
    )
    assert state.dims["item_grader_effects"] == ["item", "grader"]
    assert not any("length_" in key or "_length" in key for key in state.features if key != "length")
    with pytest.raises(ProcessingError, match="not in categorical_features or continuous_features"):
        PROCESSORS.build("extract_features", {"categorical_features": ["grader"], "interactions": [["grader", "nope"]]})


def test_interaction_features_go_to_the_split_too(judged):
    state = run(judged, "extract_features", categorical_features=["item"], continuous_features=["length"], interactions=True, test="held_out")
    assert values(state.features["item_length"]) == [1.0, 2.0, 3.0, 4.0]
    assert values(state.test_features["length_item"]) == [5.0, 6.0]


def test_a_column_cannot_be_both_categorical_and_continuous():
    with pytest.raises(ProcessingError, match=r"both categorical and continuous: \['x'\]"):
        PROCESSORS.build("extract_features", {"categorical_features": ["x"], "continuous_features": ["x"]})


def test_without_arguments_it_does_nothing_and_it_merges_with_earlier_features(judged):
    state = AnalysisState(data=judged, features={"obs": 1}, coords={"other": [1]}, dims={"other_effects": ["other"]})
    state = PROCESSORS.build("extract_features")(state, None)
    assert state.features == {"obs": 1} and state.coords == {"other": [1]}
    state = PROCESSORS.build("extract_features", {"categorical_features": ["item"]})(state, None)
    assert state.features["obs"] == 1 and state.coords["other"] == [1] and "item_effects" in state.dims


def test_split_column_must_be_boolean(judged):
    with pytest.raises(ProcessingError, match="test column 'item' must hold only True/False"):
        run(judged, "extract_features", continuous_features=["length"], test="item")


# --- extract_features: nested levels for the three-level models ----------------------------


def test_group_subgroup_subsubgroup_are_numbered_as_observed_nested_pairs_and_triples():
    data = pd.DataFrame(
        {
            "group": ["b", "a", "a", "b", "a", "b"],
            "subgroup": ["x", "x", "y", "x", "x", "z"],
            "subsubgroup": ["easy", "easy", "hard", "hard", "hard", "easy"],
        }
    )
    state = run(data, "extract_features", categorical_features=["group", "subgroup", "subsubgroup"])
    # Pairs in (group, subgroup) order: (a,x)=0, (a,y)=1, (b,x)=2, (b,z)=3; x under a and under b
    # are different pairs.
    assert state.coords["group_subgroup"] == ["a, x", "a, y", "b, x", "b, z"]
    assert values(state.features["group_subgroup_index"]) == [2, 0, 1, 2, 0, 3]
    assert values(state.features["group_subgroup_parent"]) == [0, 0, 1, 1]
    assert state.features["num_group_subgroup"] == 4
    # Triples: (a,x,easy)=0, (a,x,hard)=1, (a,y,hard)=2, (b,x,easy)=3, (b,x,hard)=4, (b,z,easy)=5.
    assert state.coords["group_subgroup_subsubgroup"] == ["a, x, easy", "a, x, hard", "a, y, hard", "b, x, easy", "b, x, hard", "b, z, easy"]
    assert values(state.features["group_subgroup_subsubgroup_index"]) == [3, 0, 2, 4, 1, 5]
    assert values(state.features["group_subgroup_subsubgroup_parent"]) == [0, 0, 1, 2, 2, 3]
    assert state.features["num_group_subgroup_subsubgroup"] == 6
    # The flat per-column features are unchanged, for models that use the columns as plain factors.
    assert state.dims["subgroup_effects"] == ["subgroup"] and state.features["num_subgroup"] == 3


def test_nesting_needs_the_hierarchy_from_the_top():
    data = pd.DataFrame({"subgroup": ["x", "y"], "subsubgroup": ["e", "h"]})
    state = run(data, "extract_features", categorical_features=["subgroup", "subsubgroup"])
    assert not any(key.startswith("group_") for key in state.features)


# --- extract_observed_feature ----------------------------------------------------------------


def test_observed_feature_whole_number_floats_become_integers(judged):
    state = run(judged, "extract_observed_feature", feature_name="score")
    assert values(state.features["obs"]) == [7, 3, 5, 10, 0, 4]
    assert np.asarray(state.features["obs"]).dtype == np.int32
    state = run(judged, "extract_observed_feature", feature_name="length")
    assert np.asarray(state.features["obs"]).dtype == np.int32
    state = run(judged.assign(length=judged["length"] / 4), "extract_observed_feature", feature_name="length")
    assert np.asarray(state.features["obs"]).dtype == np.float32
    assert values(state.features["obs"]) == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


def test_observed_feature_split_sends_true_rows_to_test_features(judged):
    state = run(judged, "extract_observed_feature", feature_name="score", test="held_out")
    assert values(state.features["obs"]) == [7, 3, 5, 10]
    assert values(state.test_features["obs"]) == [0, 4]


def test_observed_feature_errors_name_the_column(judged):
    with pytest.raises(ProcessingError, match="column 'scor' is not in the data \\(did you mean 'score'"):
        run(judged, "extract_observed_feature", feature_name="scor")
    judged.loc[0, "score"] = np.nan
    with pytest.raises(ProcessingError, match="'score' has 1 missing values"):
        run(judged, "extract_observed_feature", feature_name="score")


# --- map_columns, groupby, drop_rows_with_missing_features ----------------------------------


def test_map_columns_renames_and_does_nothing_without_a_mapping(judged):
    state = run(judged, "map_columns", column_mapping={"grader": "group", "item": "subgroup"})
    assert list(state.processed_data.columns[:2]) == ["group", "subgroup"]
    assert run(judged, "map_columns").processed_data.equals(judged)
    with pytest.raises(ProcessingError, match="column 'nope' is not in the data"):
        run(judged, "map_columns", column_mapping={"nope": "x"})


def test_groupby_counts_correct_and_total_per_group_and_drops_other_columns():
    data = pd.DataFrame({"model": ["b", "a", "a", "b", "a"], "task": ["t", "t", "u", "t", "t"], "score": [1.0, 0.0, 1.0, 1.0, 1.0]})
    state = run(data, "groupby", groupby_columns=["model", "task"])
    assert state.processed_data.to_dict("list") == {
        "model": ["a", "a", "b"],
        "task": ["t", "u", "t"],
        "n_correct": [1.0, 1.0, 2.0],
        "n_total": [2, 1, 2],
    }


def test_groupby_passes_extra_arguments_to_pandas():
    data = pd.DataFrame({"model": ["b", "a", "b"], "score": [1.0, 0.0, 0.0]})
    state = run(data, "groupby", groupby_columns=["model"], sort=False)  # first-appearance order
    assert state.processed_data["model"].tolist() == ["b", "a"]
    assert state.processed_data["n_total"].tolist() == [2, 1]


def test_groupby_without_columns_leaves_the_data_like_hibayes(judged):
    state = run(judged, "groupby")
    assert state.processed_data.equals(judged)
    assert any("no groupby_columns" in entry for _, entry in state.logs)


def test_drop_rows_with_missing_features_defaults_to_model_and_task():
    data = pd.DataFrame({"model": ["a", None, "b", "c"], "task": ["t", "t", None, "t"], "other": [None, 1, 2, 3]})
    assert run(data, "drop_rows_with_missing_features").processed_data["model"].tolist() == ["a", "c"]
    assert run(data, "drop_rows_with_missing_features", feature_names=["other"]).processed_data["model"].tolist() == [None, "b", "c"]


# --- merge_scout_results ----------------------------------------------------------------------


def test_merge_scout_results_without_inspect_scout_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "inspect_scout", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install inspect-scout"):
        PROCESSORS.build("merge_scout_results", {"scout_scan_path": "scans/x", "scanner_name": "loops"})


@pytest.fixture
def fake_scout(monkeypatch):
    """A stand-in for inspect_scout.scan_results_df: one scanner keyed by transcript_id in its
    metadata JSON, one keyed by a column."""
    results = {
        "loops": pd.DataFrame(
            {
                "transcript_metadata": ['{"sample_id": "s1"}', '{"sample_id": "s3"}', "not json"],
                "value": [True, False, True],
                "explanation": ["looped", "fine", "?"],
            }
        ),
        "tone": pd.DataFrame({"transcript_id": ["s2", "s2"], "value": [1, 2]}),
    }
    seen = []

    def scan_results_df(path):
        seen.append(path)
        return types.SimpleNamespace(scanners=results)

    monkeypatch.setitem(sys.modules, "inspect_scout", types.SimpleNamespace(scan_results_df=scan_results_df))
    return seen


def test_merge_scout_results_left_joins_prefixed_columns_from_metadata_keys(fake_scout):
    data = pd.DataFrame({"id": ["s1", "s2", "s3"], "score": [1.0, 0.0, 1.0]})
    state = run(data, "merge_scout_results", scout_scan_path="scans/abc", scanner_name="loops", join_on_left="id", join_on_right="sample_id")
    assert fake_scout == ["scans/abc"]
    merged = state.processed_data
    assert list(merged.columns) == ["id", "score", "loops_value", "loops_explanation"]  # no scan_model_usage column to keep
    assert merged["loops_value"].isna().tolist() == [False, True, False]  # s2 has no result: left join keeps it
    assert merged.loc[[0, 2], "loops_value"].tolist() == [True, False]
    assert merged.loc[[0, 2], "loops_explanation"].tolist() == ["looped", "fine"]
    assert any("matched 2/3 rows" in entry for _, entry in state.logs)


def test_merge_scout_results_prefix_columns_and_errors(fake_scout):
    data = pd.DataFrame({"transcript_id": ["s1", "s2"]})
    with pytest.raises(ProcessingError, match="no scanner 'loop' .*did you mean 'loops'"):
        run(data, "merge_scout_results", scout_scan_path="p", scanner_name="loop")
    with pytest.raises(ProcessingError, match="several 'tone' results"):
        run(data, "merge_scout_results", scout_scan_path="p", scanner_name="tone")
    state = run(
        data, "merge_scout_results", scout_scan_path="p", scanner_name="loops", join_on_right="sample_id", columns_to_keep=["value"], prefix="scout"
    )
    assert list(state.processed_data.columns) == ["transcript_id", "scout_value"]


# --- declarations and ProcessConfig -----------------------------------------------------------


def test_processors_declare_the_features_they_make():
    assert produced_features("extract_observed_feature", {}) == {"obs"}
    assert produced_features("groupby", {"groupby_columns": ["model"]}) == set()
    assert produced_features(
        "extract_features", {"categorical_features": ["group", "subgroup"], "continuous_features": ["n_total"], "interactions": True}
    ) == {
        "n_total",
        "group_index", "num_group", "subgroup_index", "num_subgroup",
        "group_n_total", "n_total_group", "subgroup_n_total", "n_total_subgroup",
        "group_subgroup_index", "num_group_subgroup", "group_subgroup_parent",
    }  # fmt: skip
    assert produced_features("not_a_processor", {}) is None
    assert feature_hint("num_grader") == feature_hint("grader_index") == "extract_features with categorical_features: [grader]"
    assert feature_hint("n_total") == "extract_features with continuous_features: [n_total]"


def test_declarations_match_what_extract_features_makes(judged):
    kwargs = {"categorical_features": ["grader", "item"], "continuous_features": ["length"], "interactions": True}
    state = run(judged, "extract_features", **kwargs)
    assert set(state.features) == produced_features("extract_features", kwargs)


def test_process_config_parses_the_data_process_section(tmp_path):
    custom = tmp_path / "custom_processors.py"
    custom.write_text(
        "from hibayes.process import DataProcessor, process\n\n"
        "@process\n"
        "def add_constant_column(name: str = 'c') -> DataProcessor:\n"
        "    def inner(state, display=None):\n"
        "        state.processed_data[name] = 1\n"
        "        return state\n"
        "    return inner\n"
    )
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "data_process:\n"
        "  path: custom_processors.py\n"
        "  processors:\n"
        "    - add_constant_column: {name: k}\n"
        "    - extract_features: {continuous_features: [k]}\n"
    )
    config = ProcessConfig.from_yaml(config_file)
    assert config.path == ("custom_processors.py",)
    assert config.processors == (("add_constant_column", {"name": "k"}), ("extract_features", {"continuous_features": ["k"]}))
    state = AnalysisState(data=pd.DataFrame({"x": [1, 2]}))
    for processor in config.enabled_processors:
        state = processor(state, None)
    assert values(state.features["k"]) == [1, 1]
    assert run_processors(AnalysisState(data=pd.DataFrame({"x": [1]})), config.processors).features["k"] is not None


def test_process_config_defaults_and_validation():
    defaults = ProcessConfig.from_dict(None)
    assert [name for name, _ in defaults.processors] == ["map_columns", "groupby", "extract_features", "extract_observed_feature"]
    as_mapping = ProcessConfig.from_dict({"processors": {"extract_observed_feature": {"feature_name": "n_correct"}}})
    assert as_mapping.processors == (("extract_observed_feature", {"feature_name": "n_correct"}),)
    with pytest.raises(ConfigError, match="unknown key in 'data_process' 'processor' \\(did you mean 'processors'"):
        ProcessConfig.from_dict({"processor": []})
