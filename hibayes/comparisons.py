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
  number at most ``n_permutations``, else ``n_permutations`` seeded random patterns with
  ``p = (1 + #{|T*| >= |T|}) / (1 + R)`` (Phipson & Smyth 2010); when the differences take few
  distinct values (scores averaged over a few epochs), a pattern draws how many of each value flip,
  ``Binomial(count, 1/2)``, which has the same distribution as flipping them one by one;
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
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

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
    # Columns as arrays, once: a pandas selection and dropna per pair cost more than the pair's
    # statistics when there are thousands of pairs (100 models: 4,950).
    scores = item_scores.to_numpy(float)
    column = {name: j for j, name in enumerate(item_scores.columns)}
    cluster_values = None if clusters is None else clusters.to_numpy()
    rows = []
    for a, b in pairs:
        score_a, score_b = scores[:, column[a]], scores[:, column[b]]
        both = ~np.isnan(score_a) & ~np.isnan(score_b)
        row = compare_pair(
            score_a[both],
            score_b[both],
            None if cluster_values is None else cluster_values[both],
            level=level,
            power=power,
            n_permutations=n_permutations,
            rng=np.random.default_rng([seed, zlib.crc32(f"{a}\0{b}".encode())]),
        )
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
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = len(a)
    d = a - b
    z = stats.norm.ppf(0.5 + level / 2)
    row: dict[str, Any] = {
        "n_items": n,
        "n_clusters": len(np.unique(clusters)) if clusters is not None else np.nan,
        "binary": bool(np.all(np.isin(a, (0.0, 1.0))) and np.all(np.isin(b, (0.0, 1.0)))),
        "mean_a": a.mean() if n else np.nan,
        "mean_b": b.mean() if n else np.nan,
        "difference": d.mean() if n else np.nan,
        "n_a_better": int(np.sum(d > 0)),
        "n_b_better": int(np.sum(d < 0)),
    }
    row["se_naive"] = math.hypot(iid_stderr(a), iid_stderr(b))
    row["naive_low"], row["naive_high"] = _interval(row["difference"], row["se_naive"], z)
    row["se_paired"] = iid_stderr(d)
    t_items = stats.t.ppf(0.5 + level / 2, n - 1) if n > 1 else np.nan
    row["paired_low"], row["paired_high"] = _interval(row["difference"], row["se_paired"], t_items)
    row["p_paired_t"] = _t_test_p(row["difference"], row["se_paired"], n - 1)
    se_for_power = row["se_paired"]
    for name in ("clustered", "paired_clustered"):
        row[f"se_{name}"] = row[f"{name}_low"] = row[f"{name}_high"] = np.nan
    if clusters is not None:
        n_clusters = row["n_clusters"]
        t_clusters = stats.t.ppf(0.5 + level / 2, n_clusters - 1) if n_clusters > 1 else np.nan
        row["se_clustered"] = math.hypot(clustered_stderr(a, clusters), clustered_stderr(b, clusters))
        row["clustered_low"], row["clustered_high"] = _interval(row["difference"], row["se_clustered"], t_clusters)
        row["se_paired_clustered"] = se_for_power = clustered_stderr(d, clusters)
        row["paired_clustered_low"], row["paired_clustered_high"] = _interval(
            row["difference"], row["se_paired_clustered"], t_clusters
        )
    if row["binary"]:
        row["test"], row["p_value"] = "mcnemar_mid_p", mcnemar_mid_p(row["n_a_better"], row["n_b_better"])
    else:
        row["test"] = "sign_flip_permutation"
        row["p_value"] = sign_flip_p(d, n_permutations, rng or np.random.default_rng(0))
    row["min_detectable_difference"] = min_detectable_difference(se_for_power, level=level, power=power)
    row["items_needed"] = items_needed(row["min_detectable_difference"], row["difference"], n)
    for key in ("posterior_mean", "posterior_hdi_low", "posterior_hdi_high", "p_a_better"):
        row[key] = np.nan
    return row


def iid_stderr(values: np.ndarray) -> float:
    """Standard error of the mean of independent values, ``s / sqrt(n)`` with ``ddof=1``
    (Miller 2024, eq. 2); NaN below 2 values."""
    values = np.asarray(values, float)
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.nan


def clustered_stderr(values: np.ndarray, clusters: np.ndarray) -> float:
    """Cluster-robust standard error of the mean (Miller 2024, appendix A, with the finite-cluster
    factor C / (C - 1) as in inspect_ai's ``stderr(cluster=...)``):
    ``sqrt(C / (C - 1) * sum_c (sum_{i in c} (x_i - mean))^2) / n``. NaN below 2 clusters."""
    values = np.asarray(values, float)
    codes, n_clusters = _cluster_codes(clusters)
    if n_clusters < 2:
        return np.nan
    cluster_sums = np.bincount(codes, weights=values - values.mean(), minlength=n_clusters)
    return float(np.sqrt(np.sum(cluster_sums**2) * n_clusters / (n_clusters - 1)) / len(values))


def mcnemar_mid_p(a_only: int, b_only: int) -> float:
    """McNemar's mid-p value from the discordant counts (Fagerland et al. 2013, eq. 4):
    ``2 * (P(X <= k) - P(X = k) / 2)`` with ``X ~ Binomial(a_only + b_only, 1/2)`` and
    ``k = min(a_only, b_only)``; 1 when there is no discordant item."""
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * (stats.binom.cdf(k, n, 0.5) - 0.5 * stats.binom.pmf(k, n, 0.5))))


