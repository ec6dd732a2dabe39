"""The built-in NumPyro models, with HiBayES's names, arguments, defaults and site names. Each
builder takes its priors as arguments and returns `inner(features: dict) -> None`, a NumPyro
program whose observed site is `obs`.

Each builder declares (`declare_requires`) the features it needs for given arguments, so that
`missing_features` can check a config against its processors before any fit. A built model may
carry `dims` (site -> dimension names) that override the analysis's dims for its own sites.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hibayes.features import declare_requires, declared
from hibayes.model.utils import create_interaction_effects
from hibayes.process.encoding import HIERARCHY, nested_codes, nested_name
from hibayes.registry import Registry, make_decorator

Model = Callable[[dict[str, Any]], None]
MODELS: Registry[Model] = Registry("model")
model = make_decorator(MODELS)


class MissingFeatureError(KeyError, ValueError):
    """A KeyError for this project and a ValueError, which is what HiBayES's `check_features`
    raises and what users' custom code may catch."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_features(features: dict[str, Any], required: Iterable[str]) -> None:
    """Raise naming every required feature that the processors did not produce."""
    missing = [name for name in required if name not in features]
    if missing:
        raise MissingFeatureError(
            f"missing features: {', '.join(missing)} (present: {', '.join(sorted(features)) or 'none'})"
        )


def required_features(name: str, kwargs: Mapping[str, Any]) -> set[str] | None:
    """The features model `name` needs with `kwargs`; None when it is not registered or does not
    declare them (custom models)."""
    if name not in MODELS:
        return None
    return declared(MODELS.builder(name), "requires", kwargs)


def _categorical(names: Iterable[str]) -> list[str]:
    return [feature for name in names for feature in (f"{name}_index", f"num_{name}")]


def _pairs(interactions: Sequence[Sequence[str]] | None, who: str) -> list[tuple[str, str]]:
    pairs = []
    for pair in interactions or []:
        if isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"{who}: interactions must be a list of pairs, e.g. [[grader, LLM]]; got {pair!r}")
        pairs.append((pair[0], pair[1]))
    return pairs


def _concrete(values: Any) -> np.ndarray | None:
    """The values as NumPy, or None inside a JAX trace (features are concrete when NumPyro runs
    a model, but a user may trace one themselves)."""
    import jax

    return None if isinstance(values, jax.core.Tracer) else np.asarray(values)


GROUP_BINOMIAL_FEATURES = ("obs", "num_group", "group_index", "n_total")


@model
@declare_requires(lambda args: set(GROUP_BINOMIAL_FEATURES))
def two_level_group_binomial(
    prior_mu_overall_loc: float = 0.0,
    prior_mu_overall_scale: float = 1.0,
    prior_sigma_overall_scale: float = 0.5,
    prior_sigma_group_scale: float = 0.1,
) -> Model:
    """Binomial-logit model with an overall mean and group effects around it (HiBayES's default,
    including its redundant `overall_mean = mu_overall + sigma_overall * z_overall`)."""

    def inner(features: dict[str, Any]) -> None:
        import numpyro
        import numpyro.distributions as dist

        check_features(features, GROUP_BINOMIAL_FEATURES)
        mu_overall = numpyro.sample("mu_overall", dist.Normal(prior_mu_overall_loc, prior_mu_overall_scale))
        sigma_overall = numpyro.sample("sigma_overall", dist.HalfNormal(prior_sigma_overall_scale))
        z_overall = numpyro.sample("z_overall", dist.Normal(0, 1))
        overall_mean = numpyro.deterministic("overall_mean", mu_overall + sigma_overall * z_overall)
        sigma_group = numpyro.sample("sigma_group", dist.HalfNormal(prior_sigma_group_scale))
        z_group = numpyro.sample("z_group", dist.Normal(0, 1).expand([features["num_group"]]))
        group_effects = numpyro.deterministic("group_effects", overall_mean + sigma_group * z_group)
        _binomial(features, group_effects[features["group_index"]])

    return inner


