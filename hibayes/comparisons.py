"""Model-against-model comparisons: paired, clustered and Bayesian answers side by side.

`compare_models` answers "is model A better than model B on this, by how much, and how sure are
we?" for every pair of models (or the contrasts asked for), on the items both models answered. It
returns one row per pair with the difference in mean score and, next to each other:

- a **naive CLT interval**: unpaired, each model's standard error from its own scores,
  ``SE = sqrt(s_A^2 / n + s_B^2 / n)`` (sample variances, ``ddof=1``), critical value
  ``z_{0.975}`` (Miller 2024, "Adding Error Bars to Evals", eqs. 1-2 and section 2.3: what most
  leaderboards report; it ignores both clustering and the pairing of questions);
- a **clustered interval**: unpaired, each model's cluster-robust standard error (Miller 2024,
  section 2.2 and appendix A),
  ``SE_cl = sqrt(C / (C - 1) * sum_c (sum_{i in c} (x_i - mean))^2) / n``, with the finite-cluster
  factor ``C / (C - 1)``; this is exactly what inspect_ai's ``stderr(cluster=...)`` metric returns
  for each model. Critical value: Student t with ``C - 1`` degrees of freedom, as inspect_ai's
  ``ci(cluster=...)`` uses (the usual few-clusters correction, Cameron & Miller 2015);
- a **paired interval** from the per-item differences ``d_i = x_{A,i} - x_{B,i}`` (Miller 2024,
  section 4, "paired differences"): ``SE = s_d / sqrt(n)``, Student t with ``n - 1`` degrees of
  freedom, which is the interval and p-value of the paired t-test (``scipy.stats.ttest_rel``);
- a **paired clustered interval** (only with a cluster column): the cluster-robust standard error
  above applied to the differences, Student t with ``C - 1`` degrees of freedom; this is
  inspect_ai's ``ci(cluster=...)`` applied to the differences, and what Miller recommends when
  questions come in groups;
- a **test of no difference**: McNemar's mid-p test when both models' item scores are 0/1
  (Fagerland, Lydersen & Laake 2013, "The McNemar test for binary matched-pairs data: mid-p and
  asymptotic are better than exact conditional", BMC Med. Res. Methodol. 13:91):
  with ``b`` items only A got right, ``c`` items only B got right, ``k = min(b, c)`` and
  ``X ~ Binomial(b + c, 1/2)``, ``mid-p = 2 * (P(X <= k) - P(X = k) / 2)``, i.e. the exact
  conditional p-value minus ``P(X = k)``; otherwise a paired **sign-flip permutation test** of the
  mean difference (Fisher 1935; Good 2005, "Permutation, Parametric and Bootstrap Tests of
  Hypotheses", ch. 3), exact when the ``2^m`` sign patterns of the ``m`` non-zero differences
  number at most ``n_permutations``, exact too when the differences are multiples of one step
  (scores averaged over a few epochs, ratings in tenths: the null distribution of the sum is a
  convolution of binomials, see `lattice_sign_flip_p`), else ``n_permutations`` seeded random
  patterns with ``p = (1 + #{|T*| >= |T|}) / (1 + R)`` (Phipson & Smyth 2010), which can never
  go below ``1 / (1 + R)``: across thousands of pairs Holm's adjustment would then keep every
  p-value near 1, where the exact ones keep their size;
- those p-values adjusted across the table's comparisons by **Holm**'s step-down method (Holm
  1979, "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6:65-70;
  family-wise error) and by **Benjamini-Hochberg** (Benjamini & Hochberg 1995, JRSS B 57:289-300;
  false discovery rate);
- a **power analysis** (Miller 2024, section 5): the minimum detectable difference at
  ``power`` (two-sided ``1 - level``) for the items at hand,
  ``MDD = (z_{1 - alpha/2} + z_{power}) * SE_paired`` (``SE_paired`` is the paired clustered SE
  when there are clusters, the paired SE otherwise), and the items needed to detect the observed
  difference, ``n * (MDD / |difference|)^2``, rounded up (as many more items of the same kind:
  clusters grow in proportion);
- from the caller's **posterior draws** of each model's mean score (a fitted hierarchical model,
  e.g. ``sigmoid`` of the model effects averaged over tasks): the posterior mean of the
  difference, its highest-density interval (the narrowest interval holding ``level`` of the draws,
  the algorithm of ArviZ's ``hdi``) and ``P(A > B)`` as the fraction of draws where A's mean is
  higher.

Items and epochs: an item is one sample id; the rows of one model and item (its epochs) are
averaged first, so each item counts once whatever its number of epochs (Miller 2024, section 3:
resampling answers reduces the within-question variance; the question stays the unit of
sampling). Averaged epochs of 0/1 scores are no longer 0/1, and then the permutation test replaces
McNemar's. Rows with a missing score are dropped (that model did not answer that item); a pair is
compared on the items both models answered. Small samples: CLT intervals undercover below a few
hundred items (Bowyer et al. 2025, "Don't use the CLT in LLM evals with fewer than a few hundred
datapoints"); `benchmarks/bench_calibration.py` measures by how much.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

COMPARISON_COLUMNS: tuple[str, ...] = (
    "model_a",
    "model_b",
    "n_items",
    "n_clusters",
    "binary",
    "mean_a",
    "mean_b",
    "difference",
    "se_naive",
    "naive_low",
    "naive_high",
    "se_clustered",
    "clustered_low",
    "clustered_high",
    "se_paired",
    "paired_low",
    "paired_high",
    "se_paired_clustered",
    "paired_clustered_low",
    "paired_clustered_high",
    "p_paired_t",
    "n_a_better",
    "n_b_better",
    "test",
    "p_value",
    "p_holm",
    "p_bh",
    "min_detectable_difference",
    "items_needed",
    "posterior_mean",
    "posterior_hdi_low",
    "posterior_hdi_high",
    "p_a_better",
)

# The intervals `plot_comparisons` draws: (label, low column, high column, centre column).
INTERVALS: tuple[tuple[str, str, str, str], ...] = (
    ("naive CLT", "naive_low", "naive_high", "difference"),
    ("clustered", "clustered_low", "clustered_high", "difference"),
    ("paired", "paired_low", "paired_high", "difference"),
    ("paired clustered", "paired_clustered_low", "paired_clustered_high", "difference"),
    ("posterior HDI", "posterior_hdi_low", "posterior_hdi_high", "posterior_mean"),
)
# More pairs than this are not drawn one row each (see `plot_comparisons`).
MAX_PLOTTED_PAIRS = 40
COLOURS = {
    "naive CLT": "#9e9e9e",
    "clustered": "#e08214",
    "paired": "#2166ac",
    "paired clustered": "#5aae61",
    "posterior HDI": "#762a83",
}


class ComparisonError(ValueError):
    """Input that cannot be compared: a missing column, non-numeric scores, an item in two
    clusters, an unknown model in a contrast or in the posterior draws."""


def compare_models(
    frame: pd.DataFrame,
    *,
    score_col: str = "score",
    model_col: str = "model",
    item_col: str = "item",
    cluster_col: str | None = None,
    contrasts: Sequence[tuple[str, str]] | None = None,
    posterior: pd.DataFrame | Mapping[str, Any] | None = None,
    level: float = 0.95,
    power: float = 0.8,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per pair (A, B), columns `COMPARISON_COLUMNS`; differences are A - B.

    `frame` is long: one row per model x item (x epoch), with `model_col`, `item_col`, a numeric
    `score_col` (0/1 or any number) and optionally `cluster_col` (the task, or any metadata field;
    one value per item). `contrasts` lists the (A, B) pairs to compare; by default every pair of
    models, A before B in sorted order. `posterior` holds draws of each model's mean score, one
    column per model (a DataFrame, or a mapping of model name to a 1-D array), all of the same
    length; without it the posterior columns are NaN, as are the clustered ones without
    `cluster_col`. The permutation test's random patterns come from `seed` and the pair's names,
    so a pair's p-value does not depend on which other pairs are in the table.
    """
    if not 0.0 < level < 1.0 or not 0.0 < power < 1.0:
        raise ComparisonError(f"level and power must lie in (0, 1); got level={level}, power={power}")
    item_scores, clusters = item_table(frame, score_col=score_col, model_col=model_col, item_col=item_col, cluster_col=cluster_col)
    pairs = _pairs(list(item_scores.columns), contrasts)
    draws = _posterior_draws(posterior, pairs)
    # All pairs' figures at once, on arrays: a pandas selection per pair cost more than the pair's
    # statistics when there are thousands of pairs (100 models: 4,950).
    column = {name: j for j, name in enumerate(item_scores.columns)}
    first = np.array([column[a] for a, _ in pairs], dtype=np.intp)
    second = np.array([column[b] for _, b in pairs], dtype=np.intp)
    codes = None if clusters is None else _cluster_codes(clusters.to_numpy())
    figures = _pair_figures(
        item_scores.to_numpy(float), first, second, codes, level=level, power=power, n_permutations=n_permutations,
        rngs=[np.random.default_rng([seed, zlib.crc32(f"{a}\0{b}".encode())]) for a, b in pairs],
    )
    rows = []
    for k, (a, b) in enumerate(pairs):
        row = {name: values[k] for name, values in figures.items()}
        if draws is not None:
            row.update(posterior_difference(draws[a], draws[b], level=level))
        rows.append({"model_a": a, "model_b": b, **row})
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    table["p_holm"] = holm(table["p_value"].to_numpy(float))
    table["p_bh"] = benjamini_hochberg(table["p_value"].to_numpy(float))
    return table


