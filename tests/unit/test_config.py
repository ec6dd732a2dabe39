from pathlib import Path

import pytest

from hibayes.config import ConfigError, load_analysis, parse_analysis
from hibayes.load import DataLoaderConfig

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


def write(tmp_path, raw):
    import yaml

    path = tmp_path / "analysis.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def one_model(fit=None, **config):
    return {"model": {"models": [{"name": "two_level_group_binomial", "config": {**config, "fit": fit or {}}}]}}


@pytest.mark.parametrize(
    "fit, expected",
    [
        ({"samples": "many"}, "'fit.samples' of model 'two_level_group_binomial' must be a whole number from 1"),
        ({"samples": -5}, "'fit.samples'"),
        ({"samples": 1e11}, "'fit.samples'"),
        ({"warmup": -1}, "'fit.warmup'"),
        ({"chains": 0}, "'fit.chains'"),
        ({"chains": -2}, "'fit.chains'"),
        ({"chains": 2.5}, "'fit.chains'"),
        ({"chains": 10_000}, "'fit.chains'"),
        ({"seed": "abc"}, "'fit.seed'"),
        ({"target_accept": "high"}, "'fit.target_accept' of model 'two_level_group_binomial' must be a number between 0 and 1"),
        ({"target_accept": 1.0}, "'fit.target_accept'"),
        ({"max_tree_depth": 0}, "'fit.max_tree_depth'"),
        ({"init_strategy": "medain"}, "'fit.init_strategy' of model 'two_level_group_binomial' must be one of median"),
        ({"method": "NUTZ"}, "(did you mean 'NUTS'?)"),
        ({"progress_bar": "no"}, "'fit.progress_bar'"),
        ({"warm_start": "off"}, "'fit.warm_start'"),
        ({"warm_start_warmup": 0}, "'fit.warm_start_warmup'"),
    ],
)
def test_bad_fit_values_are_config_errors_naming_the_file_and_field(tmp_path, fit, expected):
    path = write(tmp_path, one_model(fit))
    with pytest.raises(ConfigError) as err:
        load_analysis(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_the_warm_start_settings_the_readme_documents_are_read(tmp_path, monkeypatch):
    (spec,) = load_analysis(write(tmp_path, one_model({"warm_start": False, "warm_start_warmup": 80}))).models
    assert spec.fit.warm_start is False and spec.fit.warm_start_warmup == 80
    monkeypatch.setenv("HIBAYES_FIT_OVERRIDE", "warm_start=false")
    (spec,) = load_analysis(write(tmp_path, one_model())).models
    assert spec.fit.warm_start is False


@pytest.mark.parametrize(
    "config, expected",
    [
        ({"prior_sigma_group_scale": "wide"}, "prior 'prior_sigma_group_scale' of model 'two_level_group_binomial' must be a number"),
        ({"prior_mu_overall_loc": [0.0, "x"]}, "prior 'prior_mu_overall_loc'"),
        ({"extra_kwargs": {"prior_mu_overall_loc": None}}, "prior 'prior_mu_overall_loc'"),
        ({"prior_sigma_group_scale": -1.0}, "prior 'prior_sigma_group_scale' of model 'two_level_group_binomial' must be positive"),
    ],
)
def test_bad_prior_values_are_config_errors(tmp_path, config, expected):
    path = write(tmp_path, one_model(**config))
    with pytest.raises(ConfigError) as err:
        load_analysis(path)
    assert expected in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"base_extractor": {"key": 3}}, "'key' of extractor 'base_extractor' in 'data_loader.extractors.enabled' must be text, got 3"),
        ({"base_extractor": {"scorer": ["a", "b"]}}, "'scorer' of extractor 'base_extractor'"),
        ({"base_extractor": {"scorer": ""}}, "'scorer' of extractor 'base_extractor'"),
        ({"base_extractor": {"kee": "accuracy"}}, "unknown argument 'kee' of extractor 'base_extractor' in "
         "'data_loader.extractors.enabled' (did you mean 'key'?); it takes: scorer, key"),
        ({"score_normalizer": {"key": {"a": 1}}}, "'key' of extractor 'score_normalizer'"),
        ({"score_normalizer": {"normalise_to_01": True}}, "(did you mean 'normalize_to_01'?)"),
    ],
)
def test_bad_score_choices_are_config_errors_naming_the_file_and_field(tmp_path, entry, expected):
    path = write(tmp_path, {"data_loader": {"extractors": {"enabled": [entry]}}})
    for parse in (load_analysis, DataLoaderConfig.from_yaml):  # the assets' and the loader's (CLI's) parsers
        with pytest.raises(ConfigError) as err:
            parse(path)
        assert expected in str(err.value) and str(path) in str(err.value)


