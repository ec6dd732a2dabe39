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
from pathlib import Path
from typing import Any

import numpy as np
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


def pointwise_table(models: Sequence[ModelAnalysisState], ic: str = "loo", scale: str = "log") -> pd.DataFrame:
    """Each fitted model's pointwise elpd, one row per stored log-likelihood column: model, label,
    column, row (the feature row the column stands for), that row's per-row features (an index
    feature `x_index` as its level, named `x`), outcome (1 / 0 for binomial success / failure
    trials, else the observed value), weight (the observations the column stands for: its
    trials, or its identical rows), `{ic}_i` and, for LOO, `pareto_k`. Summing weight x `{ic}_i`
    gives the model's elpd. A weighted fit of 1M trials in 200 cells has 400 rows here; a fit
    whose entries are not one per feature row (a multivariate `obs`) gets no row or features."""
    frames = []
    for model in models:
        if not (model.is_fitted and idata_api.has_log_likelihood(model.inference_data)):
            continue
        criterion = model.get_ic(ic, scale)
        groups = criterion.groups
        n_rows = len(np.asarray(model.features.get("obs", ()))) or None
        if groups is not None:
            rows, outcomes = groups.group_row, groups.group_outcome
        elif criterion.pointwise.size == n_rows:
            rows = np.arange(n_rows)
            observed = model.inference_data.observed_data["obs"].values if idata_api.has_group(model.inference_data, "observed_data") else None
            outcomes = observed if observed is not None and observed.shape == (n_rows,) else np.full(n_rows, np.nan)
        else:
            rows = outcomes = None
        frame = pd.DataFrame({"model": model.model_name, "label": display_name(model), "column": np.arange(criterion.pointwise.size)})
        if rows is not None:
            frame["row"] = rows
            for name, values in _row_features(model, n_rows).items():
                frame[name] = values[rows]
            frame["outcome"] = outcomes
        frame["weight"] = criterion.weights
        frame[f"{ic}_i"] = criterion.pointwise
        if criterion.pareto_k is not None:
            frame["pareto_k"] = criterion.pareto_k
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_pointwise_per_observation(models: Sequence[ModelAnalysisState], path: Path, batch_rows: int = 1_000_000) -> int:
    """Write each fitted model's pointwise LOO and WAIC with one row per observation (a scored
    sample, or a trial of a binomial row) to the Parquet file `path`, and return the rows written.

    A row is its stored column's values (`pointwise_table`'s, for "loo" with `waic_i` beside)
    repeated for each observation the column stands for, so the rows of a model sum to its elpd.
    Written in batches of about `batch_rows` rows: memory follows the batch, not the corpus
    (a column of more observations than that is one batch). Nothing is written without a fitted
    model with a log-likelihood; the file appears whole or not at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    loo = pointwise_table(models, "loo")
    if loo.empty:
        return 0
    columns = loo.assign(waic_i=pointwise_table(models, "waic")["waic_i"].to_numpy())
    # Categories: a batch's labels and features are codes into one shared dictionary, not strings.
    columns = columns.astype({name: "category" for name in columns.columns if columns[name].dtype == object})
    weights = columns["weight"].to_numpy()
    partial = path.with_name(path.name + ".partial")
    written = 0
    writer = None
    try:
        for start, stop in _weight_batches(weights, batch_rows):
            batch = columns.iloc[start:stop]
            expanded = batch.iloc[np.repeat(np.arange(len(batch)), weights[start:stop])].drop(columns="weight")
            table = pa.Table.from_pandas(expanded, preserve_index=False)
            writer = writer or pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
            written += len(expanded)
    finally:
        if writer is not None:
            writer.close()
    partial.replace(path)
    return written


def _weight_batches(weights: np.ndarray, batch_rows: int) -> list[tuple[int, int]]:
    """(start, stop) ranges of columns whose weights add up to about `batch_rows` each."""
    ends = np.searchsorted(np.cumsum(weights), np.arange(batch_rows, int(weights.sum()), batch_rows), side="left") + 1
    bounds = np.unique(np.concatenate([[0], ends, [len(weights)]]))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _row_features(model: ModelAnalysisState, n_rows: int) -> dict[str, np.ndarray]:
    """The model's one-value-per-row features, index features as their levels."""
    out = {}
    for name, value in model.features.items():
        values = np.asarray(value)
        if values.ndim != 1 or len(values) != n_rows or name == "obs":
            continue
        level = name.removesuffix("_index")
        levels = (model.coords or {}).get(level) if name.endswith("_index") else None
        out[level if levels is not None else name] = np.asarray(levels, dtype=object)[values] if levels is not None else values
    return out


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
