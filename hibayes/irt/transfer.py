"""Item parameters for unseen items from their k nearest training items in a text embedding.

For a new item u with embedding e_u (L2-normalised), find the k training items with the highest
cosine similarity s_uk and set

    a_u = sum_k kappa_k a_k / sum_k kappa_k,   b_u likewise,

with kappa_k = 1 ("uniform") or exp(s_uk / tau) ("exp"). Averaging parameters is meaningful
because the fit fixes the sign (a > 0) and scale (theta ~ N(0, 1)); for a MIRT with D > 1, whose
rotation is not identified, `transfer_mode="probabilities"` averages the neighbours' predicted
P(correct) per respondent instead (rotation-invariant). `knn_correctness` is the non-IRT baseline:
the same average over the neighbours' observed correctness.

Embedding backends are pluggable: anything with `fit(texts)` and `transform(texts) -> (n, F)`
array or sparse matrix; register a factory with `register_embedding(name, factory)`. The default
"tfidf" (scikit-learn TfidfVectorizer, word 1-2 grams, sublinear tf) runs fully offline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hibayes.irt.models import IRTFit
from hibayes.irt.simulate import sigmoid

__all__ = [
    "EmbeddingBackend",
    "TfidfEmbedding",
    "register_embedding",
    "get_embedding",
    "Neighbours",
    "nearest_items",
    "TransferredItems",
    "transfer_item_parameters",
    "transfer_probabilities",
    "knn_correctness",
]


class EmbeddingBackend(Protocol):
    """A text embedding: fitted on the training texts, then applied to any texts."""

    def fit(self, texts: Sequence[str]) -> Any: ...

    def transform(self, texts: Sequence[str]) -> Any: ...


class TfidfEmbedding:
    """TF-IDF (scikit-learn) with L2-normalised rows, so a dot product is the cosine similarity."""

    def __init__(self, **kwargs: Any):
        from sklearn.feature_extraction.text import TfidfVectorizer

        opts = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 1, "strip_accents": "unicode"}
        opts.update(kwargs)
        self.vectorizer = TfidfVectorizer(**opts)

    def fit(self, texts: Sequence[str]) -> TfidfEmbedding:
        self.vectorizer.fit([str(t) for t in texts])
        return self

    def transform(self, texts: Sequence[str]) -> Any:
        return self.vectorizer.transform([str(t) for t in texts])


_BACKENDS: dict[str, Callable[..., EmbeddingBackend]] = {"tfidf": TfidfEmbedding}


def register_embedding(name: str, factory: Callable[..., EmbeddingBackend]) -> None:
    """Make an embedding backend available by name (e.g. a sentence-transformer wrapper)."""
    _BACKENDS[name] = factory


def get_embedding(name: str | EmbeddingBackend = "tfidf", **kwargs: Any) -> EmbeddingBackend:
    """An embedding backend instance by name (or pass an instance through)."""
    if not isinstance(name, str):
        return name
    if name not in _BACKENDS:
        import difflib

        hint = difflib.get_close_matches(name, list(_BACKENDS), n=1)
        raise ValueError(f"embedding: unknown backend {name!r}"
                         + (f"; did you mean {hint[0]!r}?" if hint else "")
                         + f" (registered: {', '.join(sorted(_BACKENDS))})")
    return _BACKENDS[name](**kwargs)


@dataclass
class Neighbours:
    """k nearest training items of each new item: indices (U, k), cosine similarities (U, k) and
    normalised kernel weights (U, k)."""

    index: np.ndarray
    similarity: np.ndarray
    weight: np.ndarray


def _normalise_rows(x: Any) -> Any:
    from sklearn.preprocessing import normalize

    return normalize(x, norm="l2", axis=1)


def nearest_items(train_texts: Sequence[str], new_texts: Sequence[str], *, k: int = 20,
                  embedding: str | EmbeddingBackend = "tfidf", kernel: str = "uniform",
                  tau: float = 0.1, batch: int = 1024) -> Neighbours:
    """The k most similar training items (cosine similarity of the embeddings) for every new item."""
    if len(train_texts) == 0:
        raise ValueError("nearest_items: no training items")
    k = int(min(k, len(train_texts)))
    if k < 1:
        raise ValueError("k must be at least 1")
    backend = get_embedding(embedding)
    backend.fit(list(train_texts))
    E_train = _normalise_rows(backend.transform(list(train_texts)))
    E_new = _normalise_rows(backend.transform(list(new_texts)))
    U = E_new.shape[0]
    batch = max(1, min(batch, 4_000_000 // max(E_train.shape[0], 1)))  # similarity blocks <= ~32 MB
    idx = np.empty((U, k), dtype=int)
    sim = np.empty((U, k))
    for start in range(0, U, batch):
        block = E_new[start:start + batch] @ E_train.T
        block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        # stable top-k: highest similarity, ties broken by the lower training index
        order = np.argsort(-block, axis=1, kind="stable")[:, :k]
        idx[start:start + batch] = order
        sim[start:start + batch] = np.take_along_axis(block, order, axis=1)
    if kernel == "uniform":
        w = np.ones_like(sim)
    elif kernel == "exp":
        w = np.exp((sim - sim.max(axis=1, keepdims=True)) / tau)
    else:
        raise ValueError(f"kernel: {kernel!r} is not one of uniform, exp")
    w = w / w.sum(axis=1, keepdims=True)
    return Neighbours(idx, sim, w)


@dataclass
class TransferredItems:
    """Predicted parameters of new items: a (U, D), b (U,), and the neighbours they came from."""

    items: list[str]
    a: np.ndarray
    b: np.ndarray
    neighbours: Neighbours

    def predict_proba(self, theta: np.ndarray) -> np.ndarray:
        """(J, U) P(correct) for abilities theta (J, D)."""
        return sigmoid(np.atleast_2d(theta) @ self.a.T - self.b[None, :])


def transfer_item_parameters(fit: IRTFit, train_texts: Sequence[str], new_texts: Sequence[str],
                             *, new_items: Sequence[str] | None = None, k: int = 20,
                             embedding: str | EmbeddingBackend = "tfidf", kernel: str = "uniform",
                             tau: float = 0.1) -> TransferredItems:
    """(a_u, b_u) for new items as kernel-weighted means of the k nearest training items'
    fitted parameters. `train_texts` must be aligned with `fit.items`."""
    if len(train_texts) != len(fit.items):
        raise ValueError(f"train_texts has {len(train_texts)} texts for {len(fit.items)} fitted items")
    nb = nearest_items(train_texts, new_texts, k=k, embedding=embedding, kernel=kernel, tau=tau)
    a = np.einsum("uk,ukd->ud", nb.weight, fit.a[nb.index])
    b = np.einsum("uk,uk->u", nb.weight, fit.b[nb.index])
    items = list(new_items) if new_items is not None else [f"new::{i}" for i in range(len(new_texts))]
    return TransferredItems(items, a, b, nb)


def transfer_probabilities(p_train: np.ndarray, neighbours: Neighbours) -> np.ndarray:
    """(J, U) kernel-weighted mean over neighbours of the training items' P(correct) (J, I):
    rotation-invariant transfer for a MIRT."""
    p = np.asarray(p_train, float)
    out = np.zeros((p.shape[0], neighbours.index.shape[0]))
    # one neighbour rank at a time: (J, U) working arrays, never (J, U, k)
    for rank in range(neighbours.index.shape[1]):
        out += neighbours.weight[None, :, rank] * p[:, neighbours.index[:, rank]]
    return out


def knn_correctness(y_train: np.ndarray, neighbours: Neighbours) -> np.ndarray:
    """Non-IRT baseline: (J, U) kernel-weighted mean of the neighbours' observed correctness
    (missing cells are skipped and the weights renormalised)."""
    y = np.asarray(y_train, float)
    total = np.zeros((y.shape[0], neighbours.index.shape[0]))
    weight = np.zeros_like(total)
    # one neighbour rank at a time: (J, U) working arrays, never (J, U, k) (400 x 9,000 x 20: 2.5 GB)
    for rank in range(neighbours.index.shape[1]):
        yn = y[:, neighbours.index[:, rank]]
        w = np.where(np.isnan(yn), 0.0, neighbours.weight[None, :, rank])
        total += np.nan_to_num(yn) * w
        weight += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)