def item_table(
    frame: pd.DataFrame,
    *,
    score_col: str = "score",
    model_col: str = "model",
    item_col: str = "item",
    cluster_col: str | None = None,
) -> tuple[pd.DataFrame, pd.Series | None]:
    """Items x models of mean score over epochs (NaN where a model did not answer an item), and
    each item's cluster (None without `cluster_col`)."""
    needed = [model_col, item_col, score_col, *([cluster_col] if cluster_col else [])]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise ComparisonError(f"comparisons need the columns {missing}; the frame has {list(frame.columns)}")
    scores = pd.to_numeric(frame[score_col], errors="coerce")
    unreadable = scores.isna() & frame[score_col].notna()
    if unreadable.any():
        example = frame.loc[unreadable, score_col].iloc[0]
        raise ComparisonError(
            f"column '{score_col}' must be numeric (0/1 or a number); {int(unreadable.sum())} rows are not, e.g. {example!r}"
        )
    long = pd.DataFrame({"model": frame[model_col].astype(str), "item": frame[item_col], "score": scores}).dropna(subset=["score"])
    wide = long.groupby(["item", "model"], sort=True)["score"].mean().unstack("model")
    if cluster_col is None:
        return wide, None
    per_item = frame.groupby(item_col)[cluster_col].agg(["nunique", "first", "size"])
    per_item_missing = frame[cluster_col].isna().groupby(frame[item_col]).any()
    if per_item_missing.any():
        raise ComparisonError(f"cluster column '{cluster_col}' is empty for item {per_item_missing.idxmax()!r}")
    split = per_item[per_item["nunique"] > 1]
    if len(split):
        raise ComparisonError(
            f"each item needs one '{cluster_col}'; {len(split)} items have several, e.g. {split.index[0]!r}"
        )
    return wide, per_item["first"].reindex(wide.index)


