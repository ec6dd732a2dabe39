"""The built-in NumPyro models. Each builder takes its priors as arguments and returns
`inner(features: dict) -> None`, a NumPyro program whose observed site is `obs`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hibayes.registry import Registry, make_decorator

Model = Callable[[dict[str, Any]], None]
MODELS: Registry[Model] = Registry("model")
model = make_decorator(MODELS)


class MissingFeatureError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def check_features(features: dict[str, Any], required: Iterable[str]) -> None:
    """Raise naming every required feature that the processors did not produce."""
    missing = [name for name in required if name not in features]
    if missing:
        raise MissingFeatureError(
            f"missing features: {', '.join(missing)} (present: {', '.join(sorted(features)) or 'none'})"
        )


GROUP_BINOMIAL_FEATURES = ("obs", "num_group", "group_index", "n_total")


@model
def two_level_group_binomial(
    prior_mu_overall_loc: float = 0.0,
    prior_mu_overall_scale: float = 1.0,
    prior_sigma_overall_scale: float = 0.5,
    prior_sigma_group_scale: float = 0.1,
) -> Model:
    """Binomial-logit model with an overall mean and group effects around it (HiBayES's default)."""

    def inner(features: dict[str, Any]) -> None:
        import numpyro
        import numpyro.distributions as dist
        from jax.nn import sigmoid

        check_features(features, GROUP_BINOMIAL_FEATURES)
        mu_overall = numpyro.sample("mu_overall", dist.Normal(prior_mu_overall_loc, prior_mu_overall_scale))
        sigma_overall = numpyro.sample("sigma_overall", dist.HalfNormal(prior_sigma_overall_scale))
        z_overall = numpyro.sample("z_overall", dist.Normal(0, 1))
        overall_mean = numpyro.deterministic("overall_mean", mu_overall + sigma_overall * z_overall)
        sigma_group = numpyro.sample("sigma_group", dist.HalfNormal(prior_sigma_group_scale))
        with numpyro.plate("groups", features["num_group"]):
            z_group = numpyro.sample("z_group", dist.Normal(0, 1))
        group_effects = numpyro.deterministic("group_effects", overall_mean + sigma_group * z_group)
        logits = group_effects[features["group_index"]]
        numpyro.sample("obs", dist.Binomial(features["n_total"], probs=sigmoid(logits)), obs=features.get("obs"))

    return inner


@model
def simplified_group_binomial_exponential(
    prior_mu_overall_loc: float = 0.0,
    prior_mu_overall_scale: float = 1.0,
    prior_sigma_group_rate: float = 1.0,
) -> Model:
    """Binomial-logit model with non-centred group effects and an Exponential group scale."""

    def inner(features: dict[str, Any]) -> None:
        import numpyro
        import numpyro.distributions as dist
        from jax.nn import sigmoid

        check_features(features, GROUP_BINOMIAL_FEATURES)
        overall_mean = numpyro.sample("overall_mean", dist.Normal(prior_mu_overall_loc, prior_mu_overall_scale))
        sigma_group = numpyro.sample("sigma_group", dist.Exponential(prior_sigma_group_rate))
        with numpyro.plate("groups", features["num_group"]):
            z_group = numpyro.sample("z_group", dist.Normal(0, 1))
        group_effects = numpyro.deterministic("group_effects", overall_mean + sigma_group * z_group)
        logits = group_effects[features["group_index"]]
        numpyro.sample("obs", dist.Binomial(features["n_total"], probs=sigmoid(logits)), obs=features.get("obs"))

    return inner