@model
@declare_requires(lambda args: set(GROUP_BINOMIAL_FEATURES))
def simplified_group_binomial_exponential(
    prior_mu_overall_loc: float = 0.0,
    prior_mu_overall_scale: float = 1.0,
    prior_sigma_group_rate: float = 1.0,
) -> Model:
    """Binomial-logit model with non-centred group effects and an Exponential group scale."""

    def inner(features: dict[str, Any]) -> None:
        import numpyro
        import numpyro.distributions as dist

        check_features(features, GROUP_BINOMIAL_FEATURES)
        overall_mean = numpyro.sample("overall_mean", dist.Normal(prior_mu_overall_loc, prior_mu_overall_scale))
        sigma_group = numpyro.sample("sigma_group", dist.Exponential(prior_sigma_group_rate))
        z_group = numpyro.sample("z_group", dist.Normal(0, 1).expand([features["num_group"]]))
        group_effects = numpyro.deterministic("group_effects", overall_mean + sigma_group * z_group)
        _binomial(features, group_effects[features["group_index"]])

    return inner


def _binomial(features: dict[str, Any], logits: Any) -> None:
    """`obs ~ Binomial(n_total, sigmoid(logits))`, evaluated on the logit scale, which stays
    accurate where sigmoid rounds to 0 or 1."""
    import numpyro
    import numpyro.distributions as dist

    _check_counts(features.get("obs"), features["n_total"])
    numpyro.sample("obs", dist.Binomial(total_count=features["n_total"], logits=logits), obs=features["obs"])


def _check_counts(obs: Any, n_total: Any) -> None:
    """Successes must lie in 0..n_total: a count above its total (e.g. summed 0..10 ratings) has
    zero likelihood, which NUTS reports only as divergences and an r_hat failure."""
    values, totals = (None if v is None else _concrete(v) for v in (obs, n_total))
    if values is None or totals is None or not values.size:
        return
    values, totals = np.broadcast_arrays(np.ravel(values), np.ravel(totals))
    bad = (values < 0) | (values > totals)
    if np.any(bad):
        first = int(np.argmax(bad))
        raise ValueError(
            f"binomial models need 0 <= obs <= n_total; {int(bad.sum())} of {values.size} rows are not "
            f"(e.g. row {first}: obs {values[first]:g}, n_total {totals[first]:g}); are the summed scores 0/1? "
            "Rows scored on another scale (a 0..10 rating) need dropping first"
        )


THREE_LEVEL_FEATURES = (
    "obs",
    "n_total",
    "group_index",
    "num_group",
    "subgroup_index",
    "num_subgroup",
    "subsubgroup_index",
    "num_subsubgroup",
)
PAIRS, TRIPLES = nested_name(HIERARCHY[:2]), nested_name(HIERARCHY)
# Effects live on the observed (group, subgroup) pairs and (group, subgroup, subsubgroup)
# triples, labelled by the coords `extract_features` makes for them.
THREE_LEVEL_DIMS = {
    "group_effects": ["group"],
    "z_group": ["group"],
    "subgroup_effects": [PAIRS],
    "z_subgroup": [PAIRS],
    "subsubgroup_effects": [TRIPLES],
    "z_subsubgroup": [TRIPLES],
}


