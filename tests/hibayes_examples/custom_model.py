"""Test versions of the llm-as-a-judge examples' custom models, written against HiBayES's import
surface as a HiBayES user writes them."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from hibayes.model import Model, check_features, model
from hibayes.model.utils import create_interaction_effects


def _coded_effects(name, features, effect_coding, prior):
    n = int(features[f"num_{name}"])
    if effect_coding:
        free = numpyro.sample(f"{name}_effects_constrained", prior.expand([n - 1]))
        effects = jnp.concatenate([free, -free.sum(keepdims=True)])
    else:
        raw = numpyro.sample(f"{name}_effects_raw", prior.expand([n - 1]))
        effects = jnp.concatenate([jnp.zeros(1), raw])
    return numpyro.deterministic(f"{name}_effects", effects)


def _ordered_cutpoints(num_classes):
    first = numpyro.sample("first_cutpoint", dist.Normal(-4.0, 0.2))
    diffs = numpyro.sample("cutpoint_diffs", dist.LogNormal(-0.5, 0.3).expand([num_classes - 2]))
    return numpyro.deterministic("cutpoints", jnp.concatenate([first[None], first + jnp.cumsum(diffs + 0.3)]))


@model
def hierarchical_ordered_logistic_model(
    main_effects=None,
    interactions=None,
    num_classes: int = 11,
    effect_coding_for_main_effects: bool = True,
    prior_main_effects_scale: float = 1.0,
    prior_interaction_scale: float = 1.0,
) -> Model:
    """Ordered logistic regression whose grader effects are drawn around their grader type's
    mean (non-centred): grader effect = type mean + type sigma * raw."""
    main_effects = list(main_effects or [])
    interactions = [tuple(pair) for pair in interactions or []]

    def inner(features):
        check_features(features, ["obs", "grader_index", "num_grader", "grader_type_index", "num_grader_type"])
        grader_index = np.asarray(features["grader_index"])
        type_index = np.asarray(features["grader_type_index"])
        type_of_grader = np.zeros(int(features["num_grader"]), dtype=np.int32)
        type_of_grader[grader_index] = type_index

        type_effects = numpyro.sample("grader_type_effects", dist.Normal(0, 3).expand([int(features["num_grader_type"])]))
        type_sigmas = numpyro.sample("grader_type_sigmas", dist.HalfCauchy(1).expand([int(features["num_grader_type"])]))
        raw = numpyro.sample("grader_raw_effects", dist.Normal(0, 1).expand([int(features["num_grader"])]))
        grader_effects = numpyro.deterministic(
            "grader_effects", type_effects[type_of_grader] + type_sigmas[type_of_grader] * raw
        )
        numpyro.deterministic("grader_type_differences", type_effects[1:] - type_effects[0])

        eta = grader_effects[grader_index]
        for name in main_effects:
            if name == "grader":
                continue
            check_features(features, [f"{name}_index", f"num_{name}"])
            effects = _coded_effects(name, features, effect_coding_for_main_effects, dist.Normal(0, prior_main_effects_scale))
            eta = eta + effects[features[f"{name}_index"]]
        for a, b in interactions:
            matrix = create_interaction_effects(a, b, features, dist.Normal(0, prior_interaction_scale))
            eta = eta + matrix[features[f"{a}_index"], features[f"{b}_index"]]

        cutpoints = _ordered_cutpoints(num_classes)
        obs = features["obs"]
        numpyro.sample("obs", dist.OrderedLogistic(eta, cutpoints), obs=None if obs is None else jnp.asarray(obs, dtype=jnp.int32))

    return inner


@model
def pairwise_logistic_model(
    main_effects=None,
    effect_coding_for_main_effects: bool = True,
    prior_intercept_scale: float = 1.0,
    prior_main_effects_scale: float = 1.0,
) -> Model:
    """P(the first response is chosen): intercept + llm_pair and grader effects, and with
    `length_diff` among the main effects a per-grader slope on the (standardised) length
    difference, drawn around a shared mean."""
    main_effects = list(main_effects or [])
    categorical = [name for name in main_effects if name != "length_diff"]

    def inner(features):
        check_features(features, ["obs", *(f"{name}_index" for name in categorical)])
        logits = numpyro.sample("intercept", dist.Normal(0, prior_intercept_scale))
        for name in categorical:
            effects = _coded_effects(name, features, effect_coding_for_main_effects, dist.Normal(0, prior_main_effects_scale))
            logits = logits + effects[features[f"{name}_index"]]
        if "length_diff" in main_effects:
            check_features(features, ["length_diff", "grader_index", "num_grader"])
            slope_mean = numpyro.sample("length_slope_mean", dist.Normal(0, 1))
            slope_sigma = numpyro.sample("length_slope_sigma", dist.HalfNormal(1))
            slopes = numpyro.sample(
                "grader_length_diff_effects", dist.Normal(slope_mean, slope_sigma).expand([int(features["num_grader"])])
            )
            logits = logits + slopes[features["grader_index"]] * features["length_diff"]
        numpyro.sample("obs", dist.Bernoulli(logits=logits), obs=features["obs"])

    return inner
