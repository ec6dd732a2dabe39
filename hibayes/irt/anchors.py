"""Anchor points: k-means clusters of items, one anchor per cluster (tinyBenchmarks §1.4).

- Items are represented by their fitted IRT parameters (a_i, b_i) ("irt"; tinyBenchmarks uses
  (a_i, diff_i) with diff = b / D, which is what we cluster on too) or by their correctness vector
  across the training respondents ("correctness"; missing cells filled with the item's mean).
- `KMeans(n_clusters=n, sample_weight=normalised balance weights)`, `kmeans_restarts` restarts with
  seeds seed + 1000 t; the fit with the smallest inertia is kept.
- The anchor of a cluster is its member nearest (Euclidean) to the centroid; its weight is the
  cluster's share of the (balance-weighted) items, so the weights sum to 1.
- When there are fewer distinct item representations than anchors (e.g. 6 training models give
  at most 2^6 distinct correctness vectors), k-means runs with as many clusters as distinct points
  and the remaining anchors are allocated to the clusters with the largest weight per anchor
  (D'Hondt), drawn at random within the cluster; a cluster's weight is split equally among its
  anchors. This is stratified sampling and keeps the estimator unbiased.
- `labels` keeps every item's cluster, so the anchor estimate's standard error can be computed
  for a new respondent (estimators.anchor_standard_error); `train_variance` records the training
  respondents' within-cluster variance of Y as a diagnostic only (it is ~0 by construction when
  clustering on correctness, so it says nothing about a new respondent).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hibayes.irt.models import IRTFit
from hibayes.irt.responses import ResponseMatrix

__all__ = ["AnchorPoints", "select_anchors", "random_anchors", "item_representation"]


@dataclass
class AnchorPoints:
    """Anchor items and weights.

    Attributes:
        items: item ids of the anchors (n,).
        index: positions of the anchors among all N items (n,).
        weights: (n,) anchor weights, summing to 1.
        train_variance: (n,) within-cluster variance of Y behind each anchor, averaged over the
            training respondents (diagnostic).
        cluster_of_anchor: (n,) cluster label of each anchor.
        labels: (N,) cluster label of every item.
        embedding: (N, F) the item representation that was clustered (for plots).
        method: "kmeans-irt", "kmeans-correctness" or "random".
        n_clusters: number of k-means clusters actually used.
        all_items: the N item ids.
    """

    items: list[str]
    index: np.ndarray
    weights: np.ndarray
    train_variance: np.ndarray
    cluster_of_anchor: np.ndarray
    labels: np.ndarray
    embedding: np.ndarray | None
    method: str
    n_clusters: int
    all_items: list[str]

    @property
    def n(self) -> int:
        return len(self.items)

    def to_frame(self) -> pd.DataFrame:
        """One row per anchor: item, position, weight, cluster, cluster_size, train_variance."""
        if self.method == "random" or not len(self.labels):
            sizes = np.ones(int(self.cluster_of_anchor.max()) + 1 if self.n else 0, dtype=int)
        else:
            sizes = np.bincount(self.labels, minlength=int(self.labels.max()) + 1)
        return pd.DataFrame(
            {
                "item": self.items,
                "position": self.index.astype(int),
                "weight": self.weights,
                "cluster": self.cluster_of_anchor.astype(int),
                "cluster_size": [int(sizes[c]) for c in self.cluster_of_anchor],
                "train_variance": self.train_variance,
            }
        )


def item_representation(responses: ResponseMatrix | None, fit: IRTFit | None, space: str) -> np.ndarray:
    """(N, F) item features: (a_1..a_D, b / D) for "irt", the correctness columns for "correctness"."""
    if space == "irt":
        if fit is None:
            raise ValueError("anchor_space 'irt' needs a fitted IRT model (fit=...)")
        return np.column_stack([fit.a, fit.b / fit.dims])
    if space == "correctness":
        if responses is None:
            raise ValueError("anchor_space 'correctness' needs the training responses")
        y = responses.y
        col_mean = np.nanmean(y, axis=0)
        return np.where(np.isnan(y), col_mean[None, :], y).T
    raise ValueError(f"anchor_space: {space!r} is not one of irt, correctness")


def _within_cluster_variance(y: np.ndarray, labels: np.ndarray, w: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per cluster: mean over respondents of the weighted within-cluster variance of Y."""
    out = np.zeros(n_clusters)
    for c in range(n_clusters):
        sel = labels == c
        yc = y[:, sel]
        wc = np.broadcast_to(w[sel], yc.shape)
        ok = ~np.isnan(yc)
        wv = np.where(ok, wc, 0.0)
        tot = wv.sum(axis=1)
        valid = tot > 0
        if not valid.any():
            continue
        y0 = np.where(ok, yc, 0.0)
        mean = (y0 * wv).sum(axis=1)[valid] / tot[valid]
        dev = (y0[valid] - mean[:, None]) ** 2
        var = (dev * wv[valid]).sum(axis=1) / tot[valid]
        out[c] = float(var.mean())
    return out


