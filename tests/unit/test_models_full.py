"""The built-in models recover known parameters from data simulated from their own generative
process, through the processors a HiBayES YAML would name; plus the model helpers and the
`missing_features` check. Small fits: 4 chains x (300 warmup + 300 draws), fixed seeds."""

import numpy as np
import pandas as pd
import pytest

from hibayes.analysis_state import AnalysisState, ModelAnalysisState
from hibayes.check import run_checker
from hibayes.config import FitConfig, ModelSpec, parse_analysis
from hibayes.model import MODELS, MissingFeatureError, check_features, fit_spec, missing_features
from hibayes.model.utils import cloglog_to_prob, create_interaction_effects, logit_to_prob, probit_to_prob
from hibayes.process import run_processors

FIT = FitConfig(samples=300, warmup=300, chains=4, seed=0, target_accept=0.95)


def fitted(name: str, kwargs: dict, state: AnalysisState, features: dict | None = None, coords: dict | None = None):
    spec = ModelSpec(name, kwargs=kwargs, fit=FIT)
    result = fit_spec(spec, features or state.features, state.coords if coords is None else coords, state.dims, "parallel")
    return result.inference_data


def posterior_mean(idata, var: str) -> np.ndarray:
    return idata.posterior[var].mean(("chain", "draw")).values


def binomial_rows(cells: dict[tuple, float], columns: list[str], n: int, seed: int) -> pd.DataFrame:
    """One 0/1 `score` row per trial: `n` trials per cell with success logit `cells[cell]`."""
    rng = np.random.default_rng(seed)
    frames = []
    for cell, logit in cells.items():
        k = rng.binomial(n, 1 / (1 + np.exp(-logit)))
        frame = pd.DataFrame({"score": np.r_[np.ones(k), np.zeros(n - k)]})
        frames.append(frame.assign(**dict(zip(columns, cell))))
    return pd.concat(frames, ignore_index=True)


# --- three-level nested models -----------------------------------------------------------------

# Unequal level counts (2 models, 3 domains, 4 difficulties) and an unbalanced tree: m1 has 2
# domains, m2 has 3; their domains have 1-3 difficulties. Deviations sum to zero within each
# parent, so each parent's effect is the mean of its children's, which is what data can show.
GROUP_TRUTH = {("m1",): -0.6, ("m2",): 0.7}
PAIR_DEVIATION = {("m1", "coding"): 0.3, ("m1", "maths"): -0.3, ("m2", "coding"): 0.4, ("m2", "maths"): -0.1, ("m2", "writing"): -0.3}
CELL_DEVIATION = {
    ("m1", "coding", "easy"): 0.2, ("m1", "coding", "hard"): -0.2, ("m1", "maths", "easy"): 0.0,
    ("m2", "coding", "easy"): 0.25, ("m2", "coding", "hard"): -0.25, ("m2", "coding", "medium"): 0.0,
    ("m2", "maths", "hard"): 0.0, ("m2", "writing", "easy"): 0.2, ("m2", "writing", "expert"): -0.2,
}  # fmt: skip
PAIR_TRUTH = {pair: GROUP_TRUTH[pair[:1]] + dev for pair, dev in PAIR_DEVIATION.items()}
CELL_TRUTH = {cell: PAIR_TRUTH[cell[:2]] + dev for cell, dev in CELL_DEVIATION.items()}

# HiBayES usecase2's processors, unchanged.
USECASE2_PROCESSORS = [
    ("map_columns", {"column_mapping": {"model": "group", "domain": "subgroup", "sub_domain": "subsubgroup"}}),
    ("groupby", {"groupby_columns": ["group", "subgroup", "subsubgroup"]}),
    ("extract_features", {"continuous_features": ["n_total"], "categorical_features": ["group", "subgroup", "subsubgroup"]}),
    ("extract_observed_feature", {"feature_name": "n_correct"}),
]


@pytest.fixture(scope="module")
def usecase2_state() -> AnalysisState:
    rows = binomial_rows(CELL_TRUTH, ["model", "domain", "sub_domain"], n=1000, seed=11)
    return run_processors(AnalysisState(data=rows), USECASE2_PROCESSORS)


def _labels(idata, var: str) -> list[str]:
    values = idata.posterior[var]
    return [str(v) for v in values.coords[values.dims[-1]].values]