def compare_pair(
    a: np.ndarray,
    b: np.ndarray,
    clusters: np.ndarray | None = None,
    *,
    level: float = 0.95,
    power: float = 0.8,
    n_permutations: int = 10_000,
    rng: np.random.Generator | None = None,
) -> dict[str, Any]:
    """The frequentist figures of one pair from aligned per-item scores (see the module
    docstring for each formula). Keys are the `COMPARISON_COLUMNS` that do not need the names,
    the other pairs or posterior draws; values are NaN where undefined (fewer than 2 items or
    clusters)."""
    scores = np.column_stack([np.asarray(a, float), np.asarray(b, float)])
    codes = None if clusters is None else _cluster_codes(np.asarray(clusters))
    figures = _pair_figures(
        scores, np.array([0]), np.array([1]), codes, level=level, power=power, n_permutations=n_permutations,
        rngs=[rng or np.random.default_rng(0)],
    )
    return {name: _scalar(values[0]) for name, values in figures.items()}


def _pair_figures(
    scores: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    codes: np.ndarray | None,
    *,
    level: float,
    power: float,
    n_permutations: int,
    rngs: Sequence[np.random.Generator],
) -> dict[str, np.ndarray]:
    """`compare_pair`'s figures for the pairs (scores[:, first[k]], scores[:, second[k]]) of an
    items x models table (NaN: not answered), each pair on the items both answered; `codes`: each
    item's cluster as 0..C-1. Arrays, one entry per pair; pairs go through in chunks of a few
    million item cells."""
    if len(first) == 0:
        return {name: np.array([]) for name in COMPARISON_COLUMNS[2:]}
    cluster_starts = None
    if codes is not None:  # items in runs of one cluster each, so that a cluster's sums are one reduceat
        order = np.argsort(codes, kind="stable")
        scores, codes = scores[order], codes[order]
        cluster_starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([], dtype=np.intp)
    chunk = max(1, 4_000_000 // max(1, len(scores)))
    parts = [
        _chunk_figures(scores, first[start : start + chunk], second[start : start + chunk], cluster_starts)
        for start in range(0, len(first), chunk)
    ]
    figures = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]} if parts else {}
    differences = figures.pop("_differences", [])
    n, difference = figures["n_items"], figures["difference"]
    z = stats.norm.ppf(0.5 + level / 2)
    figures["naive_low"], figures["naive_high"] = _interval(difference, figures["se_naive"], z)
    t_items = _t_quantiles(0.5 + level / 2, n - 1)
    figures["paired_low"], figures["paired_high"] = _interval(difference, figures["se_paired"], t_items)
    figures["p_paired_t"] = _t_test_p(difference, figures["se_paired"], n - 1)
    t_clusters = _t_quantiles(0.5 + level / 2, figures["n_clusters"] - 1)
    figures["clustered_low"], figures["clustered_high"] = _interval(difference, figures["se_clustered"], t_clusters)
    figures["paired_clustered_low"], figures["paired_clustered_high"] = _interval(
        difference, figures["se_paired_clustered"], t_clusters
    )
    binary = figures["binary"]
    figures["test"] = np.where(binary, "mcnemar_mid_p", "sign_flip_permutation").astype(object)
    figures["p_value"] = np.where(binary, mcnemar_mid_p(figures["n_a_better"], figures["n_b_better"]), np.nan)
    for k in np.flatnonzero(~binary):
        figures["p_value"][k] = sign_flip_p(differences[k], n_permutations, rngs[k])
    se_for_power = figures["se_paired"] if codes is None else figures["se_paired_clustered"]
    figures["min_detectable_difference"] = min_detectable_difference(se_for_power, level=level, power=power)
    figures["items_needed"] = items_needed(figures["min_detectable_difference"], difference, n)
    for key in ("posterior_mean", "posterior_hdi_low", "posterior_hdi_high", "p_a_better"):
        figures[key] = np.full(len(n), np.nan)
    return figures


