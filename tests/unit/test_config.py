from pathlib import Path

import pytest

from hibayes.config import ConfigError, load_analysis, parse_analysis

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "analyses"


def test_example_analysis_parses():
    config = load_analysis(EXAMPLES / "model_comparison.yaml")
    assert config.name == "model_comparison"
    assert config.model_names == ["two_level_group_binomial", "simplified_group_binomial_exponential"]
    two_level = config.model("two_level_group_binomial")
    assert two_level.kwargs == {"prior_sigma_group_scale": 1.0}
    assert two_level.fit.target_accept == 0.99
    assert config.checker_kwargs("ess_bulk") == {"threshold": 400}


def test_all_three_component_list_forms_are_accepted():
    forms = [
        ["groupby", {"extract_observed_feature": {"feature_name": "n_correct"}}],
        {"groupby": None, "extract_observed_feature": {"feature_name": "n_correct"}},
    ]
    for processors in forms:
        config = parse_analysis({"data_process": {"processors": processors}}, name="x")
        assert config.processors == [("groupby", {}), ("extract_observed_feature", {"feature_name": "n_correct"})]


def test_model_forms_tags_and_a_model_entry_without_config():
    config = parse_analysis(
        {"model": {"models": [{"name": "two_level_group_binomial"}, {"name": "two_level_group_binomial", "config": {"tag": "v2"}}]}},
        name="x",
    )
    assert config.model_names == ["two_level_group_binomial", "two_level_group_binomial" + "v2"]


def test_empty_config_gets_defaults():
    config = parse_analysis({}, name="empty")
    assert config.model_names == ["two_level_group_binomial"]
    assert [name for name, _ in config.checkers] == ["r_hat", "ess_bulk", "divergences"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"modle": {}}, "unknown top-level key 'modle' (did you mean 'model'?)"),
        ({"data_process": {"procesors": []}}, "did you mean 'processors'?"),
        ({"model": {"models": [{"name": "m", "config": {"fit": {"sample": 10}}}]}}, "'sample' (did you mean 'samples'?)"),
        ({"model": {"models": [{"name": "m", "config": {"tag": "a"}}, {"name": "m", "config": {"tag": "a"}}]}}, "appears twice"),
    ],
)
def test_bad_keys_name_the_file_and_suggest(tmp_path, raw, expected):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_analysis(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)