def _assert_three_level_recovery(idata, labels: dict[str, list[str]]) -> None:
    # Cells carry 1000 trials each: posterior sd 0.06-0.08, so 0.25 is > 3 sd (observed: up to
    # 0.17, the binomial noise of this seed plus pooling toward the pair). Pairs and groups are
    # seen only through their 1-3 children, with level scales estimated from 9 cells and 5 pairs:
    # posterior sd 0.23-0.37 (pairs) and 0.33-0.47 (groups); observed errors up to 0.16 and 0.28.
    for var, truth, atol in (
        ("subsubgroup_effects", CELL_TRUTH, 0.25),
        ("subgroup_effects", PAIR_TRUTH, 0.35),
        ("group_effects", GROUP_TRUTH, 0.45),
    ):
        expected = np.array([truth[key] for key in sorted(truth)])
        assert labels[var] == [", ".join(key) for key in sorted(truth)]
        np.testing.assert_allclose(posterior_mean(idata, var), expected, atol=atol, err_msg=var)
    assert int(idata.sample_stats["diverging"].sum()) <= 5  # a funnel with 2 groups; observed: 1


def test_three_level_model_is_nested_and_labelled_with_unequal_level_counts(usecase2_state):
    state = usecase2_state
    assert (state.features["num_group"], state.features["num_subgroup"], state.features["num_subsubgroup"]) == (2, 3, 4)
    # HiBayES's crossed arrays would be 2x3 and 2x3x4 here, and its dims (subgroup_effects over
    # `subgroup`) would not fit them: ArviZ raised CoordinateValidationError.
    idata = fitted(
        "three_level_group_binomial",
        {"prior_sigma_group_scale": 1.0, "prior_sigma_subgroup_scale": 0.5, "prior_sigma_subsubgroup_scale": 0.5},
        state,
    )
    assert idata.posterior["subgroup_effects"].dims[-1] == "group_subgroup"
    assert idata.posterior["z_subsubgroup"].dims[-1] == "group_subgroup_subsubgroup"
    labels = {var: _labels(idata, var) for var in ("group_effects", "subgroup_effects", "subsubgroup_effects")}
    _assert_three_level_recovery(idata, labels)
    assert "obs" in idata.log_likelihood


def test_three_level_exponential_derives_the_nesting_from_plain_index_arrays(usecase2_state):
    # A custom processor that makes only HiBayES's features (no nested numbering, no labels).
    state = usecase2_state
    plain = {k: v for k, v in state.features.items() if not k.startswith(("group_subgroup", "num_group_subgroup"))}
    coords = {k: v for k, v in state.coords.items() if not k.startswith("group_subgroup")}
    idata = fitted("three_level_group_binomial_exponential", {}, state, features=plain, coords=coords)
    assert idata.posterior["subgroup_effects"].shape[-1] == 5 and idata.posterior["subsubgroup_effects"].shape[-1] == 9
    # Same numbering as extract_features makes, so the labels of the fit above apply.
    labels = {
        "group_effects": ["m1", "m2"],
        "subgroup_effects": [", ".join(key) for key in sorted(PAIR_TRUTH)],
        "subsubgroup_effects": [", ".join(key) for key in sorted(CELL_TRUTH)],
    }
    _assert_three_level_recovery(idata, labels)


# --- linear_group_binomial -----------------------------------------------------------------------


def test_linear_model_effect_coding_recovers_main_effects_and_interactions():
    intercept, group, task = 0.2, np.array([-0.5, 0.1, 0.4]), np.array([0.3, -0.1, -0.2])  # each sums to 0
    free = np.array([[0.3, -0.2], [-0.1, 0.25]])
    rows_done = np.c_[free, -free.sum(1)]
    interaction = np.r_[rows_done, -rows_done.sum(0, keepdims=True)]  # rows and columns sum to 0
    cells = {
        (g, t): intercept + group[i] + task[j] + interaction[i, j] for i, g in enumerate("abc") for j, t in enumerate(["t1", "t2", "t3"])
    }
    state = run_processors(
        AnalysisState(data=binomial_rows(cells, ["group", "task"], n=1000, seed=5)),
        [
            ("groupby", {"groupby_columns": ["group", "task"]}),
            ("extract_features", {"categorical_features": ["group", "task"], "continuous_features": ["n_total"], "effect_coding_for_main_effects": True, "interactions": True}),
            ("extract_observed_feature", {"feature_name": "n_correct"}),
        ],
    )  # fmt: skip
    idata = fitted("linear_group_binomial", {"main_effects": ["group", "task"], "interactions": [["group", "task"]]}, state)
    post = idata.posterior
    # 9 cells x 1000 trials for 9 parameters: sds are 0.03-0.07; 0.15 is > 2 sd for every one.
    np.testing.assert_allclose(posterior_mean(idata, "intercept"), intercept, atol=0.15)
    np.testing.assert_allclose(posterior_mean(idata, "group_effects"), group, atol=0.15)
    np.testing.assert_allclose(posterior_mean(idata, "task_effects"), task, atol=0.15)
    np.testing.assert_allclose(posterior_mean(idata, "group_task_effects"), interaction, atol=0.15)
    # The constraints hold in every draw, not just on average.
    np.testing.assert_allclose(post["group_effects"].sum("group"), 0, atol=1e-5)
    np.testing.assert_allclose(post["group_task_effects"].sum("group"), 0, atol=1e-5)
    np.testing.assert_allclose(post["group_task_effects"].sum("task"), 0, atol=1e-5)
    assert post["group_effects_constrained"].dims[-1] == "group_constrained"
    assert list(post["group_effects_constrained"].coords["group_constrained"].values) == ["a", "b"]
    assert post["group_task_effects"].dims[-2:] == ("group", "task")


