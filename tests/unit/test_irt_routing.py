"""KNN transfer of item parameters and routing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hibayes.irt.config import IRTConfig
from hibayes.irt.models import IRTFit
from hibayes.irt.responses import response_matrix_from_arrays
from hibayes.irt.routing import evaluate_routing, route, routing_report, split_items
from hibayes.irt.transfer import (
    get_embedding,
    knn_correctness,
    nearest_items,
    register_embedding,
    transfer_item_parameters,
    transfer_probabilities,
)

TRAIN_TEXTS = [
    "What is the capital of France?",
    "Integrate x squared from zero to one.",
    "Which enzyme breaks down starch in saliva?",
    "Solve for x: 2x + 3 = 11.",
]


def _fit(a, b, theta):
    a = np.asarray(a, float).reshape(len(b), -1)
    return IRTFit("mirt", a.shape[1], "map", [f"m{j}" for j in range(len(theta))],
                  [f"t::{i}" for i in range(len(b))], np.asarray(theta, float), a, np.asarray(b, float))


def test_k1_exact_duplicate_copies_the_parameters():
    fit = _fit([[1.0, 0.1], [0.2, 2.0], [0.5, 0.5], [3.0, 0.3]], [0.1, -1.0, 0.4, 2.0], [[0.0, 0.0]])
    new = [TRAIN_TEXTS[2], TRAIN_TEXTS[0]]
    moved = transfer_item_parameters(fit, TRAIN_TEXTS, new, k=1)
    np.testing.assert_array_equal(moved.neighbours.index[:, 0], [2, 0])
    np.testing.assert_allclose(moved.a, fit.a[[2, 0]])
    np.testing.assert_allclose(moved.b, fit.b[[2, 0]])
    np.testing.assert_allclose(moved.neighbours.similarity[:, 0], 1.0)


def test_knn_weights_and_probability_transfer():
    nb = nearest_items(TRAIN_TEXTS, ["Solve for y: 3y + 1 = 7."], k=2, kernel="exp", tau=0.1)
    assert nb.index[0, 0] == 3  # the other algebra question
    assert nb.weight.sum() == pytest.approx(1.0) and nb.weight[0, 0] >= nb.weight[0, 1]
    p_train = np.array([[0.1, 0.2, 0.3, 0.9], [0.5, 0.5, 0.5, 0.1]])
    p_new = transfer_probabilities(p_train, nb)
    expected = p_train[:, nb.index[0]] @ nb.weight[0]
    np.testing.assert_allclose(p_new[:, 0], expected)
    y = np.array([[0.0, 1.0, np.nan, 1.0], [1.0, 0.0, 1.0, 0.0]])
    knn = knn_correctness(y, nearest_items(TRAIN_TEXTS, [TRAIN_TEXTS[3]], k=1))
    np.testing.assert_array_equal(knn[:, 0], [1.0, 0.0])


def test_pluggable_embedding_backend():
    class Letters:
        def fit(self, texts):
            return self

        def transform(self, texts):
            return np.array([[t.lower().count(c) for c in "aeiou"] for t in texts], float) + 1e-9

    register_embedding("letters", Letters)
    assert isinstance(get_embedding("letters"), Letters)
    nb = nearest_items(TRAIN_TEXTS, TRAIN_TEXTS[:1], k=1, embedding="letters")
    assert nb.index[0, 0] == 0
    with pytest.raises(ValueError, match="did you mean 'letters'"):
        get_embedding("leters")


def test_routing_on_a_constructed_case():
    # three models; each item has one known best model
    p = np.array([[0.9, 0.2, 0.1, 0.5],
                  [0.1, 0.8, 0.2, 0.5],
                  [0.2, 0.1, 0.7, 0.5]])
    chosen = route(p, priority=np.array([0.1, 0.9, 0.5]))
    np.testing.assert_array_equal(chosen, [0, 1, 2, 1])  # the tie on item 3 goes to the top priority
    y = np.array([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]], float)
    rep = routing_report(y, chosen, ["a", "b", "c"], tasks=["t1", "t1", "t2", "t2"])
    overall = rep.set_index("task").loc["ALL"]
    assert overall.routed_accuracy == 1.0 and overall.oracle_accuracy == 1.0
    assert overall.best_single_model == "b" and overall.best_single_accuracy == 0.5
    t2 = rep.set_index("task").loc["t2"]
    assert t2.n_items == 2 and t2.routed_accuracy == 1.0 and t2.oracle_accuracy == 1.0


@pytest.mark.filterwarnings("ignore:MAP on a MIRT")
def test_evaluate_routing_end_to_end():
    # two topics; models 0-1 know topic A, models 2-3 topic B, models 4-5 are middling on both
    rng = np.random.default_rng(0)
    topics = {"A": "photosynthesis chlorophyll leaf plant light", "B": "integral derivative calculus limit"}
    p_topic = {"A": np.array([0.9, 0.85, 0.15, 0.2, 0.5, 0.55]), "B": np.array([0.15, 0.2, 0.9, 0.85, 0.5, 0.45])}
    texts, y_cols = [], []
    for i in range(160):
        t = "A" if i % 2 == 0 else "B"
        texts.append(" ".join(rng.choice(topics[t].split(), 4)) + f" question {i}")
        y_cols.append((rng.random(6) < p_topic[t]).astype(float))
    y = np.array(y_cols).T
    item_table = pd.DataFrame({"item": [f"t::{i}" for i in range(160)], "task": "t",
                               "sample_id": [str(i) for i in range(160)], "input": texts})
    rm = response_matrix_from_arrays(y, items=item_table["item"].tolist(), item_table=item_table)
    train, test = split_items(rm, 0.3, seed=0)
    cfg = IRTConfig(fit_method="map", steps=400, routing_dims=2, k_neighbours=5, seed=0)
    res = evaluate_routing(train, test, cfg)
    row = res.report.set_index("task").loc["ALL"]
    # best single model ~0.55 on this mix; a router that splits by topic reaches ~0.85
    assert row.routed_accuracy > row.best_single_accuracy + 0.15
    assert row.routed_accuracy <= row.oracle_accuracy
    shares = res.model_accuracy.query("task == 'ALL'").set_index("respondent")["routed_share"]
    assert shares[["m0", "m1"]].sum() > 0.3 and shares[["m2", "m3"]].sum() > 0.3
    assert len(res.choices) == test.shape[1] and res.fit.dims == 2


def test_neighbour_averages_match_the_three_dimensional_reference():
    """knn_correctness and transfer_probabilities go one neighbour rank at a time; against the
    direct (J, U, k) computation, with missing answers among the neighbours."""
    from hibayes.irt.transfer import Neighbours

    rng = np.random.default_rng(3)
    J, I, U, k = 5, 40, 12, 4
    y = (rng.random((J, I)) < 0.5).astype(float)
    y[rng.random((J, I)) < 0.2] = np.nan
    y[0, :] = np.nan  # a respondent with no answers at all: NaN, not 0
    index = np.array([rng.choice(I, size=k, replace=False) for _ in range(U)])
    weight = rng.random((U, k))
    nb = Neighbours(index, np.zeros((U, k)), weight / weight.sum(axis=1, keepdims=True))
    yn = y[:, nb.index]
    w = np.where(np.isnan(yn), 0.0, nb.weight[None])
    with np.errstate(invalid="ignore"):
        expected = (np.nan_to_num(yn) * w).sum(-1) / w.sum(-1)
    np.testing.assert_allclose(knn_correctness(y, nb), expected, rtol=1e-12)
    assert np.isnan(knn_correctness(y, nb)[0]).all()
    p = rng.random((J, I))
    np.testing.assert_allclose(transfer_probabilities(p, nb), np.einsum("uk,juk->ju", nb.weight, p[:, nb.index]), rtol=1e-12)