def _chunk_figures(scores: np.ndarray, first: np.ndarray, second: np.ndarray, cluster_starts: np.ndarray | None) -> dict[str, Any]:
    """Counts, means, standard errors and binary flags of some pairs (see `_pair_figures`), and the
    per-item differences of the pairs that are not binary (for their permutation test);
    `cluster_starts`: where each cluster's run of items starts (None: no clusters)."""
    a_all, b_all = scores[:, first], scores[:, second]
    both = ~np.isnan(a_all) & ~np.isnan(b_all)
    a, b = np.where(both, a_all, 0.0), np.where(both, b_all, 0.0)
    d = a - b
    n = both.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_a, mean_b, mean_d = (x.sum(axis=0) / n for x in (a, b, d))
        deviations = {name: np.where(both, x - mean, 0.0) for name, x, mean in (("a", a, mean_a), ("b", b, mean_b), ("d", d, mean_d))}
        iid = {name: np.where(n > 1, np.sqrt((dev**2).sum(axis=0) / (n - 1)) / np.sqrt(n), np.nan) for name, dev in deviations.items()}
    not_binary = both & ~(((a == 0.0) | (a == 1.0)) & ((b == 0.0) | (b == 1.0)))
    binary = ~not_binary.any(axis=0)
    figures: dict[str, Any] = {
        "n_items": n,
        "n_clusters": np.full(len(n), np.nan),
        "binary": binary,
        "mean_a": mean_a,
        "mean_b": mean_b,
        "difference": mean_d,
        "n_a_better": (d > 0).sum(axis=0),
        "n_b_better": (d < 0).sum(axis=0),
        "se_naive": np.hypot(iid["a"], iid["b"]),
        "se_paired": iid["d"],
        "se_clustered": np.full(len(n), np.nan),
        "se_paired_clustered": np.full(len(n), np.nan),
        "_differences": np.empty(len(n), dtype=object),
    }
    for k in np.flatnonzero(~binary):
        figures["_differences"][k] = d[both[:, k], k]
    if cluster_starts is not None:
        clustered = _clustered_stderrs(deviations, both, n, cluster_starts)
        figures["n_clusters"] = clustered.pop("n_clusters").astype(np.int64)
        figures["se_clustered"] = np.hypot(clustered["a"], clustered["b"])
        figures["se_paired_clustered"] = clustered["d"]
    return figures


