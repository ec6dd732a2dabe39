"""Predictive draws of identical rows as counts of values, not one value per row.

When identical rows were fitted once (`hibayes.model.aggregate`), the predictive checks need not
draw every row either. Given one draw's parameters, the c copies of a distinct row are c
independent draws from one distribution p; when the observed site takes few values (an ordinal
score, a binary outcome, a binomial count of few trials), how many copies took each value is one
Multinomial(c, p) draw. Those counts, (draws x distinct rows x values), are everything the per-row
draws say except the order of identical rows, so every statistic that ignores that order (a
draw's mean, histogram, quantiles, the pooled distribution a PPC plot shows) has exactly the
distribution it has on per-row draws, at the cost of the distinct rows. Per-row draws, where read
(`hibayes.idata.from_value_counts`), are the counts laid out in a random order within each
distinct row's copies: again exactly the joint distribution of drawing every row.

An observed site with many possible values (a Normal, a binomial of many trials) has no such
summary: its rows are drawn one by one as before (None here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hibayes.model.aggregate import OBSERVED_SITE, RowGroups

# Counts pay only while values x distinct rows stay well below the rows they stand for.
MAX_VALUES = 64


def value_probabilities(
    model_fn: Callable[[dict[str, Any]], None], grouped_features: dict[str, Any], n_distinct: int, draws: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray] | None:
    """(values (K,), probabilities (draws, distinct rows, K)): each draw's distribution of the
    observed site per distinct row, for the model on `grouped_features` with its latent sites set to
    `draws` ((draws, ...) arrays; the observed site's own left out); None when the site's values cannot be listed (continuous, too
    many, or not one value per row)."""
    import jax
    from numpyro import handlers

    latent = {name: value for name, value in draws.items() if name != OBSERVED_SITE}

    def observed_site(sample: dict[str, Any]) -> Any:
        seeded = handlers.seed(handlers.substitute(model_fn, sample), jax.random.PRNGKey(0))
        return handlers.trace(seeded).get_trace(grouped_features)[OBSERVED_SITE]["fn"]

    first = observed_site({name: value[0] for name, value in latent.items()})
    if not getattr(first, "has_enumerate_support", False) or first.event_shape != () or first.batch_shape != (n_distinct,):
        return None
    values = np.ravel(np.asarray(first.enumerate_support(expand=False)))
    if values.size > MAX_VALUES:
        return None
    support = values.reshape(-1, 1)
    # One compiled program: traced eagerly, every operation would compile on its own.
    log_p = jax.jit(jax.vmap(lambda sample: observed_site(sample).log_prob(support)))(latent)  # (draws, K, distinct)
    probabilities = np.exp(np.moveaxis(np.asarray(log_p, dtype=np.float64), 1, 2))
    probabilities[~np.isfinite(probabilities)] = 0.0  # a binomial row's counts above its own trials
    totals = probabilities.sum(axis=-1, keepdims=True)
    if not np.allclose(totals, 1.0, atol=1e-3):
        return None
    return values, probabilities / totals


def value_counts(probabilities: np.ndarray, groups: RowGroups, seed: int) -> np.ndarray:
    """(draws, distinct rows, K) counts: in each draw, how many of each distinct row's copies
    took each value, one Multinomial(copies, probabilities) draw per (draw, distinct row)."""
    copies = np.rint(groups.counts).astype(np.int64)
    return np.random.default_rng(seed).multinomial(copies, probabilities).astype(np.int32)
