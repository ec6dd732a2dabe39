"""The pointwise log-likelihood that LOO and WAIC use: one entry per observation, stored weighted.

The accuracy models see each group's samples as one binomial count (k correct of n). LOO on those
counts leaves out a whole group at a time: with a handful of groups every Pareto k is high and
the estimate is unreliable, and it answers a question nobody asked. Per trial, it leaves out one
sample: k entries of log p and n - k entries of log(1 - p) for the row's success probability p.
Their sum is the binomial log-likelihood less the constant log C(n, k): the fit is unchanged, and
the elpd measures how well a model predicts a new sample.

Those per-trial entries take two values per row, so they are stored as at most two columns per
row with the number of trials each stands for (`hibayes.idata.TrialGroups`), never as
(chains x draws x trials) floats: 1M trials in 200 cells are 400 columns. Identical rows fitted
once (`hibayes.model.aggregate`) are likewise one column weighted by their count, instead of being
expanded back to one column per row. `hibayes.idata.information_criterion` gives on these columns
exactly what ArviZ gives on the per-observation matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hibayes.idata import TrialGroups
from hibayes.model.aggregate import RowGroups
from hibayes.threads import map_on_cores, usable_cores

OBSERVED_SITE = "obs"


def weighted_log_likelihood(
    model_fn: Callable[[dict[str, Any]], None],
    features: dict[str, Any],
    row_groups: RowGroups | None,
    draws: dict[str, np.ndarray],
    row_log_likelihood: np.ndarray,
) -> tuple[np.ndarray, TrialGroups] | None:
    """((chains, draws, columns) log-likelihoods, their groups) for the fit of `model_fn` on
    `features` (sampled on `row_groups`' distinct rows when given), or None when each fitted row is
    already one observation and no rows were grouped: the fit's own log-likelihood is then the
    per-observation one.

    `draws` are the posterior's (chain * draw, ...) arrays of the sampled model and
    `row_log_likelihood` its (chains, draws, sampled rows) log-likelihood of `obs`. Binomial rows
    of more than one trial become success and failure columns, grouped rows one column per
    distinct row. A binomial likelihood whose success probability cannot be read off the observed
    site keeps one entry per row (the whole count), and so does a multivariate `obs` unless its
    rows were grouped (then None: its rows are expanded back)."""
    observed = np.asarray(features[OBSERVED_SITE])
    n_rows = len(observed)
    distinct_row = row_groups.inverse if row_groups is not None else np.arange(n_rows)
    sampled_features = row_groups.grouped_features(features) if row_groups is not None else features
    counts = _binomial_counts(features)
    if counts is not None and counts[1].max(initial=0) > 1:
        logits = row_logits(model_fn, sampled_features, draws)
        if logits is not None:
            return _trial_columns(counts, distinct_row, logits, row_log_likelihood.shape[:2])
    if row_groups is None or row_log_likelihood.ndim != 3:
        return None
    # Each distinct row (0..n-1, in order of first occurrence) is its own column; in float64, as
    # the binomial columns are, so that weighted sums lose nothing to the float32 of the sampler.
    return row_log_likelihood.astype(np.float64), TrialGroups(np.arange(n_rows), observed, np.ones(n_rows, dtype=np.int64), distinct_row)


def _binomial_counts(features: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(successes, trials) per row when `obs` holds binomial counts of `n_total` trials."""
    observed, totals = features.get(OBSERVED_SITE), features.get("n_total")
    if observed is None or totals is None:
        return None
    successes = np.asarray(observed)
    if successes.ndim != 1 or not np.all(np.mod(successes, 1) == 0):
        return None
    trials = np.broadcast_to(np.asarray(totals), successes.shape).astype(np.int64)
    successes = successes.astype(np.int64)
    if np.any(successes < 0) or np.any(successes > trials):
        return None
    return successes, trials


def _trial_columns(
    counts: tuple[np.ndarray, np.ndarray], distinct_row: np.ndarray, logits: np.ndarray, sample_shape: tuple[int, ...]
) -> tuple[np.ndarray, TrialGroups]:
    """A success and a failure column per distinct row (those with trials): log p and log(1 - p)."""
    from scipy.special import log_expit

    successes, trials = counts
    n_rows = len(successes)
    cell_row = np.repeat(np.arange(n_rows), 2)
    cell_outcome = np.tile(np.array([1, 0], dtype=np.int64), n_rows)
    cell_weight = np.column_stack([successes, trials - successes]).ravel()
    kept = cell_weight > 0
    cell_row, cell_outcome, cell_weight = cell_row[kept], cell_outcome[kept], cell_weight[kept]
    # Column key: distinct row, then success before failure.
    keys = 2 * distinct_row[cell_row] + (1 - cell_outcome)
    columns, cell_group = np.unique(keys, return_inverse=True)
    # Every distinct row's success and failure side by side (column key 2 * row + outcome), then
    # the columns that have trials; log(1 - p) = log p - logit: one log_expit per distinct row.
    both = np.empty((*logits.shape, 2))

    def fill(draws: slice) -> None:
        log_expit(logits[draws], out=both[draws, :, 0])
        np.subtract(both[draws, :, 0], logits[draws], out=both[draws, :, 1])

    step = max(1, -(-len(logits) // usable_cores()))
    map_on_cores(fill, [slice(start, start + step) for start in range(0, len(logits), step)])
    values = both.reshape(len(logits), -1)
    if len(columns) < values.shape[1]:
        values = values[:, columns]
    groups = TrialGroups(cell_row, cell_outcome, cell_weight, np.ravel(cell_group))
    return values.reshape(*sample_shape, len(columns)), groups


def row_logits(model_fn: Callable[[dict[str, Any]], None], features: dict[str, Any], draws: dict[str, np.ndarray]) -> np.ndarray | None:
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