def _clustered_stderrs(deviations: dict[str, np.ndarray], both: np.ndarray, n: np.ndarray, cluster_starts: np.ndarray) -> dict[str, np.ndarray]:
    """The cluster-robust standard error of the mean (the module docstring's ``SE_cl``) of each
    (items x pairs) matrix of deviations from the pair's mean (zero on items a pair leaves out), items in runs of one cluster starting at `cluster_starts`, and each
    pair's number of clusters among its items."""
    if len(cluster_starts) == 0:
        nothing = np.full(len(n), np.nan)
        return {"n_clusters": np.zeros(len(n)), **{name: nothing for name in deviations}}
    n_clusters = np.logical_or.reduceat(both, cluster_starts, axis=0).sum(axis=0).astype(float)
    out = {"n_clusters": n_clusters}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, deviation in deviations.items():
            sums = np.add.reduceat(deviation, cluster_starts, axis=0)
            out[name] = np.where(
                n_clusters > 1, np.sqrt((sums**2).sum(axis=0) * n_clusters / (n_clusters - 1)) / n, np.nan
            )
    return out


def _t_quantiles(q: float, df: np.ndarray) -> np.ndarray:
    """Student t quantiles per pair (NaN below 1 degree of freedom), once per distinct df."""
    df = np.asarray(df, float)
    out = np.full(df.shape, np.nan)
    valid = df >= 1
    if valid.any():
        distinct, inverse = np.unique(df[valid], return_inverse=True)
        out[valid] = stats.t.ppf(q, distinct)[inverse]
    return out


def _scalar(value: Any) -> Any:
    """A numpy scalar as the Python value a row holds (an int count stays an int)."""
    return value.item() if isinstance(value, np.generic) else value


def mcnemar_mid_p(a_only: Any, b_only: Any) -> Any:
    """McNemar's mid-p value from the discordant counts (Fagerland et al. 2013, eq. 4):
    ``2 * (P(X <= k) - P(X = k) / 2)`` with ``X ~ Binomial(a_only + b_only, 1/2)`` and
    ``k = min(a_only, b_only)``; 1 when there is no discordant item. Counts or arrays of counts."""
    n, k = np.add(a_only, b_only), np.minimum(a_only, b_only)
    p = np.where(n == 0, 1.0, np.minimum(1.0, 2.0 * (stats.binom.cdf(k, n, 0.5) - 0.5 * stats.binom.pmf(k, n, 0.5))))
    return float(p) if np.ndim(p) == 0 else p


