"""Known answers for `hibayes.comparisons`: every frequentist figure against an independent
implementation on the same data (scipy, inspect_ai's own metrics, a direct loop), to 1e-9; the
posterior part and the power analysis against synthetic truth within stated tolerances."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd
import pytest
from inspect_ai.scorer import SampleScore, Score, ci, stderr
from scipy import stats

from hibayes.comparisons import (
    ComparisonError,
    benjamini_hochberg,
    compare_models,
    compare_pair,
    holm,
    item_table,
    mcnemar_mid_p,
    lattice_sign_flip_p,
    plot_comparisons,
    sign_flip_p,
)

TOL = 1e-9
Z = stats.norm.ppf(0.975)


def _frame(binary: bool, n_items: int = 60, n_tasks: int = 7, seed: int = 3) -> pd.DataFrame:
    """Three models on the same items; items in tasks of unequal sizes; correlated scores."""
    rng = np.random.default_rng(seed)
    task = rng.integers(0, n_tasks, n_items)
    difficulty = rng.normal(0, 1, n_items) + rng.normal(0, 1, n_tasks)[task]
    rows = []
    for model, skill in (("aurora", 0.6), ("borealis", 0.2), ("cirrus", 0.0)):
        latent = skill - difficulty + rng.normal(0, 1, n_items)
        scores = (latent > 0).astype(float) if binary else np.clip(np.round(latent, 1), -2, 2)
        rows += [{"model": model, "item": f"q{i}", "task": f"t{task[i]}", "score": s} for i, s in enumerate(scores)]
    return pd.DataFrame(rows)


def _sample_scores(values: np.ndarray, tasks: np.ndarray) -> list[SampleScore]:
    return [
        SampleScore(score=Score(value=float(v)), sample_id=i, sample_metadata={"task": t})
        for i, (v, t) in enumerate(zip(values, tasks))
    ]


def _pair_arrays(frame: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wide = frame.pivot(index="item", columns="model", values="score").sort_index()
    tasks = frame.drop_duplicates("item").set_index("item")["task"].reindex(wide.index)
    return wide[a].to_numpy(), wide[b].to_numpy(), tasks.to_numpy()


@pytest.mark.parametrize("binary", [True, False])
def test_naive_clustered_and_paired_intervals_equal_scipy_and_inspect(binary: bool) -> None:
    frame = _frame(binary)
    table = compare_models(frame, score_col="score", cluster_col="task")
    assert list(zip(table.model_a, table.model_b)) == [("aurora", "borealis"), ("aurora", "cirrus"), ("borealis", "cirrus")]
    for row in table.itertuples():
        a, b, tasks = _pair_arrays(frame, row.model_a, row.model_b)
        d = a - b
        n_tasks = len(set(tasks))
        assert row.n_items == len(a) and row.n_clusters == n_tasks and row.binary == binary
        assert row.difference == pytest.approx(a.mean() - b.mean(), abs=TOL)

        # naive: each model's inspect_ai stderr(), z interval
        se_naive = math.hypot(stderr()(_sample_scores(a, tasks)), stderr()(_sample_scores(b, tasks)))
        assert row.se_naive == pytest.approx(se_naive, abs=TOL)
        assert (row.naive_low, row.naive_high) == pytest.approx((d.mean() - Z * se_naive, d.mean() + Z * se_naive), abs=TOL)

        # clustered: each model's inspect_ai stderr(cluster="task"), t with C - 1 df
        se_a = stderr(cluster="task")(_sample_scores(a, tasks))
        se_b = stderr(cluster="task")(_sample_scores(b, tasks))
        assert row.se_clustered == pytest.approx(math.hypot(se_a, se_b), abs=TOL)
        half = stats.t.ppf(0.975, n_tasks - 1) * math.hypot(se_a, se_b)
        assert (row.clustered_low, row.clustered_high) == pytest.approx((d.mean() - half, d.mean() + half), abs=TOL)

        # paired: scipy's paired t-test, and inspect_ai's ci() on the differences
        paired = stats.ttest_rel(a, b)
        interval = paired.confidence_interval(0.95)
        assert (row.paired_low, row.paired_high) == pytest.approx((interval.low, interval.high), abs=TOL)
        assert row.p_paired_t == pytest.approx(paired.pvalue, abs=TOL)
        inspect_ci = ci()(_sample_scores(d, tasks))
        assert (row.paired_low, row.paired_high) == pytest.approx((inspect_ci["lower"], inspect_ci["upper"]), abs=TOL)

        # paired clustered: inspect_ai's stderr(cluster=) and ci(cluster=) on the differences
        assert row.se_paired_clustered == pytest.approx(stderr(cluster="task")(_sample_scores(d, tasks)), abs=TOL)
        clustered_ci = ci(cluster="task")(_sample_scores(d, tasks))
        assert (row.paired_clustered_low, row.paired_clustered_high) == pytest.approx(
            (clustered_ci["lower"], clustered_ci["upper"]), abs=TOL
        )


def test_mcnemar_mid_p_equals_scipy_binomial() -> None:
    table = compare_models(_frame(binary=True))
    assert (table["test"] == "mcnemar_mid_p").all()
    for row in table.itertuples():
        b, c = row.n_a_better, row.n_b_better
        # the mid-p is the exact conditional p minus P(X = k), or 1 when b == c (scipy's exact p is 1 there)
        exact = stats.binomtest(min(b, c), b + c, 0.5).pvalue
        expected = 1.0 if b == c else exact - stats.binom.pmf(min(b, c), b + c, 0.5)
        assert row.p_value == pytest.approx(expected, abs=TOL)
    for b, c in [(0, 0), (4, 4), (0, 7), (12, 3), (40, 61)]:
        n, k = b + c, min(b, c)
        expected = 1.0 if n == 0 else 2 * stats.binom.cdf(k, n, 0.5) - stats.binom.pmf(k, n, 0.5)
        assert mcnemar_mid_p(b, c) == pytest.approx(min(1.0, expected), abs=TOL)


def test_sign_flip_permutation_equals_scipy_exact_and_is_seeded() -> None:
    rng = np.random.default_rng(5)
    d = np.round(rng.normal(0.3, 1, 12), 2)
    exact = stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf, vectorized=False)
    assert sign_flip_p(d, 10_000, np.random.default_rng(0)) == pytest.approx(exact.pvalue, abs=TOL)
    assert sign_flip_p(np.zeros(5), 10_000, np.random.default_rng(0)) == 1.0

    # Differences on no lattice (any real numbers): random patterns, seeded, against all of them.
    d16 = rng.normal(0.4, 1, 16)
    full = sign_flip_p(d16, 2**16, np.random.default_rng(0))  # all 65536 patterns
    sampled = sign_flip_p(d16, 20_000, np.random.default_rng(1))
    assert sampled == sign_flip_p(d16, 20_000, np.random.default_rng(1)) != full
    assert abs(sampled - full) < 4 * math.sqrt(full * (1 - full) / 20_000) + 1e-4

    # Few distinct differences on no lattice: the flips of each value drawn as one binomial count.
    irrational = rng.choice([-math.sqrt(2), -1.0, 1.0, math.sqrt(2)], size=18, p=[0.15, 0.2, 0.35, 0.3])
    full = sign_flip_p(irrational, 2**18, np.random.default_rng(0))
    sampled = sign_flip_p(irrational, 20_000, np.random.default_rng(2))
    assert abs(sampled - full) < 4 * math.sqrt(full * (1 - full) / 20_000) + 1e-4


def _null_distribution(units: np.ndarray) -> dict[int, float]:
    """The distribution of sum(sign * units) over all sign patterns, by dynamic programming."""
    distribution = {0: 1.0}
    for k in units:
        step: dict[int, float] = {}
        for total, weight in distribution.items():
            for signed in (k, -k):
                step[total + signed] = step.get(total + signed, 0.0) + weight / 2
        distribution = step
    return distribution


@pytest.mark.parametrize(
    ("values", "probabilities", "size", "denominator"),
    [
        ([-2, -1, 1, 2], [0.15, 0.2, 0.35, 0.3], 40, 2),  # scores averaged over two epochs (halves)
        ([-2, -1, 1, 2], [0.1, 0.1, 0.4, 0.4], 300, 2),  # far in the tail: p about 1e-40
        ([1], [1.0], 50, 1),  # one value: a binomial
        ([-3, -2, -1, 1, 2, 3], [0.1, 0.1, 0.2, 0.2, 0.2, 0.2], 60, 3),  # thirds: three epochs
        ([-7, -3, 4, 10], [0.2, 0.3, 0.3, 0.2], 45, 10),  # ratings in tenths
        ([-1, 1], [0.5, 0.5], 30, 1),  # a sum of exactly zero is possible: ties count
    ],
)
def test_differences_on_a_lattice_get_the_exact_p_value(values, probabilities, size, denominator) -> None:
    """Scores averaged over epochs (or ratings in tenths) differ by multiples of one step: the
    p-value is the exact one, to 1e-12 relative, by a dynamic program over every sign pattern."""
    units = np.random.default_rng(size).choice(values, size=size, p=probabilities)
    distribution = _null_distribution(units)
    expected = sum(w for total, w in distribution.items() if abs(total) >= abs(units.sum()))
    p = sign_flip_p(units / denominator, 1_000, np.random.default_rng(0))
    assert p == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert lattice_sign_flip_p(units / denominator) == p
    assert lattice_sign_flip_p(units / denominator * math.pi) is None  # no lattice: random patterns instead


def test_a_pairs_p_value_does_not_depend_on_the_other_pairs() -> None:
    numeric = compare_models(_frame(binary=False), n_permutations=2_000, seed=7)
    assert (numeric["test"] == "sign_flip_permutation").all()
    again = compare_models(_frame(binary=False), n_permutations=2_000, seed=7, contrasts=[("borealis", "cirrus")])
    assert again["p_value"].iloc[0] == numeric["p_value"].iloc[2]  # a pair's p does not depend on the others


def test_holm_and_benjamini_hochberg() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, np.nan, 0.04])
    valid = p[~np.isnan(p)]
    m = len(valid)
    expected_holm = {}
    running = 0.0
    for rank, index in enumerate(np.argsort(valid, kind="stable")):
        running = max(running, min(1.0, (m - rank) * valid[index]))
        expected_holm[index] = running
    assert holm(p)[~np.isnan(p)] == pytest.approx([expected_holm[i] for i in range(m)], abs=TOL)
    assert benjamini_hochberg(p)[~np.isnan(p)] == pytest.approx(stats.false_discovery_control(valid, method="bh"), abs=TOL)
    assert np.isnan(holm(p)[5]) and np.isnan(benjamini_hochberg(p)[5])

    table = compare_models(_frame(binary=True))
    assert table["p_bh"].to_numpy() == pytest.approx(stats.false_discovery_control(table["p_value"], method="bh"), abs=TOL)


def test_posterior_difference_recovers_a_known_difference() -> None:
    rng = np.random.default_rng(11)
    n_draws, sd = 40_000, 0.03
    shared = rng.normal(0, 0.05, n_draws)  # draws of the two means are correlated, as in a joint posterior
    posterior = pd.DataFrame(
        {
            "aurora": 0.70 + shared + rng.normal(0, sd, n_draws),
            "borealis": 0.62 + shared + rng.normal(0, sd, n_draws),
            "cirrus": 0.50 + shared + rng.normal(0, sd, n_draws),
        }
    )
    table = compare_models(_frame(binary=True), posterior=posterior).set_index(["model_a", "model_b"])
    sd_difference = sd * math.sqrt(2)
    for (a, b), truth in {("aurora", "borealis"): 0.08, ("aurora", "cirrus"): 0.20}.items():
        row = table.loc[(a, b)]
        # tolerances: 5 Monte Carlo standard errors of the mean / of a 2.5% quantile
        assert row.posterior_mean == pytest.approx(truth, abs=5 * sd_difference / math.sqrt(n_draws))
        assert row.posterior_hdi_low == pytest.approx(truth - Z * sd_difference, abs=0.003)
        assert row.posterior_hdi_high == pytest.approx(truth + Z * sd_difference, abs=0.003)
        assert row.p_a_better == pytest.approx(stats.norm.cdf(truth / sd_difference), abs=0.005)
    with pytest.raises(ComparisonError, match="cirrus"):
        compare_models(_frame(binary=True), posterior=posterior[["aurora", "borealis"]])


def test_power_matches_the_formula_and_a_simulation() -> None:
    table = compare_models(_frame(binary=False, n_items=80))
    row = table.iloc[0]
    z_sum = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert row.min_detectable_difference == pytest.approx(z_sum * row.se_paired, abs=TOL)
    assert row.items_needed == math.ceil((z_sum * row.se_paired * math.sqrt(80) / row.difference) ** 2)

    # 4000 simulated evaluations of 80 items whose true mean difference is the MDD: a two-sided
    # z-test on the paired mean should reject 80% of them (tolerance 0.02, about 3 Monte Carlo SEs)
    rng = np.random.default_rng(2)
    sd = row.se_paired * math.sqrt(80)
    differences = rng.normal(row.min_detectable_difference, sd, size=(4000, 80))
    z = differences.mean(axis=1) / (differences.std(axis=1, ddof=1) / math.sqrt(80))
    assert np.mean(np.abs(z) > stats.norm.ppf(0.975)) == pytest.approx(0.80, abs=0.02)


def test_epochs_are_averaged_per_item_and_pairs_use_common_items() -> None:
    frame = pd.DataFrame(
        {
            "model": ["a"] * 6 + ["b"] * 4,
            "item": ["q1", "q1", "q2", "q2", "q3", "q4", "q1", "q2", "q3", "q5"],
            "score": [1, 0, 1, 1, 0, 1, 0, 1, 0, 1],
        }
    )
    row = compare_models(frame).iloc[0]
    assert row.n_items == 3  # q1..q3; q4 and q5 were answered by one model only
    assert row.mean_a == pytest.approx((0.5 + 1 + 0) / 3) and row.mean_b == pytest.approx(1 / 3)
    assert not row.binary and row.test == "sign_flip_permutation"  # q1's two epochs average to 0.5
    assert np.isnan(row.se_clustered) and np.isnan(row.posterior_mean)


def test_bad_input_is_named() -> None:
    frame = _frame(binary=True)
    with pytest.raises(ComparisonError, match="several"):
        compare_models(frame.assign(task=np.arange(len(frame)) % 7), cluster_col="task")
    with pytest.raises(ComparisonError, match="zephyr"):
        compare_models(frame, contrasts=[("aurora", "zephyr")])
    with pytest.raises(ComparisonError, match="numeric"):
        compare_models(frame.assign(score="C"))
    with pytest.raises(ComparisonError, match="grade"):
        compare_models(frame, score_col="grade")


def test_plot_draws_every_available_interval() -> None:
    frame = _frame(binary=True)
    posterior = pd.DataFrame({m: np.full(100, 0.5) for m in ("aurora", "borealis", "cirrus")})
    fig = plot_comparisons(compare_models(frame, cluster_col="task", posterior=posterior))
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert labels == ["naive CLT", "clustered", "paired", "paired clustered", "posterior HDI"]
    fig = plot_comparisons(compare_models(frame))
    assert [text.get_text() for text in fig.axes[0].get_legend().get_texts()] == ["naive CLT", "paired"]


def test_the_headline_announces_the_two_best_models_better_first_with_the_calibrated_interval() -> None:
    from hibayes.comparisons import headline

    # Aurora (the best) renamed to sort last: the table holds its pair as (borealis, zephyr), announced flipped.
    frame = _frame(binary=True, seed=5).replace({"model": {"aurora": "zephyr"}})
    draws = {"zephyr": np.full(400, 0.7), "borealis": np.r_[np.full(100, 0.75), np.full(300, 0.6)], "cirrus": np.full(400, 0.5)}
    table = compare_models(frame, cluster_col="task", posterior=draws)
    means = frame.groupby("model")["score"].mean()
    best, second = means.sort_values(ascending=False).index[:2]
    assert (best, second) == ("zephyr", "borealis")
    row = table[(table["model_a"] == min(best, second)) & (table["model_b"] == max(best, second))].iloc[0]
    sign = 1 if row["model_a"] == best else -1
    low, high = sorted(sign * row[["paired_clustered_low", "paired_clustered_high"]].to_numpy(float))
    p_better = row["p_a_better"] if sign == 1 else 1 - row["p_a_better"]
    assert headline(table) == (
        f"{best} vs {second}: {sign * row['difference']:+.2f} [paired clustered 95% CI {low:+.2f}, {high:+.2f}], P(better) {p_better:.2f}"
    )
    # Listed contrasts: the first, as written; without clusters or draws, the paired interval alone.
    listed = compare_models(frame, contrasts=[("cirrus", "zephyr"), ("zephyr", "borealis")])
    first = listed.iloc[0]
    assert headline(listed, listed=True) == (
        f"cirrus vs zephyr: {first['difference']:+.2f} [paired 95% CI {first['paired_low']:+.2f}, {first['paired_high']:+.2f}]"
    )
    assert headline(listed.iloc[:0]) is None


def test_each_pair_uses_the_items_both_answered_with_their_clusters() -> None:
    """The pair loop (on arrays) gives, pair by pair, `compare_pair` on the pandas selection of the
    items both models answered: a frame where each model skipped different items."""
    frame = _frame(binary=True, n_items=80)
    frame = frame[~((frame["model"] == "aurora") & frame["item"].isin([f"q{i}" for i in range(0, 80, 5)]))]
    frame = frame[~((frame["model"] == "cirrus") & frame["item"].isin([f"q{i}" for i in range(0, 80, 3)]))]
    table = compare_models(frame, cluster_col="task")
    wide, clusters = item_table(frame, cluster_col="task")
    for row in table.itertuples():
        both = wide[[row.model_a, row.model_b]].dropna()
        rng = np.random.default_rng([0, zlib.crc32(f"{row.model_a}\0{row.model_b}".encode())])
        expected = compare_pair(both[row.model_a].to_numpy(float), both[row.model_b].to_numpy(float),
                                clusters.loc[both.index].to_numpy(), rng=rng)
        assert row.n_items == len(both) < 80
        for name, value in expected.items():
            numeric = isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
            assert getattr(row, name) == (pytest.approx(value, nan_ok=True, rel=1e-12) if numeric else value), name


def test_a_plot_of_many_pairs_draws_those_with_the_smallest_adjusted_p_values() -> None:
    table = compare_models(_frame(binary=True))
    fig = plot_comparisons(table, title="three models", max_pairs=2)
    drawn = [label.get_text() for label in fig.axes[0].get_yticklabels()]
    kept = table.nsmallest(2, "p_holm")
    assert sorted(drawn) == sorted(f"{a} - {b}" for a, b in zip(kept["model_a"], kept["model_b"]))
    assert fig.axes[0].get_title() == "three models: the 2 of 3 pairs with the smallest Holm-adjusted p-values"
    assert len(plot_comparisons(table).axes[0].get_yticklabels()) == 3  # few pairs: every one