def test_a_scorer_and_a_key_of_its_dict_scores_parse(tmp_path):
    enabled = [{"base_extractor": {"scorer": "graded", "key": "accuracy"}}, {"score_normalizer": {"key": "f1", "scorer": None}}]
    path = write(tmp_path, {"data_loader": {"extractors": {"enabled": enabled}}})
    expected = [("base_extractor", {"scorer": "graded", "key": "accuracy"}), ("score_normalizer", {"key": "f1", "scorer": None})]
    assert load_analysis(path).extractors == expected
    assert list(DataLoaderConfig.from_yaml(path).extractors) == expected


def test_good_fit_and_prior_values_parse_with_whole_numbers_as_ints(tmp_path):
    fit = {"samples": 1.0e3, "warmup": 0, "chains": 2, "seed": 7, "method": "nuts", "target_accept": 0.9, "max_tree_depth": 12}
    config = load_analysis(write(tmp_path, one_model(fit, prior_mu_overall_loc=-1, prior_sigma_group_scale=[0.5, 1])))
    spec = config.models[0]
    assert spec.fit.samples == 1000 and isinstance(spec.fit.samples, int)
    assert (spec.fit.warmup, spec.fit.chains, spec.fit.method) == (0, 2, "nuts")
    assert spec.kwargs == {"prior_mu_overall_loc": -1, "prior_sigma_group_scale": [0.5, 1]}


def test_a_bad_fit_override_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HIBAYES_FIT_OVERRIDE", "chains=0")
    with pytest.raises(ConfigError, match=r"'fit.chains' of model 'two_level_group_binomial' \(from HIBAYES_FIT_OVERRIDE\)"):
        load_analysis(write(tmp_path, one_model()))


@pytest.mark.parametrize(
    "platform, expected",
    [
        ({"num_devices": -2}, "'platform.num_devices'"),
        ({"chain_method": "paralel"}, "(did you mean 'parallel'?)"),
        ({"device_type": "gpuu"}, "'platform.device_type' must be one of cpu, gpu, got 'gpuu' (did you mean 'gpu'?)"),
        ({"device_type": "tpu"}, "'platform.device_type' must be one of cpu, gpu, got 'tpu'"),
    ],
)
def test_bad_platform_values_are_config_errors(tmp_path, platform, expected):
    path = write(tmp_path, {"platform": platform})
    with pytest.raises(ConfigError) as err:
        load_analysis(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_unknown_checkers_and_communicators_are_config_errors_unless_custom_files_may_define_them(tmp_path):
    path = write(tmp_path, {"check": {"checkers": ["divergences", "r_hatt"]}})
    with pytest.raises(ConfigError) as err:
        load_analysis(path)
    assert f"{path}: unknown checker 'r_hatt' in 'check.checkers' (did you mean 'r_hat'?)" in str(err.value)
    path = write(tmp_path, {"communicate": {"communicators": {"forrest_plot": {}}}})
    with pytest.raises(ConfigError, match=r"unknown communicator 'forrest_plot' .*\(did you mean 'forest_plot'\?\)"):
        load_analysis(path)
    # A custom file may register the name; it is checked once the file is imported (the CLI does).
    config = parse_analysis({"check": {"path": "my_checks.py", "checkers": ["my_check"]}}, name="x")
    assert config.checkers == [("my_check", {})]


def test_the_compare_section_is_optional_and_parses():
    default = parse_analysis({}, name="no_section").compare
    assert (default.score, default.item, default.cluster, default.contrasts, default.posterior) == ("score", None, "task", None, None)
    assert not default.cluster_given
    assert load_analysis(EXAMPLES / "model_comparison.yaml").compare == default  # the examples, written without it, keep the defaults
    raw = {
        **one_model(tag="_wide"),
        "compare": {"score": "rating", "item": "sample_id", "cluster": None, "contrasts": [["aurora", "borealis"]],
                    "posterior": "two_level_group_binomial_wide"},
    }
    written = parse_analysis(raw, name="x").compare
    assert (written.score, written.item, written.cluster, written.cluster_given) == ("rating", "sample_id", None, True)
    assert written.contrasts == (("aurora", "borealis"),) and written.posterior == "two_level_group_binomial_wide"


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"clustre": "task"}, "unknown key in 'compare' 'clustre' (did you mean 'cluster'?)"),
        ({"score": 3}, "'compare.score' must be text, got 3"),
        ({"contrasts": "aurora,borealis"}, "'compare.contrasts' must be a non-empty list of [A, B] pairs"),
        ({"contrasts": [["aurora"]]}, "'compare.contrasts': each entry must be a pair of model names [A, B], got ['aurora']"),
        ({"contrasts": [["aurora", "aurora"]]}, "compares a model with itself"),
        ({"posterior": "two_level_group_binomal"}, "'compare.posterior' names no model of the analysis: "
         "'two_level_group_binomal' (did you mean 'two_level_group_binomial'?)"),
    ],
)
def test_bad_compare_values_are_config_errors_naming_the_file_and_field(tmp_path, section, expected):
    path = write(tmp_path, {**one_model(), "compare": section})
    with pytest.raises(ConfigError) as err:
        load_analysis(path)
    assert expected in str(err.value) and str(path) in str(err.value)