def _nesting(features: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Each pair's group, each triple's pair and each row's triple: from `extract_features`, or
    derived the same way from the three index arrays that a custom processor may have made."""
    if f"{TRIPLES}_index" in features:
        return features[f"{PAIRS}_parent"], features[f"{TRIPLES}_parent"], features[f"{TRIPLES}_index"]
    codes = [_concrete(features[f"{level}_index"]) for level in HIERARCHY]
    if any(code is None for code in codes):
        raise ValueError(
            f"three-level models need the features {PAIRS}_parent, {TRIPLES}_parent and {TRIPLES}_index "
            "(extract_features with categorical_features: [group, subgroup, subsubgroup] makes them) "
            "or concrete group/subgroup/subsubgroup index arrays to derive them from"
        )
    row_pair, pair_parent = nested_codes(codes[0], codes[1])
    row_triple, triple_parent = nested_codes(row_pair, codes[2])
    return pair_parent, triple_parent, row_triple


def _three_level(features: dict[str, Any], overall_mean_prior: Any, sigma_priors: Sequence[Any]) -> None:
    """overall_mean -> group -> (group, subgroup) pair -> (group, subgroup, subsubgroup) triple,
    each level non-centred around its parent; the triple's effect is the logit of its rows."""
    import numpyro
    import numpyro.distributions as dist

    check_features(features, THREE_LEVEL_FEATURES)
    pair_parent, triple_parent, row_triple = _nesting(features)
    effects = numpyro.sample("overall_mean", overall_mean_prior)
    sizes = (features["num_group"], np.shape(pair_parent)[0], np.shape(triple_parent)[0])
    for level, sigma_prior, size, parent in zip(HIERARCHY, sigma_priors, sizes, (None, pair_parent, triple_parent)):
        # Each level's effects are centred on their parent's (on the overall mean for groups).
        sigma = numpyro.sample(f"sigma_{level}", sigma_prior)
        z = numpyro.sample(f"z_{level}", dist.Normal(0, 1).expand([size]))
        centre = effects if parent is None else effects[parent]
        effects = numpyro.deterministic(f"{level}_effects", centre + sigma * z)
    _binomial(features, effects[row_triple])


@model
@declare_requires(lambda args: set(THREE_LEVEL_FEATURES))
def three_level_group_binomial(
    prior_overall_mean_loc: float = 0.0,
    prior_overall_mean_scale: float = 1.0,
    prior_sigma_group_scale: float = 0.1,
    prior_sigma_subgroup_scale: float = 0.1,
    prior_sigma_subsubgroup_scale: float = 0.1,
) -> Model:
    """Three-level nested binomial-logit model with HalfNormal level scales.

    Unlike HiBayES's fully crossed G x S x SS arrays, subgroup effects exist per observed
    (group, subgroup) pair and subsubgroup effects per observed triple, so unequal level counts
    work and every effect is labelled with the levels it belongs to.
    """

    def inner(features: dict[str, Any]) -> None:
        import numpyro.distributions as dist

        _three_level(
            features,
            dist.Normal(prior_overall_mean_loc, prior_overall_mean_scale),
            [
                dist.HalfNormal(prior_sigma_group_scale),
                dist.HalfNormal(prior_sigma_subgroup_scale),
                dist.HalfNormal(prior_sigma_subsubgroup_scale),
            ],
        )

    inner.dims = dict(THREE_LEVEL_DIMS)  # type: ignore[attr-defined]
    return inner


@model
@declare_requires(lambda args: set(THREE_LEVEL_FEATURES))
def three_level_group_binomial_exponential(
    prior_overall_mean_loc: float = 0.0,
    prior_overall_mean_scale: float = 1.0,
    prior_sigma_group_rate: float = 1.0,
    prior_sigma_subgroup_rate: float = 1.0,
    prior_sigma_subsubgroup_rate: float = 1.0,
) -> Model:
    """`three_level_group_binomial` with Exponential(rate) level scales."""

    def inner(features: dict[str, Any]) -> None:
        import numpyro.distributions as dist

        _three_level(
            features,
            dist.Normal(prior_overall_mean_loc, prior_overall_mean_scale),
            [
                dist.Exponential(prior_sigma_group_rate),
                dist.Exponential(prior_sigma_subgroup_rate),
                dist.Exponential(prior_sigma_subsubgroup_rate),
            ],
        )

    inner.dims = dict(THREE_LEVEL_DIMS)  # type: ignore[attr-defined]
    return inner


def _main_effect(name: str, features: dict[str, Any], effect_coding: bool, prior: Any) -> Any:
    """Per-row coefficient of categorical `name`, recorded as `{name}_effects` over its levels.

    Effect coding samples `{name}_effects_constrained` (n-1 values; the last level is minus their
    sum). Dummy coding samples `{name}_effects_raw` (n-1 values) and fixes the first level, the
    reference, at 0. A single level has nothing to estimate and gets 0.
    """
    import jax.numpy as jnp
    import numpyro

    n_levels = int(features[f"num_{name}"])
    if n_levels == 1:
        coefs = jnp.zeros(1)
    elif effect_coding:
        free = numpyro.sample(f"{name}_effects_constrained", prior.expand([n_levels - 1]))
        coefs = jnp.concatenate([free, -free.sum(keepdims=True)])
    else:
        raw = numpyro.sample(f"{name}_effects_raw", prior.expand([n_levels - 1]))
        coefs = jnp.concatenate([jnp.zeros(1), raw])
    return numpyro.deterministic(f"{name}_effects", coefs)[features[f"{name}_index"]]


def _linear_requires(args: Mapping[str, Any]) -> set[str]:
    pairs = _pairs(args["interactions"], "linear_group_binomial")
    names = [*(args["main_effects"] or []), *(name for pair in pairs for name in pair)]
    return {"obs", "n_total", *_categorical(names)}


@model
@declare_requires(_linear_requires)
def linear_group_binomial(
    main_effects: list[str] | None = None,
    interactions: list[list[str]] | None = None,
    effect_coding_for_main_effects: bool = True,
    prior_intercept_loc: float = 0.0,
    prior_intercept_scale: float = 1.0,
    prior_main_effects_loc: float = 0.0,
    prior_main_effects_scale: float = 0.5,
    prior_interaction_loc: float = 0.0,
    prior_interaction_scale: float = 0.3,
) -> Model:
    """Non-hierarchical binomial-logit GLM: intercept + coded categorical main effects +
    sum-to-zero categorical x categorical interactions."""
    mains = list(main_effects or [])
    pairs = _pairs(interactions, "linear_group_binomial")
    required = sorted(_linear_requires({"main_effects": mains, "interactions": pairs}))

    def inner(features: dict[str, Any]) -> None:
        import numpyro
        import numpyro.distributions as dist

        check_features(features, required)
        logits = numpyro.sample("intercept", dist.Normal(prior_intercept_loc, prior_intercept_scale))
        main_prior = dist.Normal(prior_main_effects_loc, prior_main_effects_scale)
        for name in mains:
            logits = logits + _main_effect(name, features, effect_coding_for_main_effects, main_prior)
        interaction_prior = dist.Normal(prior_interaction_loc, prior_interaction_scale)
        for a, b in pairs:
            matrix = create_interaction_effects(a, b, features, interaction_prior)
            logits = logits + matrix[features[f"{a}_index"], features[f"{b}_index"]]
        _binomial(features, logits)

    return inner


def _ordered_requires(args: Mapping[str, Any]) -> set[str]:
    continuous = list(args["continuous_effects"] or [])
    pairs = _pairs(args["interactions"], "ordered_logistic_model")
    named = [*(args["main_effects"] or []), *(name for pair in pairs for name in pair)]
    return {"obs", *continuous, *_categorical(n for n in named if n not in continuous)}


@model
@declare_requires(_ordered_requires)
def ordered_logistic_model(
    main_effects: list[str] | None = None,
    continuous_effects: list[str] | None = None,
    interactions: list[list[str]] | None = None,
    num_classes: int = 11,
    effect_coding_for_main_effects: bool = True,
    prior_intercept_loc: float = 0.0,
    prior_intercept_scale: float = 1.0,
    prior_main_effects_loc: float = 0.0,
    prior_main_effects_scale: float = 1.0,
    prior_continuous_loc: float = 0.0,
    prior_continuous_scale: float = 1.0,
    prior_interaction_loc: float = 0.0,
    prior_interaction_scale: float = 1.0,
    prior_first_cutpoint_loc: float = -4.0,
    prior_first_cutpoint_scale: float = 0.2,
    prior_cutpoint_diffs_loc: float = -0.5,
    prior_cutpoint_diffs_scale: float = 0.3,
    min_cutpoint_spacing: float = 0.3,
) -> Model:
    """Ordered-logistic regression of classes 0..num_classes-1.

    eta = intercept + coded main effects + `{x}_coef * x` + interactions: continuous x continuous a
    scalar `{a}_{b}_effects`, continuous x categorical a slope per level `{a}_{b}_effects`,
    categorical x categorical `create_interaction_effects`. Cutpoints: `first_cutpoint`, then
    `cutpoint_diffs + min_cutpoint_spacing` cumulated. The intercept and the cutpoints' location
    are separated only by their priors; the tight first-cutpoint prior is what identifies them.
    """
    mains = list(main_effects or [])
    continuous = list(continuous_effects or [])
    pairs = _pairs(interactions, "ordered_logistic_model")
    both = sorted(set(mains) & set(continuous))
    if both:
        raise ValueError(f"ordered_logistic_model: {both} cannot be both main_effects and continuous_effects")
    if num_classes < 2:
        raise ValueError(f"ordered_logistic_model: num_classes must be at least 2, got {num_classes}")
    required = sorted(_ordered_requires({"main_effects": mains, "continuous_effects": continuous, "interactions": pairs}))

    def inner(features: dict[str, Any]) -> None:
        import numpyro
        import numpyro.distributions as dist

        check_features(features, required)
        eta = numpyro.sample("intercept", dist.Normal(prior_intercept_loc, prior_intercept_scale))
        main_prior = dist.Normal(prior_main_effects_loc, prior_main_effects_scale)
        for name in mains:
            eta = eta + _main_effect(name, features, effect_coding_for_main_effects, main_prior)
        continuous_prior = dist.Normal(prior_continuous_loc, prior_continuous_scale)
        for name in continuous:
            eta = eta + numpyro.sample(f"{name}_coef", continuous_prior) * features[name]
        interaction_prior = dist.Normal(prior_interaction_loc, prior_interaction_scale)
        for a, b in pairs:
            eta = eta + _ordered_interaction(a, b, continuous, features, interaction_prior)
        cutpoints = _cutpoints(
            num_classes,
            dist.Normal(prior_first_cutpoint_loc, prior_first_cutpoint_scale),
            dist.LogNormal(prior_cutpoint_diffs_loc, prior_cutpoint_diffs_scale),
            min_cutpoint_spacing,
        )
        obs = _ordinal_obs(features["obs"], num_classes)
        numpyro.sample("obs", dist.OrderedLogistic(eta, cutpoints), obs=obs)

    return inner


def _ordered_interaction(a: str, b: str, continuous: list[str], features: dict[str, Any], prior: Any) -> Any:
    import numpyro

    if a in continuous and b in continuous:
        return numpyro.sample(f"{a}_{b}_effects", prior) * features[a] * features[b]
    if a in continuous or b in continuous:
        x, g = (a, b) if a in continuous else (b, a)
        slopes = numpyro.sample(f"{a}_{b}_effects", prior.expand([int(features[f"num_{g}"])]))
        return slopes[features[f"{g}_index"]] * features[x]
    matrix = create_interaction_effects(a, b, features, prior)
    return matrix[features[f"{a}_index"], features[f"{b}_index"]]


def _cutpoints(num_classes: int, first_prior: Any, diffs_prior: Any, min_spacing: float) -> Any:
    """[c1, c1 + cumsum(diffs + min_spacing)]: ordered, at least `min_spacing` apart."""
    import jax.numpy as jnp
    import numpyro

    first = numpyro.sample("first_cutpoint", first_prior)
    cutpoints = jnp.reshape(first, (1,))
    if num_classes > 2:
        diffs = numpyro.sample("cutpoint_diffs", diffs_prior.expand([num_classes - 2]))
        cutpoints = jnp.concatenate([cutpoints, first + jnp.cumsum(diffs + min_spacing)])
    return numpyro.deterministic("cutpoints", cutpoints)


def _ordinal_obs(obs: Any, num_classes: int) -> Any:
    """Observed classes as integers, checked to lie in 0..num_classes-1: OrderedLogistic would
    silently clamp an out-of-range class (e.g. a 1-10 score with num_classes 10) to the last one."""
    values = None if obs is None else _concrete(obs)
    if values is None:
        return obs
    if values.size and (np.any(np.mod(values, 1) != 0) or values.min() < 0 or values.max() >= num_classes):
        raise ValueError(
            f"ordered_logistic_model: obs must be whole classes 0..{num_classes - 1} (num_classes={num_classes}); "
            f"found values from {values.min()} to {values.max()}"
        )
    return values.astype(np.int32)