def sign_flip_p(differences: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    """Two-sided p-value of the paired sign-flip permutation test of mean(differences) = 0.

    Under the null that A's and B's scores are exchangeable within each item, every sign pattern
    of the differences is equally likely. Zero differences do not change the statistic and are
    left out. Exact over all ``2^m`` patterns when there are at most `n_permutations`; exact from
    the null distribution when the differences lie on a lattice (`lattice_sign_flip_p`: scores
    averaged over epochs, ratings in tenths); else ``(1 + hits) / (1 + n_permutations)`` over
    random patterns (Phipson & Smyth 2010)."""
    d = np.asarray(differences, float)
    d = d[d != 0]
    if len(d) == 0:
        return 1.0
    observed = abs(d.sum())
    # Sums equal up to rounding count as ties (the statistic's own sign patterns included).
    tolerance = 1e-9 * max(1.0, np.abs(d).sum())
    if 2 ** len(d) <= n_permutations:
        signs = 1 - 2 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)
        return float(np.mean(np.abs(signs @ d) >= observed - tolerance))
    exact = lattice_sign_flip_p(d)
    if exact is not None:
        return exact
    # A pattern's sum is sum(d) - 2 * (the sum of the flipped differences). Few distinct differences:
    # the number of flipped items of each value is drawn at once, Binomial(its count, 1/2), the same
    # distribution as flipping them one by one. Otherwise each pattern is a row of random bits
    # (1: the sign flips), drawn as bytes.
    total, row_bytes = d.sum(), (len(d) + 7) // 8
    values, counts = np.unique(d, return_counts=True)
    grouped = len(values) * 8 <= len(d)
    hits, chunk = 0, max(1, 2_000_000 // (len(values) if grouped else len(d)))
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        if grouped:
            flipped = rng.binomial(counts, 0.5, size=(size, len(values))) @ values
        else:
            packed = np.frombuffer(rng.bytes(size * row_bytes), np.uint8).reshape(size, row_bytes)
            flipped = np.unpackbits(packed, axis=1, count=len(d)).astype(float) @ d
        hits += int(np.sum(np.abs(total - 2.0 * flipped) >= observed - tolerance))
    return (1 + hits) / (1 + n_permutations)


# A lattice: differences that are integer multiples of 1/q for a q up to this.
LATTICE_DENOMINATOR = 1_000
# The most multiply-adds spent on the exact null distribution's convolutions before the Monte Carlo
# test is cheaper.
LATTICE_WORK = 20_000_000


def lattice_sign_flip_p(differences: np.ndarray) -> float | None:
    """The exact p-value of the sign-flip test of non-zero `differences` that are integer multiples
    of one step 1/q (q <= `LATTICE_DENOMINATOR`), or None when they are not, or when its distribution
    would take more than `LATTICE_WORK` operations.

    In units of the step each |d_i| is an integer m_i. Under the null each sign flips with
    probability 1/2 whatever its own sign, so the signed sum is distributed as T - 2F, with
    T = sum_i m_i and F = sum_j m_j B_j over the distinct values m_j (c_j items each),
    B_j ~ Binomial(c_j, 1/2) independent. p = P(|T - 2F| >= |sum_i sign(d_i) m_i|), in integers
    (ties are exact): the distribution of every term but the largest by convolution, then that
    term through its cumulative probabilities. Every sum has positive terms, so small p-values keep
    their relative precision (below about 1e-308 they round to 0)."""
    signed_values, signed_counts = np.unique(np.asarray(differences, float), return_counts=True)
    if len(signed_values) > 128:
        return None
    values, of_signed = np.unique(np.abs(signed_values), return_inverse=True)
    counts = np.bincount(of_signed, weights=signed_counts).astype(np.int64)
    fractions = [Fraction(float(v)).limit_denominator(LATTICE_DENOMINATOR) for v in values]
    if any(abs(float(f) - v) > 1e-9 * max(1.0, v) for f, v in zip(fractions, values)):
        return None
    q = math.lcm(*(f.denominator for f in fractions))
    steps = np.array([f.numerator * (q // f.denominator) for f in fractions], dtype=np.int64)
    if q > LATTICE_DENOMINATOR**2 or np.any(steps <= 0):
        return None
    observed = abs(int(np.dot(signed_counts, np.sign(signed_values).astype(np.int64) * steps[of_signed])))
    if observed == 0:
        return 1.0
    total = int(np.dot(counts, steps))
    low, high = (total - observed) // 2, (total + observed + 1) // 2  # F <= low or F >= high
    order = np.argsort(counts * steps, kind="stable")
    rest = np.ones(1)  # the distribution of the sum of every term but the last, on 0, 1, 2, ...
    work = 0
    for j in order[:-1]:
        term = np.zeros(counts[j] * steps[j] + 1)
        term[:: steps[j]] = _fair_binomial_pmf(int(counts[j]))
        work += len(rest) * len(term)
        if work > LATTICE_WORK:
            return None
        rest = np.convolve(rest, term)
    last_count, last_step = int(counts[order[-1]]), int(steps[order[-1]])
    pmf = _fair_binomial_pmf(last_count)
    at_most = np.cumsum(pmf)  # P(B <= k)
    at_least = np.cumsum(pmf[::-1])[::-1]  # P(B >= k)
    g = np.arange(len(rest))
    below = (low - g) // last_step  # F = g + step * B <= low  <=>  B <= below
    above = -((g - high) // last_step)  # F >= high  <=>  B >= above
    p_low = np.where(below < 0, 0.0, at_most[np.clip(below, 0, last_count)])
    p_high = np.where(above > last_count, 0.0, at_least[np.clip(above, 0, last_count)])
    return float(min(1.0, np.dot(rest, p_low + p_high)))


def _fair_binomial_pmf(n: int) -> np.ndarray:
    """P(B = k), k = 0..n, for B ~ Binomial(n, 1/2), from log-gamma (relative error about
    1e-16 times |log P|)."""
    log_factorials = special.gammaln(np.arange(n + 1) + 1.0)
    return np.exp(log_factorials[n] - log_factorials - log_factorials[::-1] - n * math.log(2.0))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979): with the m p-values sorted ascending,
    ``p_(i) adjusted = max_{j <= i} min(1, (m - j + 1) p_(j))``. NaN stays NaN and does not count."""
    p = np.asarray(p_values, float)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (Benjamini & Hochberg 1995): with the m p-values sorted
    ascending, ``p_(i) adjusted = min_{j >= i} min(1, m / j * p_(j))``. NaN stays NaN and does not
    count."""
    p = np.asarray(p_values, float)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    scaled = np.minimum(1.0, m / np.arange(1, m + 1) * p[order])
    out[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return out


def min_detectable_difference(stderr: Any, *, level: float = 0.95, power: float = 0.8) -> Any:
    """The true difference a two-sided test at ``1 - level`` detects with probability `power`,
    given the standard error of the estimated difference (Miller 2024, section 5):
    ``(z_{1 - alpha/2} + z_{power}) * stderr``. A number or an array of them."""
    mdd = (stats.norm.ppf(0.5 + level / 2) + stats.norm.ppf(power)) * np.asarray(stderr, float)
    return float(mdd) if np.ndim(mdd) == 0 else mdd


def items_needed(min_detectable: Any, difference: Any, n_items: Any) -> Any:
    """Items of the same kind needed for `difference` to be the minimum detectable difference:
    the standard error shrinks as ``1 / sqrt(n)``, so ``ceil(n * (MDD / |difference|)^2)``;
    infinite for a zero difference, NaN when the MDD is unknown. Numbers or arrays of them."""
    mdd, difference, n_items = (np.asarray(x, float) for x in (min_detectable, difference, n_items))
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.ceil(n_items * (mdd / np.abs(difference)) ** 2 - 1e-9)
    needed = np.where(difference == 0, np.inf, needed)
    needed = np.where(np.isnan(mdd) | np.isnan(difference), np.nan, needed)
    return float(needed) if np.ndim(needed) == 0 else needed


def hdi(draws: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    """The narrowest interval holding `prob` of the draws (the sorted-draws algorithm that ArviZ's
    ``hdi`` uses for unimodal posteriors)."""
    ordered = np.sort(np.asarray(draws, float))
    n = len(ordered)
    inside = int(np.floor(prob * n))
    widths = ordered[inside:] - ordered[: n - inside]
    start = int(np.argmin(widths))
    return float(ordered[start]), float(ordered[start + inside])


def posterior_difference(draws_a: np.ndarray, draws_b: np.ndarray, *, level: float = 0.95) -> dict[str, float]:
    """Posterior mean, `level` HDI and P(A > B) of the difference of two models' mean scores, from
    draws taken jointly (draw i of A and of B come from the same posterior draw)."""
    difference = np.asarray(draws_a, float) - np.asarray(draws_b, float)
    low, high = hdi(difference, level)
    return {
        "posterior_mean": float(difference.mean()),
        "posterior_hdi_low": low,
        "posterior_hdi_high": high,
        "p_a_better": float(np.mean(difference > 0)),
    }


def headline(table: pd.DataFrame, *, listed: bool = False, level: float = 0.95) -> str | None:
    """The table's one line for a reader: "aurora vs borealis: +0.11 [paired clustered 95% CI
    +0.04, +0.18], P(better) 0.99" (None for an empty table).

    The pair: the first row when the table is of `listed` contrasts (the caller's order), else the
    two models with the highest mean scores, the better one first (signs flipped when the table
    has it second). The interval: paired clustered when there are clusters, else paired, the ones
    that keep their coverage in `benchmarks/bench_calibration.py`. P(better) only with posterior
    draws."""
    if table.empty:
        return None
    row = table.iloc[0]
    if len(table) > 1 and not listed:
        means = pd.concat([table.set_index("model_a")["mean_a"], table.set_index("model_b")["mean_b"]])
        means = means[~means.index.duplicated()].sort_values(ascending=False, kind="stable")
        top = set(means.index[:2])
        row = table[[{a, b} == top for a, b in zip(table["model_a"], table["model_b"])]].iloc[0]
        if row["mean_b"] > row["mean_a"]:
            row = _flipped(row)
    clustered = not np.isnan(row["paired_clustered_low"])
    low, high = (row["paired_clustered_low"], row["paired_clustered_high"]) if clustered else (row["paired_low"], row["paired_high"])
    text = (
        f"{row['model_a']} vs {row['model_b']}: {row['difference']:+.2f} "
        f"[{'paired clustered' if clustered else 'paired'} {level:.0%} CI {low:+.2f}, {high:+.2f}]"
    )
    if not np.isnan(row["p_a_better"]):
        text += f", P(better) {row['p_a_better']:.2f}"
    return text


def _flipped(row: pd.Series) -> pd.Series:
    """The same comparison as B - A."""
    out = row.copy()
    out["model_a"], out["model_b"], out["mean_a"], out["mean_b"] = row["model_b"], row["model_a"], row["mean_b"], row["mean_a"]
    for name in ("difference", "posterior_mean"):
        out[name] = -row[name]
    for _, low, high, _ in INTERVALS:
        out[low], out[high] = -row[high], -row[low]
    out["p_a_better"] = 1.0 - row["p_a_better"]
    return out


def plot_comparisons(table: pd.DataFrame, *, title: str | None = None, max_pairs: int = MAX_PLOTTED_PAIRS) -> Any:
    """One matplotlib Figure: a row per pair, the difference A - B with each method's interval
    (naive CLT, clustered, paired, paired clustered, posterior HDI) drawn one above the other, and
    a line at zero. Intervals that are NaN in the table (no clusters, no posterior) are left out.
    Of more than `max_pairs` pairs, the `max_pairs` with the smallest Holm-adjusted p-values are
    drawn (in the table's order) and the title says so: a row per pair of 100 models is 4,950
    unreadable rows whose labels alone took minutes to lay out; the table holds every pair."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if len(table) > max_pairs:
        kept = table["p_holm"].rank(method="first", na_option="bottom") <= max_pairs
        note = f"the {max_pairs} of {len(table)} pairs with the smallest Holm-adjusted p-values"
        title = f"{title}: {note}" if title else note
        table = table[kept]

    shown = [spec for spec in INTERVALS if table[spec[1]].notna().any()]
    height = 1.0 + 0.2 * len(table) * max(1, len(shown))
    fig = Figure(figsize=(7.5, min(max(2.5, height), 40.0)), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    step = 0.8 / max(1, len(shown))
    for k, (label, low, high, centre) in enumerate(shown):
        y = np.arange(len(table))[::-1] + 0.4 - step * (k + 0.5)
        mid, lo, hi = (table[c].to_numpy(float) for c in (centre, low, high))
        ax.errorbar(mid, y, xerr=[mid - lo, hi - mid], fmt="o", ms=4, capsize=2.5, color=COLOURS[label], label=label)
    ax.axvline(0.0, color="black", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(table))[::-1])
    ax.set_yticklabels([f"{a} - {b}" for a, b in zip(table["model_a"], table["model_b"])])
    ax.set_ylim(-0.6, len(table) - 0.4)
    ax.set_xlabel("difference in mean score (A - B) with each method's interval")
    ax.legend(loc="best", fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def _interval(centre: Any, stderr: Any, critical: Any) -> tuple[Any, Any]:
    return centre - critical * stderr, centre + critical * stderr


def _t_test_p(difference: np.ndarray, stderr: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-values of paired t statistics (the one `scipy.stats.ttest_rel` reports): NaN
    below 1 degree of freedom or without a standard error; 1 or 0 for a zero standard error."""
    difference, stderr, df = (np.asarray(x, float) for x in (difference, stderr, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(difference / stderr), np.maximum(df, 1))
    p = np.where(stderr == 0, np.where(difference == 0, 1.0, 0.0), p)
    return np.where((df < 1) | np.isnan(stderr), np.nan, p)


def _cluster_codes(clusters: np.ndarray) -> np.ndarray:
    """Each item's cluster as 0..C-1."""
    return np.unique(np.asarray(clusters).astype(str), return_inverse=True)[1].ravel()


def _pairs(models: list[str], contrasts: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if contrasts is None:
        return list(itertools.combinations(sorted(models), 2))
    pairs = []
    for contrast in contrasts:
        if isinstance(contrast, str) or len(contrast) != 2:
            raise ComparisonError(f"a contrast is a pair of model names (A, B); got {contrast!r}")
        unknown = [name for name in contrast if str(name) not in models]
        if unknown:
            raise ComparisonError(f"contrast {tuple(contrast)}: no scores for {unknown}; models are {sorted(models)}")
        pairs.append((str(contrast[0]), str(contrast[1])))
    return pairs


def _posterior_draws(posterior: pd.DataFrame | Mapping[str, Any] | None, pairs: list[tuple[str, str]]) -> pd.DataFrame | None:
    if posterior is None:
        return None
    try:
        draws = pd.DataFrame({str(name): np.asarray(values, float).ravel() for name, values in dict(posterior.items()).items()})
    except ValueError as error:
        raise ComparisonError(f"posterior draws must be one equally long 1-D array per model: {error}") from error
    missing = sorted({name for pair in pairs for name in pair} - set(draws.columns))
    if missing:
        raise ComparisonError(f"posterior draws have no column for {missing}; they have {list(draws.columns)}")
    return draws
