"""Comparing fitted models by expected log predictive density, and choosing the best one.

The rule (HiBayES took the largest raw elpd_waic, ignoring its uncertainty):
1. rank the models by elpd (PSIS-LOO unless asked otherwise) with `az.compare`;
2. the candidates are the models whose difference to the top one is within one standard error of
   that difference (`elpd_diff <= dse`); the top model always is one;
3. choose the candidate with the fewest effective parameters (smallest `p_loo`), the top-ranked
   one among equals. A difference smaller than its own standard error is noise, and the simpler
   model is then the safer summary.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from hibayes import idata as idata_api
from hibayes.analysis_state import ModelAnalysisState


def compare_models(
    models: Sequence[ModelAnalysisState], ic: str = "loo", scale: str = "log", method: str = "stacking"
) -> tuple[pd.DataFrame, str, str]:
    """(table, best model name, reason) for the fitted models among `models`.

    The table is `az.compare`'s, best first, with the model names as a `model` column: rank,
    elpd_{ic}, p_{ic}, elpd_diff, weight, se, dse, warning, scale, and `best` (the chosen model).
    One fitted model gives a one-row table. Raises ValueError when no model is fitted or a fit has
    no log-likelihood group (nothing to compare with).
    """
    fitted = [m for m in models if m.is_fitted and m.inference_data is not None]
    if not fitted:
        raise ValueError("no fitted models to compare")
    lacking = [m.model_name for m in fitted if not idata_api.has_log_likelihood(m.inference_data)]
    if lacking:
        raise ValueError(f"cannot compare models without a log_likelihood group: {', '.join(lacking)}")
    criteria = {m.model_name: m.get_ic(ic, scale) for m in fitted}
    table = idata_api.compare(criteria, method=method)
    best, reason = pick_best(table, ic)
    table = table.rename_axis("model").reset_index()
    table["best"] = table["model"] == best
    return table, best, reason


def pick_best(table: pd.DataFrame, ic: str = "loo") -> tuple[str, str]:
    """Apply the module's rule to an `az.compare` table indexed by model name, ranked best first."""
    ranked = table.sort_values("rank")
    top = str(ranked.index[0])
    if len(ranked) == 1:
        return top, f"{top} is the only fitted model"
    p = f"p_{ic}"
    close = ranked[ranked["elpd_diff"] <= ranked["dse"]]
    simplest = str(close.sort_values([p, "rank"]).index[0])
    if simplest == top:
        return top, f"{top} has the highest elpd_{ic} ({ranked.loc[top, f'elpd_{ic}']:.1f})"
    row = ranked.loc[simplest]
    return simplest, (
        f"{simplest} is within one standard error of the top model {top} (elpd_diff {row['elpd_diff']:.2f} "
        f"<= dse {row['dse']:.2f}) and has fewer effective parameters ({p} {row[p]:.2f} vs "
        f"{ranked.loc[top, p]:.2f})"
    )