def test_linear_model_dummy_coding_fixes_the_reference_level_at_zero():
    intercept = 0.3
    group = {"b": 0.0, "a": -0.7, "c": 0.4}  # b is the reference
    task = {"t1": 0.0, "t2": 0.5, "t3": -0.4}  # t1, first alphabetically, is the reference
    cells = {(g, t): intercept + group[g] + task[t] for g in group for t in task}
    state = run_processors(
        AnalysisState(data=binomial_rows(cells, ["group", "task"], n=1000, seed=6)),
        [
            ("groupby", {"groupby_columns": ["group", "task"]}),
            ("extract_features", {"categorical_features": ["group", "task"], "continuous_features": ["n_total"], "reference_categories": {"group": "b"}}),
            ("extract_observed_feature", {"feature_name": "n_correct"}),
        ],
    )  # fmt: skip
    assert state.coords["group"] == ["b", "a", "c"]
    kwargs = {"main_effects": ["group", "task"], "effect_coding_for_main_effects": False}
    idata = fitted("linear_group_binomial", kwargs, state)
    post = idata.posterior
    assert float(np.abs(post["group_effects"].sel(group="b")).max()) == 0.0
    assert post["group_effects_raw"].shape[-1] == 2
    # Differences from the reference: sd ~0.06-0.09 with 3000 trials per level; 0.2 is > 2 sd.
    np.testing.assert_allclose(posterior_mean(idata, "group_effects"), [0.0, -0.7, 0.4], atol=0.2)
    np.testing.assert_allclose(posterior_mean(idata, "task_effects"), [0.0, 0.5, -0.4], atol=0.2)
    np.testing.assert_allclose(posterior_mean(idata, "intercept"), intercept, atol=0.2)
    # HiBayES's r_hat failed on the constant reference level (NaN); ours leaves constant sites out.
    model_state = ModelAnalysisState("m", MODELS.build("linear_group_binomial", kwargs), None, state.features, inference_data=idata, is_fitted=True)
    outcome = run_checker("r_hat", {}, model_state)
    assert outcome.status == "pass", outcome.message


# --- ordered_logistic_model -----------------------------------------------------------------------

K = 11
CUTPOINT_DIFFS = np.array([0.5, 0.7, 0.6, 0.5, 0.8, 0.6, 0.7, 0.5, 0.6])  # typical LogNormal(-0.5, 0.3) draws
CUTPOINTS = np.r_[-4.0, -4.0 + np.cumsum(CUTPOINT_DIFFS + 0.3)]


def _ordinal_rows(n: int, seed: int) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    truth = {
        "intercept": 0.0,
        "grader": np.array([-0.5, 0.1, 0.4]),
        "item": np.array([0.3, -0.3]),
        "x_coef": 0.8,
        "w_coef": -0.5,
        "grader_item": np.array([[0.4, -0.4], [-0.3, 0.3], [-0.1, 0.1]]),
        "x_grader": np.array([0.3, -0.2, 0.0]),
        "grader_w": np.array([0.0, 0.25, -0.25]),
        "x_w": 0.3,
    }
    g, i = rng.integers(0, 3, n), rng.integers(0, 2, n)
    x, w = rng.normal(size=n), rng.normal(size=n)
    eta = (
        truth["intercept"] + truth["grader"][g] + truth["item"][i] + truth["x_coef"] * x + truth["w_coef"] * w
        + truth["grader_item"][g, i] + truth["x_grader"][g] * x + truth["grader_w"][g] * w + truth["x_w"] * x * w
    )  # fmt: skip
    below = 1 / (1 + np.exp(-(CUTPOINTS[None, :] - eta[:, None])))  # P(y <= k)
    score = (rng.uniform(size=n)[:, None] > below).sum(1)
    frame = pd.DataFrame({"grader": np.array(["claude", "gpt", "human"])[g], "item": np.array(["q1", "q2"])[i], "x": x, "w": w, "score": score})
    return frame, truth


