"""Each evaluated model's mean score as the fitted hierarchical model sees it, draw by draw: what
`hibayes.comparisons.compare_models` turns into the posterior of a difference and P(A > B).

The binomial models (every built-in accuracy model, and any custom model whose observed site `obs`
is a Binomial of `n_total` trials) say it directly: row r of the features is a cell (a model, or a
model x task x ... combination) of `n_total[r]` trials with success probability
`sigmoid(logit[r])`, read off the observed site for each posterior draw. A model's mean score is
the trial-weighted average over its cells,

    mean_score[m] = sum_{r of m} n_total[r] * sigmoid(logit[r]) / sum_{r of m} n_total[r],

the expected share of its trials scored correct, i.e. its accuracy with each cell counted as
often as it was observed. Other models (an ordered-logistic model of 0..10 ratings, a custom
likelihood) do not say how their parameters map to the score's mean, and get no draws, with the
reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit

from hibayes import idata as idata_api
from hibayes.model.pointwise import OBSERVED_SITE, row_logits


@dataclass(frozen=True)
class MeanScoreDraws:
    """Draws of each evaluated model's mean score (None when the fit does not give them), and
    where they come from or why there are none, in words for the report."""

    draws: pd.DataFrame | None  # (posterior draws) x (evaluated models)
    note: str


def mean_score_draws(
    model_name: str, model_fn: Any, features: dict[str, Any], inference_data: Any, row_models: Sequence[Any]
) -> MeanScoreDraws:
    """Draws of each evaluated model's mean score from the fit `inference_data` of `model_fn` on
    `features`, with `row_models[r]` the evaluated model of feature row r (see the module
    docstring). Draws come from one joint posterior draw per row of the result, so differences
    between columns are draws of the difference."""
    if not idata_api.has_group(inference_data, "posterior"):
        return MeanScoreDraws(None, f"{model_name} has no posterior draws (not fitted)")
    observed, totals = features.get(OBSERVED_SITE), features.get("n_total")
    if observed is None or totals is None:
        return MeanScoreDraws(
            None,
            f"{model_name} is not a binomial model of `n_total` trials, so it does not say what a model's mean score is "
            "(an ordinal or custom likelihood); the posterior columns are empty",
        )
    n_rows = int(np.shape(observed)[0])
    if len(row_models) != n_rows:
        return MeanScoreDraws(
            None,
            f"{model_name} was fitted on {n_rows} rows but the processed data has {len(row_models)} "
            "(held-out test rows?), so its cells cannot be matched to models",
        )
    logits = row_logits(model_fn, features, idata_api.flat_draws(inference_data))
    if logits is None:
        return MeanScoreDraws(
            None, f"{model_name}'s observed site `{OBSERVED_SITE}` is not a Binomial, so it does not say what a model's mean score is"
        )
    trials = np.broadcast_to(np.asarray(totals, dtype=np.float64), (n_rows,))
    codes, models = pd.factorize(pd.Series(list(row_models)).astype(str), sort=True)
    # (rows x models), one entry per row: a row's share of its model's trials.
    with np.errstate(invalid="ignore", divide="ignore"):  # a model with no trials: NaN draws
        share = trials / np.bincount(codes, weights=trials)[codes]
    shares = sparse.csr_matrix((share, (np.arange(n_rows), codes)), shape=(n_rows, len(models)))
    draws = pd.DataFrame(np.asarray((shares.T @ expit(logits).T).T), columns=list(models))
    return MeanScoreDraws(
        draws,
        f"{model_name}: each model's accuracy, the sigmoid of the linear predictor of its cells weighted by their "
        f"trial counts, over {len(draws)} posterior draws",
    )
