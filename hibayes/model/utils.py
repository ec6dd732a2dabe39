"""Helpers that HiBayES users' custom models import: sum-to-zero interaction effects and the
inverse links used to show logit/probit/cloglog-scale parameters as probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np


def create_interaction_effects(name1: str, name2: str, features: dict[str, Any], prior: Any) -> Any:
    """The n1 x n2 interaction matrix of two categorical features, with every row and column
    summing to zero so that it does not absorb the main effects.

    Samples `{name1}_{name2}_effects_constrained` ((n1-1)(n2-1) free values) from `prior`,
    completes the last column and row, and records the matrix as `{name1}_{name2}_effects`.
    With a single level on either side there is nothing to estimate: it returns zeros.
    """
    import jax.numpy as jnp
    import numpyro

    n1, n2 = int(features[f"num_{name1}"]), int(features[f"num_{name2}"])
    if n1 == 1 or n2 == 1:
        return jnp.zeros((n1, n2))
    free = numpyro.sample(f"{name1}_{name2}_effects_constrained", prior.expand([(n1 - 1) * (n2 - 1)]))
    free = free.reshape((n1 - 1, n2 - 1))
    rows = jnp.concatenate([free, -free.sum(axis=1, keepdims=True)], axis=1)  # each row sums to 0
    full = jnp.concatenate([rows, -rows.sum(axis=0, keepdims=True)], axis=0)  # each column too
    return numpyro.deterministic(f"{name1}_{name2}_effects", full)


def logit_to_prob(x: Any) -> np.ndarray:
    from scipy.special import expit

    return expit(x)


def probit_to_prob(x: Any) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr(x)


def cloglog_to_prob(x: Any) -> np.ndarray:
    """Inverse complementary log-log: 1 - exp(-exp(x)), written with expm1 to keep precision
    for very negative x. NumPy ufuncs only, so an xarray Dataset (ArviZ's `transform`) stays one."""
    return -np.expm1(-np.exp(x))