def test_ordered_logistic_recovers_effects_interactions_and_cutpoints():
    rows, truth = _ordinal_rows(n=1200, seed=3)
    state = run_processors(
        AnalysisState(data=rows),
        [
            ("extract_observed_feature", {"feature_name": "score"}),
            ("extract_features", {"categorical_features": ["grader", "item"], "continuous_features": ["x", "w"], "interactions": True, "effect_coding_for_main_effects": True}),
        ],
    )  # fmt: skip
    kwargs = {
        "main_effects": ["grader", "item"],
        "continuous_effects": ["x", "w"],
        "interactions": [["grader", "item"], ["x", "grader"], ["grader", "w"], ["x", "w"]],
        "num_classes": K,
    }
    idata = fitted("ordered_logistic_model", kwargs, state)
    post = idata.posterior
    mean = lambda var: posterior_mean(idata, var)  # noqa: E731
    # Cutpoints are exactly [c1, c1 + cumsum(diffs + 0.3)] in every draw.
    rebuilt = np.concatenate(
        [post["first_cutpoint"].values[..., None], post["first_cutpoint"].values[..., None] + np.cumsum(post["cutpoint_diffs"].values + 0.3, -1)], -1
    )
    np.testing.assert_allclose(post["cutpoints"].values, rebuilt, atol=1e-5)
    assert post["cutpoints"].shape[-1] == K - 1
    # 1200 rows: posterior sds are 0.05-0.10 for the effects (tolerance 0.25, > 2.5 sd; observed
    # errors up to 0.13) and 0.06-0.15 for `cutpoints - intercept` (0.4; observed up to 0.17).
    # The intercept and the cutpoints' location are separated only by their priors (sd ~0.2-0.25
    # each): only `cutpoints - intercept` is pinned by data, each part gets 0.5 (2 sd).
    np.testing.assert_allclose((post["cutpoints"] - post["intercept"]).mean(("chain", "draw")), CUTPOINTS - truth["intercept"], atol=0.4)
    np.testing.assert_allclose(mean("intercept"), truth["intercept"], atol=0.5)
    np.testing.assert_allclose(mean("first_cutpoint"), CUTPOINTS[0], atol=0.5)
    np.testing.assert_allclose(mean("grader_effects"), truth["grader"], atol=0.25)
    np.testing.assert_allclose(mean("item_effects"), truth["item"], atol=0.25)
    np.testing.assert_allclose(mean("grader_item_effects"), truth["grader_item"], atol=0.25)
    np.testing.assert_allclose(mean("x_w_effects"), truth["x_w"], atol=0.25)
    # A per-level slope and the common slope are only separated by their priors: their sums
    # (each level's whole slope) are what the data identify.
    np.testing.assert_allclose((post["x_coef"] + post["x_grader_effects"]).mean(("chain", "draw")), truth["x_coef"] + truth["x_grader"], atol=0.25)
    np.testing.assert_allclose((post["w_coef"] + post["grader_w_effects"]).mean(("chain", "draw")), truth["w_coef"] + truth["grader_w"], atol=0.25)
    assert post["x_grader_effects"].dims[-1] == "grader" and post["grader_w_effects"].dims[-1] == "grader"
    assert list(post["grader_effects"].coords["grader"].values) == ["claude", "gpt", "human"]


def test_ordered_logistic_rejects_inconsistent_arguments_and_out_of_range_classes():
    from numpyro.handlers import seed, trace

    with pytest.raises(ValueError, match=r"\['x'\] cannot be both main_effects and continuous_effects"):
        MODELS.build("ordered_logistic_model", {"main_effects": ["x"], "continuous_effects": ["x"]})
    with pytest.raises(ValueError, match="at least 2"):
        MODELS.build("ordered_logistic_model", {"num_classes": 1})
    model = MODELS.build("ordered_logistic_model", {"continuous_effects": ["x"], "num_classes": 10})
    features = {"obs": np.array([1, 10]), "x": np.array([0.0, 1.0])}  # a 1-10 score with 10 classes
    with pytest.raises(ValueError, match=r"classes 0\.\.9 .* from 1 to 10"):
        seed(model, 0)(features)
    sites = trace(seed(MODELS.build("ordered_logistic_model", {"num_classes": 2}), 0)).get_trace({"obs": np.array([0, 1, 1])})
    assert sites["cutpoints"]["value"].shape == (1,) and "cutpoint_diffs" not in sites


