"""Routing: send each test item to the respondent (model) most likely to answer it correctly.

For a test item u, the predicted P(correct) of respondent j is sigmoid(a_u . theta_j - b_u) with
(a_u, b_u) transferred from the item's nearest training items (transfer.py) and theta_j from the
IRT fit on the training items. The router picks argmax_j; ties go to the respondent with the
higher training accuracy. Reported per task (and overall, task "ALL"):

- routed accuracy: mean over items of Y[chosen(u), u];
- best single model: the respondent with the highest accuracy on the task's test items (chosen
  in hindsight, as in RouterDC's tables) and that accuracy;
- oracle: share of items that at least one respondent answered correctly;
- knn accuracy: the same router driven by the neighbours' observed correctness (non-IRT baseline).
Missing responses are skipped (an item whose chosen respondent has no response is not counted).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hibayes.irt.config import IRTConfig
from hibayes.irt.models import IRTFit, fit_irt
from hibayes.irt.responses import ResponseMatrix
from hibayes.irt.transfer import (
    knn_correctness,
    transfer_item_parameters,
    transfer_probabilities,
)

__all__ = ["route", "routing_report", "RoutingResult", "evaluate_routing", "split_items"]

ALL = "ALL"


def route(p: np.ndarray, *, priority: np.ndarray | None = None) -> np.ndarray:
    """Index of the chosen respondent for every item: argmax over rows of p (J, U). Ties go to the
    respondent with the highest `priority` (e.g. training accuracy), then the lowest index."""
    p = np.asarray(p, float)
    if p.ndim != 2:
        raise ValueError(f"p: expected (respondents, items), got shape {p.shape}")
    J = p.shape[0]
    prio = np.zeros(J) if priority is None else np.asarray(priority, float)
    order = np.lexsort((np.arange(J), -prio))  # best priority first
    p_sorted = np.nan_to_num(p[order], nan=-np.inf)
    return order[np.argmax(p_sorted, axis=0)]


def routing_report(y_test: np.ndarray, chosen: np.ndarray, respondents: Sequence[str],
                   tasks: Sequence[str] | None = None,
                   extra_choices: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Per task and overall: n_items, routed_accuracy, best_single_model, best_single_accuracy,
    oracle_accuracy, routed_minus_best, oracle_gap, plus `<name>_accuracy` for every extra router in
    `extra_choices` (name -> chosen indices)."""
    y = np.asarray(y_test, float)
    J, U = y.shape
    chosen = np.asarray(chosen, int)
    task_arr = np.full(U, ALL, dtype=object) if tasks is None else np.asarray(tasks, dtype=object)
    groups = [ALL] + sorted(set(task_arr.tolist()) - {ALL}) if tasks is not None else [ALL]
    rows = []
    for t in groups:
        sel = np.ones(U, bool) if t == ALL else task_arr == t
        ys = y[:, sel]
        with np.errstate(invalid="ignore"):
            acc = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in ys])
        best = int(np.nanargmax(acc))
        routed = ys[chosen[sel], np.arange(ys.shape[1])]
        any_known = np.isfinite(ys).any(axis=0)
        oracle = np.nanmax(np.where(np.isfinite(ys), ys, -np.inf), axis=0)[any_known]
        row = {
            "task": t,
            "n_items": int(sel.sum()),
            "routed_accuracy": float(np.nanmean(routed)),
            "best_single_model": respondents[best],
            "best_single_accuracy": float(acc[best]),
            "oracle_accuracy": float(np.mean(oracle > 0.5)) if oracle.size else np.nan,
        }
        row["routed_minus_best"] = row["routed_accuracy"] - row["best_single_accuracy"]
        row["oracle_gap"] = row["oracle_accuracy"] - row["routed_accuracy"]
        for name, ch in (extra_choices or {}).items():
            r2 = ys[np.asarray(ch, int)[sel], np.arange(ys.shape[1])]
            row[f"{name}_accuracy"] = float(np.nanmean(r2))
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class RoutingResult:
    """report: per-task table (routing_report); choices: one row per test item (item, task,
    chosen, p_chosen, correct); model_accuracy: per task x respondent test accuracy and share of
    items routed to it; fit: the IRT fit on the training items."""

    report: pd.DataFrame
    choices: pd.DataFrame
    model_accuracy: pd.DataFrame
    fit: IRTFit