def sign_flip_p(differences: np.ndarray, n_permutations: int, rng: np.random.Generator) -> float:
    """Two-sided p-value of the paired sign-flip permutation test of mean(differences) = 0.

    Under the null that A's and B's scores are exchangeable within each item, every sign pattern
    of the differences is equally likely. Zero differences do not change the statistic and are
    left out. Exact over all ``2^m`` patterns when there are at most `n_permutations`, else
    ``(1 + hits) / (1 + n_permutations)`` over random patterns (Phipson & Smyth 2010)."""
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
    # A pattern's sum is sum(d) - 2 * (the sum of the flipped differences). Scores averaged over a
    # few epochs make few distinct differences: then the number of flipped items of each value is
    # drawn at once, Binomial(its count, 1/2), the same distribution as flipping them one by one.
    # Otherwise each pattern is a row of random bits (1: the sign flips), drawn as bytes.
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


def min_detectable_difference(stderr: float, *, level: float = 0.95, power: float = 0.8) -> float:
    """The true difference a two-sided test at ``1 - level`` detects with probability `power`,
    given the standard error of the estimated difference (Miller 2024, section 5):
    ``(z_{1 - alpha/2} + z_{power}) * stderr``."""
    return float((stats.norm.ppf(0.5 + level / 2) + stats.norm.ppf(power)) * stderr)


def items_needed(min_detectable: float, difference: float, n_items: int) -> float:
    """Items of the same kind needed for `difference` to be the minimum detectable difference:
    the standard error shrinks as ``1 / sqrt(n)``, so ``ceil(n * (MDD / |difference|)^2)``;
    infinite for a zero difference, NaN when the MDD is unknown."""
    if np.isnan(min_detectable) or np.isnan(difference):
        return np.nan
    if difference == 0:
        return math.inf
    return float(math.ceil(n_items * (min_detectable / abs(difference)) ** 2 - 1e-9))


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


def _interval(centre: float, stderr: float, critical: float) -> tuple[float, float]:
    return centre - critical * stderr, centre + critical * stderr


def _t_test_p(difference: float, stderr: float, df: int) -> float:
    """Two-sided p-value of the paired t statistic (the one `scipy.stats.ttest_rel` reports)."""
    if df < 1 or np.isnan(stderr):
        return np.nan
    if stderr == 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * stats.t.sf(abs(difference / stderr), df))


def _cluster_codes(clusters: np.ndarray) -> tuple[np.ndarray, int]:
    _, codes = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    return codes, int(codes.max()) + 1 if len(codes) else 0


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
