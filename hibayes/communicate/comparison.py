"""Comparing fitted models by expected log predictive density: the verdict, and the model to show.

HiBayES announced the model with the largest raw elpd_waic as the best, even when the difference
was 0.02 +- 0.06. Here:
1. the models are ranked by elpd (PSIS-LOO unless asked otherwise) with `az.compare`;
2. the verdict: a model whose difference to the top one is within two standard errors of that
   difference (`elpd_diff <= 2 * dse`) is indistinguishable from it; the top model is called the
   best only when no other model is;
3. the model that `best_model: true` communicators show (`get_best_model`): among the models
   within one standard error (`elpd_diff <= dse`; the top model always is one), the one with the
   fewest effective parameters (smallest `p_loo`), the top-ranked one among equals. A difference
   smaller than its own standard error is noise, and the simpler model is then the safer summary.
   Such a model is always indistinguishable from the top one, so no other model is ever shown
   while a best one is announced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from hibayes import idata as idata_api
from hibayes.analysis_state import ModelAnalysisState
from hibayes.communicate.naming import display_name

# How many standard errors of the difference (az.compare's `dse`) set two models apart.
DISTINGUISHING_SE = 2.0
# Shown-model rule: differences within this many standard errors are noise.
NOISE_SE = 1.0

BEST, INDISTINGUISHABLE, WORSE, ONLY = "best", "indistinguishable", "worse", "only model"


def compare_models(
    models: Sequence[ModelAnalysisState], ic: str = "loo", scale: str = "log", method: str = "stacking"
) -> tuple[pd.DataFrame, str, str]:
    """(table, model to show, reason) for the fitted models among `models`.

    The table is `az.compare`'s, best first, with the model's key (`model`) and its name as people
    read it (`label`, see `display_name`): model, label, rank, elpd_{ic}, p_{ic}, elpd_diff, weight,
    se, dse, warning, scale, and `verdict`: "best", "indistinguishable" (from the top model, which
    is then "indistinguishable" too), "worse", or "only model". The reason is the sentence that
    announces the best model, or says that there is none. One fitted model gives a one-row table.
    Raises ValueError when no model is fitted or a fit has no log-likelihood group (nothing to
    compare with).
    """
    fitted = [m for m in models if m.is_fitted and m.inference_data is not None]
    if not fitted:
        raise ValueError("no fitted models to compare")
    lacking = [m.model_name for m in fitted if not idata_api.has_log_likelihood(m.inference_data)]
    if lacking:
        raise ValueError(f"cannot compare models without a log_likelihood group: {', '.join(lacking)}")
    criteria = {m.model_name: m.get_ic(ic, scale) for m in fitted}
    labels = {m.model_name: display_name(m) for m in fitted}
    table = idata_api.compare(criteria, method=method)
    table.insert(0, "label", [labels[name] for name in table.index])
    shown, reason = pick_best(table, ic)
    table["verdict"] = verdicts(table)
    return table.rename_axis("model").reset_index(), shown, reason


def _within(table: pd.DataFrame, standard_errors: float) -> pd.Series:
    """Per model: whether its elpd difference to the top model is within `standard_errors`
    standard errors of that difference (the top model's own is 0 +- 0: it always is)."""
    return table["elpd_diff"] <= standard_errors * table["dse"]


def verdicts(table: pd.DataFrame) -> pd.Series:
    """Each model's verdict (see `compare_models`) in an `az.compare` table."""
    if len(table) == 1:
        return pd.Series(ONLY, index=table.index)
    tied = _within(table, DISTINGUISHING_SE)
    alone_on_top = tied.sum() == 1
    return tied.map({True: BEST if alone_on_top else INDISTINGUISHABLE, False: WORSE})


def pick_best(table: pd.DataFrame, ic: str = "loo") -> tuple[str, str]:
    """(model to show, reason) by the module's rule, from an `az.compare` table indexed by model
    key and ranked best first; a `label` column, when present, names the models in the reason."""
    ranked = table.sort_values("rank")
    label = ranked["label"] if "label" in ranked.columns else pd.Series(ranked.index, index=ranked.index)
    top = str(ranked.index[0])
    if len(ranked) == 1:
        return top, f"{label[top]} is the only fitted model"
    tied = ranked[_within(ranked, DISTINGUISHING_SE)]
    if len(tied) == 1:
        runner_up = ranked.iloc[1]
        return top, (
            f"best model {label[top]}: elpd_{ic} {ranked.loc[top, f'elpd_{ic}']:.1f}, ahead of "
            f"{label.iloc[1]} by {_difference(runner_up)} (more than {DISTINGUISHING_SE:g} standard errors)"
        )
    nearest = tied.iloc[1]
    verdict = (
        f"no best model: {', '.join(label[tied.index])} are indistinguishable (elpd_{ic} difference "
        f"{_difference(nearest)}, within {DISTINGUISHING_SE:g} standard errors)"
    )
    p = f"p_{ic}"
    close = ranked[_within(ranked, NOISE_SE)]
    shown = str(close.sort_values([p, "rank"]).index[0])
    if shown == top:
        return top, f"{verdict}; best_model plots show {label[top]}, the top-ranked"
    return shown, (
        f"{verdict}; best_model plots show {label[shown]}, the simplest within one standard error "
        f"of the top ({p} {ranked.loc[shown, p]:.2f} vs {ranked.loc[top, p]:.2f})"
    )


def _difference(row: pd.Series) -> str:
    return f"{row['elpd_diff']:.2f} ± {row['dse']:.2f}"


def headline(table: pd.DataFrame) -> str:
    """The verdict of a `compare_models` table in one line, for the comparison plot's title. A
    tie is counted, not named: the models are the plot's rows, and two long names do not fit
    on one line."""
    named = table.set_index("verdict")["label"]
    if BEST in named.index:
        return f"best: {named[BEST]}"
    if ONLY in named.index:
        return f"only model: {named[ONLY]}"
    others = int((named.index == INDISTINGUISHABLE).sum()) - 1
    are = "model is" if others == 1 else "models are"
    return f"no best model: {others} other {are} within {DISTINGUISHING_SE:g} standard errors of the top one"


def plot_comparison(table: pd.DataFrame, **kwargs: Any) -> Any:
    """The comparison plot of a `compare_models` table: the models by the names people read,
    the verdict in the title, and (unless `plot_ic_diff=False`) each difference to the top model
    with its standard error, the interval the verdict is read from; kwargs go to `az.plot_compare`."""
    kwargs.setdefault("plot_ic_diff", True)
    shown = table.drop(columns="model").set_index("label")
    return idata_api.plot_compare(shown, headline=headline(table), **kwargs)