def select_anchors(
    responses: ResponseMatrix,
    n_anchors: int,
    *,
    fit: IRTFit | None = None,
    space: str = "irt",
    weights: np.ndarray | None = None,
    seed: int = 0,
    restarts: int = 5,
) -> AnchorPoints:
    """Choose `n_anchors` anchor items by weighted k-means (see module docstring).

    Args:
        responses: training responses (J_train x N); used for "correctness" and for variances.
        n_anchors: number of anchors n (1 <= n <= N).
        fit: the IRT fit on the same items (needed for space="irt").
        space: "irt" or "correctness".
        weights: balance weights w~ (N,), any positive scale; None = equal.
        seed, restarts: k-means seeds seed + 1000 t, t < restarts; the lowest inertia wins.
    """
    from sklearn.cluster import KMeans

    N = len(responses.items)
    if fit is not None and list(fit.items) != list(responses.items):
        raise ValueError("fit and responses must have the same items in the same order")
    if not 1 <= n_anchors <= N:
        raise ValueError(f"n_anchors must lie in [1, {N}] (the number of items), got {n_anchors}")
    w = np.ones(N) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (N,) or (w <= 0).any():
        raise ValueError("weights: expected N positive balance weights")
    w_norm = w / w.sum()
    X = item_representation(responses, fit, space)
    n_distinct = len(np.unique(np.round(X, 10), axis=0))
    n_clusters = min(n_anchors, n_distinct)
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on duplicate points is expected
        for t in range(max(1, restarts)):
            km = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed + 1000 * t)
            km.fit(X, sample_weight=w_norm)
            if best is None or km.inertia_ < best.inertia_:
                best = km
    assert best is not None
    labels = np.asarray(best.labels_, dtype=int)
    # relabel to 0..C-1 over non-empty clusters
    used, labels = np.unique(labels, return_inverse=True)
    centers = best.cluster_centers_[used]
    C = len(used)
    anchors: list[int] = []
    anchor_cluster: list[int] = []
    for c in range(C):
        members = np.nonzero(labels == c)[0]
        d = ((X[members] - centers[c]) ** 2).sum(axis=1)
        anchors.append(int(members[np.argmin(d)]))
        anchor_cluster.append(c)
    cluster_w = np.array([w_norm[labels == c].sum() for c in range(C)])
    per_cluster = np.ones(C, dtype=int)
    rng = np.random.default_rng(seed)
    extra = n_anchors - C
    if extra > 0:
        sizes = np.bincount(labels, minlength=C)
        for _ in range(extra):
            room = per_cluster < sizes
            if not room.any():
                break
            score = np.where(room, cluster_w / per_cluster, -np.inf)
            c = int(np.argmax(score))
            taken = set(a for a, ac in zip(anchors, anchor_cluster) if ac == c)
            pool = [i for i in np.nonzero(labels == c)[0] if i not in taken]
            anchors.append(int(rng.choice(pool)))
            anchor_cluster.append(c)
            per_cluster[c] += 1
    anchor_cluster_arr = np.array(anchor_cluster, dtype=int)
    anchor_w = cluster_w[anchor_cluster_arr] / per_cluster[anchor_cluster_arr]
    var_c = _within_cluster_variance(responses.y, labels, w, C)
    order = np.argsort(anchors, kind="stable")
    idx = np.asarray(anchors)[order]
    return AnchorPoints(
        items=[responses.items[i] for i in idx],
        index=idx,
        weights=anchor_w[order],
        train_variance=var_c[anchor_cluster_arr][order],
        cluster_of_anchor=anchor_cluster_arr[order],
        labels=labels,
        embedding=X,
        method=f"kmeans-{space}",
        n_clusters=C,
        all_items=list(responses.items),
    )


def random_anchors(
    responses: ResponseMatrix,
    n_anchors: int,
    *,
    groups: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    seed: int = 0,
) -> AnchorPoints:
    """tinyBenchmarks' random baseline: n items sampled without replacement, stratified as evenly as
    possible over `groups` (e.g. task), each with weight 1/n (the plain mean of the sample)."""
    N = len(responses.items)
    if not 1 <= n_anchors <= N:
        raise ValueError(f"n_anchors must lie in [1, {N}], got {n_anchors}")
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = np.sort(rng.choice(N, size=n_anchors, replace=False))
    else:
        g = np.asarray(groups)
        uniq = list(pd.unique(g))
        rng.shuffle(uniq)
        pools = {u: list(rng.permutation(np.nonzero(g == u)[0])) for u in uniq}
        chosen: list[int] = []
        while len(chosen) < n_anchors:
            progressed = False
            for u in uniq:
                if pools[u] and len(chosen) < n_anchors:
                    chosen.append(int(pools[u].pop()))
                    progressed = True
            if not progressed:
                break
        idx = np.sort(np.array(chosen))
    w = np.ones(N) if weights is None else np.asarray(weights, float)
    var_all = float(np.nanmean(np.nanvar(responses.y, axis=1)))
    n = len(idx)
    return AnchorPoints(
        items=[responses.items[i] for i in idx],
        index=idx,
        weights=w[idx] / w[idx].sum(),
        train_variance=np.full(n, var_all),
        cluster_of_anchor=np.arange(n),
        labels=np.full(N, -1),
        embedding=None,
        method="random",
        n_clusters=n,
        all_items=list(responses.items),
    )