# --- helpers ----------------------------------------------------------------------------------


def test_create_interaction_effects_sums_to_zero_both_ways():
    import numpyro.distributions as dist
    from numpyro.handlers import seed, trace

    def program():
        return create_interaction_effects("a", "b", {"num_a": 3, "num_b": 4}, dist.Normal(0, 1))

    sites = trace(seed(program, 1)).get_trace()
    matrix = np.asarray(sites["a_b_effects"]["value"])
    assert sites["a_b_effects_constrained"]["value"].shape == (6,)
    assert matrix.shape == (3, 4)
    np.testing.assert_allclose(matrix[:2, :3].ravel(), sites["a_b_effects_constrained"]["value"])
    np.testing.assert_allclose(matrix.sum(0), 0, atol=1e-6)
    np.testing.assert_allclose(matrix.sum(1), 0, atol=1e-6)
    single = seed(lambda: create_interaction_effects("a", "b", {"num_a": 1, "num_b": 4}, dist.Normal(0, 1)), 0)()
    assert np.asarray(single).tolist() == [[0.0] * 4]


def test_inverse_links():
    np.testing.assert_allclose(logit_to_prob([0.0, np.log(3)]), [0.5, 0.75])
    np.testing.assert_allclose(probit_to_prob([0.0, 1.0]), [0.5, 0.8413447], rtol=1e-6)
    np.testing.assert_allclose(cloglog_to_prob([0.0, -40.0]), [1 - np.exp(-1), np.exp(-40.0)], rtol=1e-9)


def test_check_features_error_is_also_a_value_error_like_hibayes():
    with pytest.raises(ValueError, match="missing features: n_total"):
        check_features({"obs": 1}, ["obs", "n_total"])
    with pytest.raises(MissingFeatureError):
        check_features({}, ["obs"])
    with pytest.raises(ValueError, match="list of pairs"):
        MODELS.build("linear_group_binomial", {"interactions": ["model", "task"]})


# --- missing_features --------------------------------------------------------------------------


def _config(processors: list, models: list) -> tuple:
    config = parse_analysis({"data_process": {"processors": processors}, "model": {"models": models}}, name="x")
    return config.processors, config.models


def test_hibayes_usecase_configs_have_every_feature_their_models_need():
    usecase1 = _config(
        [
            {"map_columns": {"column_mapping": {"domain": "group"}}},
            {"groupby": {"groupby_columns": ["group"]}},
            {"extract_features": {"continuous_features": ["n_total"], "categorical_features": ["group"]}},
            {"extract_observed_feature": {"feature_name": "n_correct"}},
        ],
        ["two_level_group_binomial", "simplified_group_binomial_exponential", {"name": "linear_group_binomial", "config": {"main_effects": ["group"]}}],
    )
    assert missing_features(*usecase1) == []
    usecase2 = (USECASE2_PROCESSORS, _config([], ["three_level_group_binomial", "three_level_group_binomial_exponential"])[1])
    assert missing_features(*usecase2) == []


def test_missing_features_names_the_processor_that_would_make_them():
    processors, models = _config(
        [{"extract_observed_feature": {"feature_name": "n_correct"}}],
        [
            {"name": "two_level_group_binomial", "config": {"tag": "v1"}},
            {"name": "ordered_logistic_model", "config": {"main_effects": ["grader"], "continuous_effects": ["length"], "interactions": [["grader", "LLM"]]}},
        ],
    )
    messages = missing_features(processors, models)
    assert messages == [
        "model 'two_level_group_binomialv1' needs features that no processor makes: `group_index`, `num_group` "
        "(extract_features with categorical_features: [group] would make them); `n_total` "
        "(extract_features with continuous_features: [n_total] would make it)",
        "model 'ordered_logistic_model' needs features that no processor makes: `LLM_index`, `num_LLM` "
        "(extract_features with categorical_features: [LLM] would make them); `grader_index`, `num_grader` "
        "(extract_features with categorical_features: [grader] would make them); `length` "
        "(extract_features with continuous_features: [length] would make it)",
    ]


def test_missing_features_cannot_judge_custom_processors_or_models():
    # A custom processor may make anything, and a custom model declares nothing.
    processors, models = _config([{"extract_observed_feature": {}}], ["two_level_group_binomial"])
    assert missing_features([("my_custom_processor", {}), *processors], models) == []
    assert missing_features(processors, [ModelSpec("my_custom_model")]) == []
    assert missing_features([], models)[0].startswith("model 'two_level_group_binomial' needs")
