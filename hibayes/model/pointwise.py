"""The pointwise log-likelihood of binomial counts, one entry per trial.

The accuracy models see each group's samples as one binomial count (k correct of n). LOO on those
counts leaves out a whole group at a time: with a handful of groups every Pareto k is high and
the estimate is unreliable, and it answers a question nobody asked. Per trial, it leaves out one
sample: k entries of log p and n - k entries of log(1 - p) for the row's success probability p.
Their sum is the binomial log-likelihood less the constant log C(n, k): the fit is unchanged, and
the elpd measures how well a model predicts a new sample.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

OBSERVED_SITE = "obs"
# Beyond this many draws x trials (float64), keep one entry per binomial row instead.
MAX_ENTRIES = 25_000_000


def per_trial_log_likelihood(
    model_fn: Callable[[dict[str, Any]], None], features: dict[str, Any], draws: dict[str, np.ndarray], chains: int
) -> np.ndarray | None:
    """(chains, draws, trials) log-likelihoods of each trial behind the binomial `obs`, or None
    when `obs` is not binomial counts of more than one trial (nothing to expand) or when the
    result would be too large. `draws` are the posterior's (chain * draw, ...) arrays."""
    observed, totals = features.get(OBSERVED_SITE), features.get("n_total")
    if observed is None or totals is None:
        return None
    successes = np.asarray(observed)
    if successes.ndim != 1 or not np.all(np.mod(successes, 1) == 0):
        return None
    trials = np.broadcast_to(np.asarray(totals), successes.shape).astype(np.int64)
    successes = successes.astype(np.int64)
    if trials.max(initial=0) <= 1 or np.any(successes < 0) or np.any(successes > trials):
        return None
    n_draws = len(next(iter(draws.values())))
    if n_draws * int(trials.sum()) > MAX_ENTRIES:
        log.info("pointwise log-likelihood kept per binomial row: %d draws x %d trials is too large", n_draws, trials.sum())
        return None
    logits = _row_logits(model_fn, features, draws)
    if logits is None:
        return None
    from scipy.special import log_expit

    rows = np.repeat(np.arange(len(successes)), trials)
    is_success = np.arange(len(rows)) - np.repeat(np.cumsum(trials) - trials, trials) < successes[rows]
    values = np.where(is_success, log_expit(logits[:, rows]), log_expit(-logits[:, rows]))
    return values.reshape(chains, n_draws // chains, -1)


def _row_logits(model_fn: Callable[[dict[str, Any]], None], features: dict[str, Any], draws: dict[str, np.ndarray]) -> np.ndarray | None:
    """Each draw's logit of success per row, read off the observed site's Binomial."""
    import jax
    import numpyro.distributions as dist
    from numpyro import handlers

    def observed_site(sample: dict[str, Any]) -> Any:
        seeded = handlers.seed(handlers.substitute(model_fn, sample), jax.random.PRNGKey(0))
        return handlers.trace(seeded).get_trace(features)[OBSERVED_SITE]["fn"]

    first = observed_site({name: values[0] for name, values in draws.items()})
    if isinstance(first, dist.BinomialLogits):
        return np.asarray(jax.vmap(lambda s: observed_site(s).logits)(draws), dtype=np.float64)
    if isinstance(first, dist.BinomialProbs):
        from scipy.special import logit

        return logit(np.asarray(jax.vmap(lambda s: observed_site(s).probs)(draws), dtype=np.float64))
    return None
