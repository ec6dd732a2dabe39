"""Long samples -> a respondents x items response matrix.

An *item* is `task + sample_id` (id `"<task>::<sample_id>"`); a *respondent* is a model, or a
model + scaffold (id `"<model>|<scaffold>"`). Errored samples (`has_error`) are dropped and
counted; so are samples whose score is NULL (the first scorer's value was not numeric).

Epochs (stated rule):
- `epochs="mean"` (default): the raw score is averaged over a cell's epochs (and over duplicate
  rows, e.g. the same model in two logs), *then* binarised by the rule. One trial per cell.
- `epochs="binomial"`: each epoch is binarised by the rule, and the cell keeps k successes out of
  m trials; the IRT likelihood is Binomial(m, p), and `y = k / m` is the cell's observed share.

The binarisation rule must be given whenever a score is not already 0/1 (see
`config.parse_binarise_rule`); `binarise=None` with non-binary scores is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hibayes.irt.config import BinariseRule, IRTConfig, parse_binarise_rule

__all__ = [
    "ResponseMatrix",
    "ResponseError",
    "build_response_matrix",
    "response_matrix_from_arrays",
    "binarise_scores",
    "match_mean_threshold",
    "validate_response_matrix",
    "balance_weights",
    "split_respondents",
    "item_weights",
    "wide_select_sql",
]

ITEM_SEP = "::"
RESPONDENT_SEP = "|"


class ResponseError(ValueError):
    """Bad input for a response matrix: names the respondent/item/column and what was expected."""


@dataclass
class ResponseMatrix:
    """A J x I response matrix with its item and respondent tables.

    Attributes:
        respondents: J respondent ids, in row order.
        items: I item ids (`task::sample_id`), in column order.
        successes: (J, I) float array, k (0/1 with one trial); 0 where missing.
        trials: (J, I) int array, m; 0 where the respondent has no response to the item.
        item_table: one row per item: item, task, sample_id, input (text, may be empty),
            n_respondents, p_correct, plus any extra per-item columns (e.g. split, cluster_id).
        respondent_table: one row per respondent: respondent, model, scaffold, n_items, accuracy.
        rule: the binarisation rule, as text.
        counts: what was dropped on the way: n_rows, n_errored, n_missing_score, ...
    """

    respondents: list[str]
    items: list[str]
    successes: np.ndarray
    trials: np.ndarray
    item_table: pd.DataFrame
    respondent_table: pd.DataFrame
    rule: str = "none"
    counts: dict[str, int] = field(default_factory=dict)

    # -- views ----------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.successes.shape  # type: ignore[return-value]

    @property
    def mask(self) -> np.ndarray:
        """(J, I) bool: True where the respondent answered the item."""
        return self.trials > 0

    @property
    def y(self) -> np.ndarray:
        """(J, I) float: share correct per cell (0/1 with one trial), NaN where missing."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.successes / self.trials
        out[self.trials == 0] = np.nan
        return out

    def accuracy(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Per-respondent (balance-weighted) mean correctness over the items it answered."""
        y = self.y
        w = np.ones(y.shape[1]) if weights is None else np.asarray(weights, float)
        wm = np.where(self.mask, w[None, :], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nansum(np.nan_to_num(y) * wm, axis=1) / wm.sum(axis=1)

    def subset(self, respondents: list[str] | np.ndarray | None = None,
               items: list[str] | np.ndarray | None = None) -> ResponseMatrix:
        """A copy restricted to some respondents and/or items (ids or integer/boolean indices)."""
        r = _index(self.respondents, respondents)
        c = _index(self.items, items)
        item_table = self.item_table.iloc[c].reset_index(drop=True)
        resp_table = self.respondent_table.iloc[r].reset_index(drop=True)
        return ResponseMatrix(
            respondents=[self.respondents[i] for i in r],
            items=[self.items[i] for i in c],
            successes=self.successes[np.ix_(r, c)].copy(),
            trials=self.trials[np.ix_(r, c)].copy(),
            item_table=item_table,
            respondent_table=resp_table,
            rule=self.rule,
            counts=dict(self.counts),
        )

    def to_long(self) -> pd.DataFrame:
        """One row per answered (respondent, item): respondent, item, task, sample_id, successes,
        trials, y. This is what goes to DuckDB."""
        j, i = np.nonzero(self.mask)
        tasks = self.item_table["task"].to_numpy()
        sids = self.item_table["sample_id"].to_numpy()
        return pd.DataFrame(
            {
                "respondent": np.asarray(self.respondents, dtype=object)[j],
                "item": np.asarray(self.items, dtype=object)[i],
                "task": tasks[i],
                "sample_id": sids[i],
                "successes": self.successes[j, i],
                "trials": self.trials[j, i].astype(int),
                "y": self.successes[j, i] / self.trials[j, i],
            }
        )

    def to_wide(self) -> pd.DataFrame:
        """Respondents x items frame of `y` (NaN = missing)."""
        return pd.DataFrame(self.y, index=pd.Index(self.respondents, name="respondent"),
                            columns=pd.Index(self.items, name="item"))


def _index(names: list[str], which: Any) -> np.ndarray:
    if which is None:
        return np.arange(len(names))
    arr = np.asarray(which)
    if arr.dtype == bool:
        return np.nonzero(arr)[0]
    if arr.dtype.kind in "iu":
        return arr.astype(int)
    pos = {n: k for k, n in enumerate(names)}
    missing = [str(x) for x in arr if str(x) not in pos]
    if missing:
        raise ResponseError(f"unknown ids: {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return np.array([pos[str(x)] for x in arr], dtype=int)


# -- binarisation -------------------------------------------------------------------------------
def match_mean_threshold(scores: np.ndarray, respondent: np.ndarray) -> float:
    """tinyBenchmarks' threshold: argmin_c mean_j |mean_i 1[s > c] - mean_i s| over c in
    linspace(0.01, 0.99, 99) (scores should lie in [0, 1])."""
    s = np.asarray(scores, float)
    codes, uniques = pd.factorize(np.asarray(respondent))
    grid = np.linspace(0.01, 0.99, 99)
    counts = np.bincount(codes, minlength=len(uniques)).astype(float)
    raw_mean = np.bincount(codes, weights=s, minlength=len(uniques)) / counts
    best, best_err = grid[0], np.inf
    for c in grid:
        bin_mean = np.bincount(codes, weights=(s > c).astype(float), minlength=len(uniques)) / counts
        err = float(np.mean(np.abs(bin_mean - raw_mean)))
        if err < best_err - 1e-15:
            best, best_err = float(c), err
    return best


def binarise_scores(scores: np.ndarray, rule: BinariseRule | str | float | None,
                    respondent: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Apply a rule to numeric scores; returns (0/1 float array, rule text).

    Raises `ResponseError` if the rule is None and a score is not 0 or 1.
    """
    rule = parse_binarise_rule(rule)
    s = np.asarray(scores, dtype=float)
    if rule.op is None:
        bad = ~np.isin(s, (0.0, 1.0))
        if bad.any():
            examples = ", ".join(f"{v:g}" for v in np.unique(s[bad])[:5])
            raise ResponseError(
                f"scores are not binary ({int(bad.sum())} of {s.size} are neither 0 nor 1, e.g. "
                f"{examples}) and no binarisation rule was given: set binarise to e.g. 'score > 0' "
                "or 'score >= 0.5' (or 'match_mean')"
            )
        return s.copy(), rule.text()
    if rule.op == "match_mean":
        if respondent is None:
            raise ResponseError("binarise 'match_mean' needs the respondent of every score")
        c = match_mean_threshold(s, respondent)
        return (s > c).astype(float), f"score > {c:g} (match_mean)"
    op = rule.op
    t = rule.threshold
    out = {">": s > t, ">=": s >= t, "<": s < t, "<=": s <= t, "==": s == t}[op]
    return out.astype(float), rule.text()


# -- building -----------------------------------------------------------------------------------
REQUIRED = ("model", "task", "sample_id", "score")


def _select_tasks(samples: pd.DataFrame, cfg: IRTConfig) -> tuple[pd.DataFrame, int]:
    """The rows of the config's `tasks` (all when None) minus its `exclude_tasks`, and how many
    rows were left out. Naming a task the data lacks is a warning in `tasks`, and fine in
    `exclude_tasks` (one config may serve data sets with and without, e.g., a judge task)."""
    if cfg.tasks is None and not cfg.exclude_tasks:
        return samples, 0
    task = samples["task"].astype(str)
    keep = pd.Series(True, index=samples.index)
    if cfg.tasks is not None:
        unknown = sorted(set(cfg.tasks) - set(task))
        if unknown:
            warnings.warn(f"tasks: {unknown} not in the samples (their tasks: {sorted(set(task))})", stacklevel=3)
        keep &= task.isin(cfg.tasks)
    keep &= ~task.isin(cfg.exclude_tasks)
    if not keep.any():
        raise ResponseError(
            f"no samples left after tasks={list(cfg.tasks) if cfg.tasks is not None else 'all'} and "
            f"exclude_tasks={list(cfg.exclude_tasks)}; the samples' tasks: {sorted(set(task))}"
        )
    return samples.loc[keep], int((~keep).sum())


def _warn_scales_outside_01(df: pd.DataFrame) -> None:
    """One threshold for every task suits correct/incorrect scores; a task rated on another scale
    (a 0..10 judge rating) is binarised too, but the user most likely meant to leave it out."""
    ranges = df.groupby("task")["score"].agg(["min", "max"])
    outside = ranges[(ranges["min"] < 0) | (ranges["max"] > 1)]
    if len(outside):
        spans = ", ".join(f"{task} ({row['min']:g} to {row['max']:g})" for task, row in outside.iterrows())
        warnings.warn(
            f"task(s) with scores outside [0, 1] are binarised by the same rule as the others: {spans}; "
            "list them under exclude_tasks if they are not correct/incorrect scores",
            stacklevel=3,
        )


def build_response_matrix(
    samples: pd.DataFrame,
    config: IRTConfig | None = None,
    *,
    binarise: Any = "__config__",
    respondent: str | None = None,
    epochs: str | None = None,
    on_invalid: str | None = None,
    min_respondents_per_item: int | None = None,
    exclude_errors: bool = True,
) -> ResponseMatrix:
    """Build the response matrix from the warehouse `samples` table (or any frame with columns
    model, task, sample_id, score and optionally epoch, scaffold, input, has_error, error).

    Keyword arguments override the config. Steps: keep the config's `tasks` and drop its
    `exclude_tasks` (counted), drop errored samples (counted), drop samples with a NULL score
    (counted, warned), binarise (see module docstring for epochs), pivot to J x I, validate
    (`validate_response_matrix`).

    Extra item-level columns present in `samples` and constant per item (`split`, `cluster_id`,
    `subject`) are carried into `item_table`.
    """
    cfg = config or IRTConfig()
    rule = cfg.binarise if binarise == "__config__" else parse_binarise_rule(binarise)
    respondent = respondent or cfg.respondent
    epochs = epochs or cfg.epochs
    on_invalid = on_invalid or cfg.on_invalid
    min_resp = min_respondents_per_item or cfg.min_respondents_per_item

    if not isinstance(samples, pd.DataFrame):
        raise ResponseError(f"samples: expected a pandas DataFrame, got {type(samples).__name__}")
    missing_cols = [c for c in REQUIRED if c not in samples.columns]
    if respondent == "model+scaffold" and "scaffold" not in samples.columns:
        missing_cols.append("scaffold")
    if missing_cols:
        raise ResponseError(
            f"samples: missing column(s) {missing_cols}; expected at least {list(REQUIRED)}"
            + (" and scaffold (respondent = model+scaffold)" if respondent == "model+scaffold" else "")
        )
    counts: dict[str, int] = {"n_rows": int(len(samples))}
    samples, counts["n_task_excluded"] = _select_tasks(samples, cfg)
    df = samples
    if exclude_errors and "has_error" in df.columns:
        err = df["has_error"].fillna(False).astype(bool).to_numpy()
        counts["n_errored"] = int(err.sum())
        df = df.loc[~err]
    else:
        counts["n_errored"] = 0
    score = pd.to_numeric(df["score"], errors="coerce")
    null = score.isna().to_numpy()
    counts["n_missing_score"] = int(null.sum())
    if null.any():
        warnings.warn(
            f"{int(null.sum())} sample(s) have no numeric score and were left out of the response matrix",
            stacklevel=2,
        )
    df = df.loc[~null].copy()
    df["score"] = score[~null].astype(float)
    if df.empty:
        raise ResponseError(
            f"samples: no usable rows ({counts['n_rows']} rows, {counts['n_errored']} errored, "
            f"{counts['n_missing_score']} without a numeric score)"
        )

    df["task"] = df["task"].astype(str)
    if rule.op not in (None, "match_mean") and cfg.tasks is None:  # chosen tasks are the user's call
        _warn_scales_outside_01(df)
    df["sample_id"] = df["sample_id"].astype(str)
    df["_item"] = df["task"] + ITEM_SEP + df["sample_id"]
    if respondent == "model+scaffold":
        df["_resp"] = df["model"].astype(str) + RESPONDENT_SEP + df["scaffold"].fillna("").astype(str)
    else:
        df["_resp"] = df["model"].astype(str)

    if epochs == "mean":
        cell = df.groupby(["_resp", "_item"], sort=False)["score"].mean().reset_index()
        k, rule_text = binarise_scores(cell["score"].to_numpy(), rule, cell["_resp"].to_numpy())
        cell["k"] = k
        cell["m"] = 1
    elif epochs == "binomial":
        b, rule_text = binarise_scores(df["score"].to_numpy(), rule, df["_resp"].to_numpy())
        df["_b"] = b
        cell = df.groupby(["_resp", "_item"], sort=False).agg(k=("_b", "sum"), m=("_b", "size")).reset_index()
    else:
        raise ResponseError(f"epochs: {epochs!r} is not one of mean, binomial")

    resp_ids = sorted(cell["_resp"].unique().tolist())
    item_first = df.drop_duplicates("_item")
    item_ids = sorted(item_first["_item"].tolist())
    r_pos = {r: n for n, r in enumerate(resp_ids)}
    i_pos = {i: n for n, i in enumerate(item_ids)}
    J, I = len(resp_ids), len(item_ids)
    succ = np.zeros((J, I), dtype=float)
    trials = np.zeros((J, I), dtype=np.int64)
    rj = cell["_resp"].map(r_pos).to_numpy()
    ci = cell["_item"].map(i_pos).to_numpy()
    succ[rj, ci] = cell["k"].to_numpy(float)
    trials[rj, ci] = cell["m"].to_numpy(np.int64)

    item_first = item_first.set_index("_item").loc[item_ids]
    item_table = pd.DataFrame(
        {
            "item": item_ids,
            "task": item_first["task"].to_numpy(),
            "sample_id": item_first["sample_id"].to_numpy(),
            "input": (item_first["input"].fillna("").astype(str).to_numpy()
                      if "input" in item_first.columns else np.full(I, "", dtype=object)),
        }
    )
    for extra in ("split", "cluster_id", "subject"):
        if extra in item_first.columns:
            item_table[extra] = item_first[extra].to_numpy()
    model_of = df.drop_duplicates("_resp").set_index("_resp")
    respondent_table = pd.DataFrame(
        {
            "respondent": resp_ids,
            "model": model_of.loc[resp_ids, "model"].astype(str).to_numpy(),
            "scaffold": (model_of.loc[resp_ids, "scaffold"].to_numpy()
                         if "scaffold" in model_of.columns else np.full(J, None, dtype=object)),
        }
    )
    # respondents whose every sample errored never reach `cell`: record them for validation
    all_resp = samples["model"].astype(str)
    if respondent == "model+scaffold":
        all_resp = all_resp + RESPONDENT_SEP + samples["scaffold"].fillna("").astype(str)
    lost = sorted(set(all_resp.unique()) - set(resp_ids))
    rm = ResponseMatrix(resp_ids, item_ids, succ, trials, item_table, respondent_table, rule_text, counts)
    if lost:
        if on_invalid == "error":
            raise ResponseError(
                f"respondent(s) with no usable responses (all samples errored or unscored): {lost}; "
                "remove them or set on_invalid: drop"
            )
        warnings.warn(f"dropped respondent(s) with no usable responses: {lost}", stacklevel=2)
        rm.counts["n_respondents_dropped"] = len(lost)
    return validate_response_matrix(rm, on_invalid=on_invalid, min_respondents_per_item=min_resp)


def response_matrix_from_arrays(
    y: np.ndarray,
    respondents: list[str] | None = None,
    items: list[str] | None = None,
    *,
    trials: np.ndarray | None = None,
    item_table: pd.DataFrame | None = None,
    task: str = "task",
    texts: list[str] | None = None,
    validate: bool = True,
) -> ResponseMatrix:
    """Wrap a (J, I) array of 0/1 (NaN = missing) as a ResponseMatrix.

    With `trials`, `y` holds success counts k (0 <= k <= m). Item ids are `task::<index>` unless given.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 2:
        raise ResponseError(f"y: expected a 2-D respondents x items array, got shape {y.shape}")
    J, I = y.shape
    respondents = [str(r) for r in respondents] if respondents is not None else [f"m{j}" for j in range(J)]
    items = [str(i) for i in items] if items is not None else [f"{task}{ITEM_SEP}{i}" for i in range(I)]
    if len(respondents) != J or len(items) != I:
        raise ResponseError(f"got {len(respondents)} respondent and {len(items)} item ids for shape {y.shape}")
    if trials is None:
        m = (~np.isnan(y)).astype(np.int64)
        k = np.nan_to_num(y)
        if not np.isin(k[m > 0], (0.0, 1.0)).all():
            raise ResponseError("y: values must be 0, 1 or NaN (pass trials= for counts)")
    else:
        m = np.asarray(trials, dtype=np.int64)
        k = np.nan_to_num(y)
        if (k < 0).any() or (k > m).any():
            raise ResponseError("y: success counts must lie in [0, trials]")
    if item_table is None:
        item_table = pd.DataFrame({
            "item": items,
            "task": [it.split(ITEM_SEP, 1)[0] if ITEM_SEP in it else task for it in items],
            "sample_id": [it.split(ITEM_SEP, 1)[-1] for it in items],
            "input": list(texts) if texts is not None else [""] * I,
        })
    respondent_table = pd.DataFrame({"respondent": respondents, "model": respondents,
                                     "scaffold": [None] * J})
    rm = ResponseMatrix(respondents, items, k, m, item_table.reset_index(drop=True), respondent_table, "none", {})
    return validate_response_matrix(rm) if validate else _refresh_tables(rm)


def validate_response_matrix(rm: ResponseMatrix, *, on_invalid: str = "error",
                             min_respondents_per_item: int = 2) -> ResponseMatrix:
    """Check that every respondent answered something and every item was answered by at least
    `min_respondents_per_item` respondents. `on_invalid="drop"` removes offenders (with a warning
    and counts in `rm.counts`); "error" raises `ResponseError` naming them."""
    if rm.successes.shape != rm.trials.shape:
        raise ResponseError("successes and trials differ in shape")
    mask = rm.mask
    empty_resp = [rm.respondents[j] for j in np.nonzero(mask.sum(1) == 0)[0]]
    n_per_item = mask.sum(0)
    thin = np.nonzero(n_per_item < min_respondents_per_item)[0]
    thin_items = [rm.items[i] for i in thin]
    problems = []
    if empty_resp:
        problems.append(f"respondent(s) with no responses: {empty_resp[:10]}")
    if len(thin_items):
        desc = ", ".join(f"{rm.items[i]} ({int(n_per_item[i])})" for i in thin[:10])
        problems.append(
            f"{len(thin_items)} item(s) answered by fewer than {min_respondents_per_item} respondents, "
            f"whose IRT parameters cannot be estimated: {desc}{' ...' if len(thin_items) > 10 else ''}"
        )
    if problems and on_invalid == "error":
        raise ResponseError("; ".join(problems) + "; fix the data or set on_invalid: drop")
    if problems:
        warnings.warn("dropped: " + "; ".join(problems), stacklevel=2)
        keep_r = mask.sum(1) > 0
        keep_i = n_per_item >= min_respondents_per_item
        counts = dict(rm.counts)
        counts["n_respondents_dropped"] = counts.get("n_respondents_dropped", 0) + int((~keep_r).sum())
        counts["n_items_dropped"] = int((~keep_i).sum())
        rm = rm.subset(np.nonzero(keep_r)[0], np.nonzero(keep_i)[0])
        rm.counts = counts
        if rm.shape[0] == 0 or rm.shape[1] == 0:
            raise ResponseError("nothing left after dropping invalid respondents/items")
        return validate_response_matrix(rm, on_invalid="error", min_respondents_per_item=min_respondents_per_item)
    return _refresh_tables(rm)


def _refresh_tables(rm: ResponseMatrix) -> ResponseMatrix:
    y = rm.y
    mask = rm.mask
    rm.item_table = rm.item_table.copy()
    rm.item_table["n_respondents"] = mask.sum(0).astype(int)
    with np.errstate(invalid="ignore"):
        rm.item_table["p_correct"] = np.nanmean(np.where(mask, y, np.nan), axis=0) if mask.any() else np.nan
    rm.respondent_table = rm.respondent_table.copy()
    rm.respondent_table["n_items"] = mask.sum(1).astype(int)
    rm.respondent_table["accuracy"] = rm.accuracy()
    return rm


def balance_weights(groups: np.ndarray | pd.Series | None, n_items: int | None = None) -> np.ndarray:
    """tinyBenchmarks balance weights w~_i = N / (S * n_group(i)), mean 1: every group (task,
    subject) counts equally in the weighted mean (1/N) sum_i w~_i Y_i. None -> all ones."""
    if groups is None:
        if n_items is None:
            raise ValueError("balance_weights: give groups or n_items")
        return np.ones(n_items)
    g = np.asarray(groups)
    codes, uniques = pd.factorize(g)
    sizes = np.bincount(codes)
    N, S = len(g), len(uniques)
    return N / (S * sizes[codes])


def split_respondents(responses: ResponseMatrix, new_models: Sequence[str]) -> tuple[ResponseMatrix, ResponseMatrix | None]:
    """(training respondents, new respondents). A name in `new_models` matches a respondent id or
    its model (so "openai/gpt-4o" selects every "openai/gpt-4o|<scaffold>"). Unknown names raise
    with a did-you-mean hint."""
    import difflib

    names = list(responses.respondents)
    models = responses.respondent_table["model"].astype(str).tolist()
    new_idx: set[int] = set()
    for name in new_models:
        hits = [j for j, (r, m) in enumerate(zip(names, models)) if name in (r, m)]
        if not hits:
            hint = difflib.get_close_matches(str(name), names + models, n=1)
            raise ResponseError(f"new_models: {name!r} is not a respondent"
                                + (f"; did you mean {hint[0]!r}?" if hint else "")
                                + f" (respondents: {names[:10]}{' ...' if len(names) > 10 else ''})")
        new_idx.update(hits)
    train_idx = [j for j in range(len(names)) if j not in new_idx]
    if len(train_idx) < 2:
        raise ResponseError(f"need at least 2 training respondents besides new_models, got {len(train_idx)}")
    train = responses.subset(np.array(train_idx, dtype=int))
    new = responses.subset(np.array(sorted(new_idx), dtype=int)) if new_idx else None
    return _refresh_tables(train), (_refresh_tables(new) if new is not None else None)


def item_weights(responses: ResponseMatrix, balance: str = "none", column: str = "task") -> np.ndarray:
    """Balance weights (mean 1) for `balance` = "task" (every task counts equally), else ones."""
    if balance == "none":
        return np.ones(len(responses.items))
    if balance == "task":
        return balance_weights(responses.item_table[column].to_numpy())
    raise ValueError(f"balance: {balance!r} is not one of none, task")


def wide_select_sql(table: str, respondents: Sequence[str]) -> str:
    """The SELECT of a wide view of a long response table written from `to_long()`: one row per
    item (item, task, sample_id) and one column of y per respondent (quoted names); DuckDB and
    PostgreSQL both run it."""
    def q(s: str) -> str:
        return '"' + str(s).replace('"', '""') + '"'

    def lit(s: str) -> str:
        return "'" + str(s).replace("'", "''") + "'"

    cols = ",\n  ".join(f"max(y) FILTER (WHERE respondent = {lit(r)}) AS {q(r)}" for r in respondents)
    return (f"SELECT item, task, sample_id,\n  {cols}\n"
            f"FROM {q(table)}\nGROUP BY item, task, sample_id\nORDER BY item")