def split_items(responses: ResponseMatrix, test_fraction: float = 0.3, seed: int = 0,
                column: str = "split") -> tuple[ResponseMatrix, ResponseMatrix]:
    """(train, test) item split: by `item_table[column]` == "train"/"test" when present, else a
    random share `test_fraction` of the items (stratified by task)."""
    it = responses.item_table
    if column in it.columns and set(it[column].dropna().unique()) >= {"train", "test"}:
        train = np.nonzero((it[column] == "train").to_numpy())[0]
        test = np.nonzero((it[column] == "test").to_numpy())[0]
    else:
        rng = np.random.default_rng(seed)
        test_mask = np.zeros(len(it), bool)
        for _, idx in it.groupby("task").indices.items():
            idx = rng.permutation(idx)
            n_test = int(round(test_fraction * len(idx)))
            if len(idx) > 1:
                n_test = min(max(n_test, 1), len(idx) - 1)
            test_mask[idx[:n_test]] = True
        train = np.nonzero(~test_mask)[0]
        test = np.nonzero(test_mask)[0]
    if len(train) == 0 or len(test) == 0:
        raise ValueError("split_items: need both train and test items")
    return responses.subset(items=train), responses.subset(items=test)


def evaluate_routing(train: ResponseMatrix, test: ResponseMatrix, config: IRTConfig | None = None,
                     *, fit: IRTFit | None = None) -> RoutingResult:
    """Fit (or reuse) the IRT model on the training items, transfer item parameters to the test
    items through their `input` text, route, and report against best single model and oracle.

    Without `fit`, a MIRT with D = config.routing_dims is fitted (config.model when routing_dims
    is 1): a one-dimensional model with positive discriminations ranks the respondents the same
    way on every item, so it always routes to the one with the highest ability.

    `train` and `test` must have the same respondents; both item tables need an `input` column.
    """
    cfg = config or IRTConfig()
    if list(train.respondents) != list(test.respondents):
        test = test.subset(respondents=list(train.respondents))
    if fit is None:
        if cfg.routing_dims > 1:
            fit = fit_irt(train, cfg, model="mirt", dims=cfg.routing_dims)
        else:
            fit = fit_irt(train, cfg)
    positive = fit.model != "mirt" or bool(fit.config.get("positive_discrimination", True))
    if fit.dims == 1 and positive:
        warnings.warn("routing with a one-dimensional IRT model and positive discriminations always "
                      "picks the respondent with the highest ability; set routing_dims >= 2", stacklevel=2)
    if list(fit.items) != list(train.items) or list(fit.respondents) != list(train.respondents):
        raise ValueError("fit must be fitted on the training responses")
    train_texts = train.item_table["input"].fillna("").astype(str).tolist()
    test_texts = test.item_table["input"].fillna("").astype(str).tolist()
    if not any(t.strip() for t in train_texts) or not any(t.strip() for t in test_texts):
        raise ValueError("routing needs item texts: the item tables have no `input` text")
    moved = transfer_item_parameters(fit, train_texts, test_texts, new_items=test.items,
                                     k=cfg.k_neighbours, embedding=cfg.embedding, kernel=cfg.kernel,
                                     tau=cfg.tau)
    if cfg.transfer_mode == "parameters":
        p = moved.predict_proba(fit.theta)
    else:
        p = transfer_probabilities(fit.predict_proba(), moved.neighbours)
    priority = train.accuracy()
    chosen = route(p, priority=priority)
    knn_p = knn_correctness(train.y, moved.neighbours)
    knn_chosen = route(knn_p, priority=priority)
    tasks = test.item_table["task"].astype(str).tolist()
    report = routing_report(test.y, chosen, test.respondents, tasks, extra_choices={"knn": knn_chosen})
    y = test.y
    U = y.shape[1]
    choices = pd.DataFrame({
        "item": test.items,
        "task": tasks,
        "chosen": np.asarray(test.respondents, dtype=object)[chosen],
        "p_chosen": p[chosen, np.arange(U)],
        "correct": y[chosen, np.arange(U)],
        "knn_chosen": np.asarray(test.respondents, dtype=object)[knn_chosen],
    })
    rows = []
    for t in [ALL] + sorted(set(tasks)):
        sel = np.ones(U, bool) if t == ALL else np.asarray(tasks) == t
        for j, r in enumerate(test.respondents):
            with np.errstate(invalid="ignore"):
                acc = float(np.nanmean(y[j, sel])) if np.isfinite(y[j, sel]).any() else np.nan
            rows.append({"task": t, "respondent": r, "accuracy": acc,
                         "routed_share": float(np.mean(chosen[sel] == j)),
                         "mean_p": float(np.mean(p[j, sel]))})
    model_accuracy = pd.DataFrame(rows)
    return RoutingResult(report=report, choices=choices, model_accuracy=model_accuracy, fit=fit)
