"""Calibration of the comparison intervals (issue 17): coverage of nominal 95% intervals, measured.

Frequentist part (`hibayes.comparisons.compare_models`): evaluations are simulated with a known
superpopulation difference, and the coverage of each method's interval (naive CLT, clustered,
paired, paired clustered) is counted per size. Data of one replication, `T` tasks of `n / T` items
(``T = max(4, n // 10)``), every model answering every item:

    eta[m, i] = alpha + beta[m] + tau[task(i)] + gamma[m, task(i)] + u[i]
    alpha = 0.5, beta[m] ~ N(0, 0.5), tau ~ N(0, 0.8)  (random task effect),
    gamma ~ N(0, 0.4)  (model x task interaction: some models are better at some tasks),
    u ~ N(0, 1)  (item difficulty, shared by all models: what pairing removes)
    binary: score ~ Bernoulli(sigmoid(eta)); ordinal: Y in 0..4 with P(Y > k) = sigmoid(eta - c_k),
    c = (-1.5, -0.5, 0.5, 1.5), score = Y / 4.

The true difference of models A and B is the superpopulation one, over new tasks and items:
``E[score | beta_A] - E[score | beta_B]`` with the expectation over
``N(0, sqrt(0.8^2 + 0.4^2 + 1^2))`` by Gauss-Hermite quadrature. Coverage counts every compared
pair of every replication (all pairs of 5 models; 10 random disjoint pairs of 50 models); its
Monte Carlo SE is the SD of the replications' coverages over sqrt(replications).

Bayesian part: the project's registered `linear_group_binomial` model (main effects model and task,
effect coding, default priors), fitted by `hibayes.model.sampling.fit` (2 chains x 300 warmup x 300
draws, parallel chains on 2 host devices, rows aggregated). The truth is drawn from that model's
prior in each replication (NumPyro `Predictive` of the registered model itself), so a correct fit
covers at its nominal rate on average; 20 items per (model, task) cell answered by every model,
each item's score Bernoulli(sigmoid(intercept + model effect + task effect)). The estimand is each
model's mean accuracy over the tasks at hand, ``mean_t sigmoid(intercept + model_m + task_t)``;
its posterior draws go to `compare_models(posterior=...)`, whose 95% HDI of each pair's difference
is checked against the true difference; the frequentist intervals on the same items are checked
against the same estimand (they target it only up to the task sampling they do or do not model).

`--sbc`: simulation-based calibration (Talts et al. 2018, "Validating Bayesian inference algorithms
with simulation-based calibration") of the binomial built-ins `two_level_group_binomial` and
`linear_group_binomial`: theta ~ prior, y ~ p(y | theta), fit, rank of theta among 99 thinned
posterior draws; ranks in 10 bins, chi-square test of uniformity per parameter.

    nice -n 19 .venv/bin/python benchmarks/bench_calibration.py [--quick] [--replications R]
        [--bayes-replications B] [--sbc] [--sbc-replications N] [--seed S]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hibayes.model.platform import configure_host_devices  # noqa: E402

configure_host_devices(2)  # before JAX is imported: two chains in parallel

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402
from scipy.special import expit  # noqa: E402

from hibayes.comparisons import compare_models  # noqa: E402

ALPHA, SD_MODEL, SD_TASK, SD_MODEL_TASK, SD_ITEM = 0.5, 0.5, 0.8, 0.4, 1.0
CUTPOINTS = np.array([-1.5, -0.5, 0.5, 1.5])
METHODS = ("naive", "clustered", "paired", "paired_clustered")
PAIRS_PER_REPLICATION = 10
CHAINS, WARMUP, DRAWS = 2, 300, 300


# --------------------------------------------------------------------------------------------------
# Frequentist coverage against a superpopulation truth
# --------------------------------------------------------------------------------------------------


def expected_score(kind: str, location: np.ndarray) -> np.ndarray:
    """E[score] at linear predictor `location` + N(0, s) noise, s the SD of task, interaction and
    item effects together: Gauss-Hermite quadrature with 80 nodes."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    scale = math.sqrt(SD_TASK**2 + SD_MODEL_TASK**2 + SD_ITEM**2)
    eta = np.asarray(location)[:, None] + scale * nodes[None, :]
    score = expit(eta) if kind == "binary" else expit(eta[..., None] - CUTPOINTS).sum(axis=-1) / len(CUTPOINTS)
    return score @ weights / weights.sum()


def simulate(kind: str, n_models: int, n_items: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """A long frame (model, item, task, score) and each model's true superpopulation mean score."""
    n_tasks = max(4, n_items // 10)
    task = np.arange(n_items) % n_tasks
    beta = rng.normal(0, SD_MODEL, n_models)
    tau = rng.normal(0, SD_TASK, n_tasks)
    gamma = rng.normal(0, SD_MODEL_TASK, (n_models, n_tasks))
    u = rng.normal(0, SD_ITEM, n_items)
    eta = ALPHA + beta[:, None] + tau[task][None, :] + gamma[:, task] + u[None, :]
    if kind == "binary":
        scores = (rng.random(eta.shape) < expit(eta)).astype(float)
    else:
        exceed = rng.random((*eta.shape, 1)) < expit(eta[..., None] - CUTPOINTS)
        scores = exceed.sum(axis=-1) / len(CUTPOINTS)
    frame = pd.DataFrame(
        {
            "model": np.repeat([f"m{m:02d}" for m in range(n_models)], n_items),
            "item": np.tile(np.arange(n_items), n_models),
            "task": np.tile(task, n_models),
            "score": scores.ravel(),
        }
    )
    return frame, expected_score(kind, ALPHA + beta)


def contrasts_for(n_models: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    names = [f"m{m:02d}" for m in range(n_models)]
    if n_models * (n_models - 1) // 2 <= PAIRS_PER_REPLICATION:
        return list(itertools.combinations(names, 2))
    order = rng.permutation(n_models)[: 2 * PAIRS_PER_REPLICATION]
    return [(names[order[2 * k]], names[order[2 * k + 1]]) for k in range(PAIRS_PER_REPLICATION)]


def covered(table: pd.DataFrame, truth: pd.Series, method: str) -> np.ndarray:
    return ((table[f"{method}_low"] <= truth) & (truth <= table[f"{method}_high"])).to_numpy()


def frequentist_coverage(kinds: list[str], models: list[int], items: list[int], replications: int, seed: int) -> pd.DataFrame:
    rows = []
    for kind, n_models, n_items in itertools.product(kinds, models, items):
        rng = np.random.default_rng([seed, n_models, n_items, kinds.index(kind)])
        per_replication: dict[str, list[float]] = {m: [] for m in METHODS}
        widths: dict[str, list[float]] = {m: [] for m in METHODS}
        for _ in range(replications):
            frame, truth_by_model = simulate(kind, n_models, n_items, rng)
            truth_of = dict(zip([f"m{m:02d}" for m in range(n_models)], truth_by_model))
            # the p-values are not used here: the fewest permutations keep the loop fast
            table = compare_models(frame, cluster_col="task", contrasts=contrasts_for(n_models, rng), n_permutations=1)
            truth = table["model_a"].map(truth_of) - table["model_b"].map(truth_of)
            for method in METHODS:
                per_replication[method].append(covered(table, truth, method).mean())
                widths[method].append(float((table[f"{method}_high"] - table[f"{method}_low"]).median()))
        row: dict[str, Any] = {"kind": kind, "models": n_models, "items": n_items, "tasks": max(4, n_items // 10)}
        for method in METHODS:
            values = np.asarray(per_replication[method])
            row[f"{method}"] = values.mean()
            row[f"{method}_mcse"] = values.std(ddof=1) / math.sqrt(len(values))
            row[f"{method}_width"] = float(np.median(widths[method]))
        rows.append(row)
        print(f"  {kind:7s} models={n_models:2d} items={n_items:3d}: " + "  ".join(f"{m} {row[m]:.3f}" for m in METHODS), flush=True)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Bayesian coverage: the registered linear_group_binomial, truth drawn from its prior
# --------------------------------------------------------------------------------------------------


def _cell_features(n_models: int, n_tasks: int, per_cell: int, obs: Any) -> dict[str, Any]:
    model_index, task_index = (a.ravel() for a in np.meshgrid(np.arange(n_models), np.arange(n_tasks), indexing="ij"))
    return {
        "obs": obs,
        "n_total": np.full(n_models * n_tasks, per_cell, dtype=np.int32),
        "model_index": model_index.astype(np.int32),
        "num_model": n_models,
        "task_index": task_index.astype(np.int32),
        "num_task": n_tasks,
    }


def _prior_draw(model_fn: Any, features: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    import jax
    from numpyro.infer import Predictive

    draw = Predictive(model_fn, num_samples=1)(jax.random.PRNGKey(seed), features)
    return {name: np.asarray(value)[0] for name, value in draw.items()}


_FITS_SINCE_CLEAR = [0]
# Each `fit` call of the 5-model linear_group_binomial added about 840 memory mappings to this
# process (counted in /proc/self/maps; likely one more executable per call, loaded from the
# persistent cache), never released: the process died in LLVM ("Cannot allocate memory") at Linux's
# vm.max_map_count (65530) after about 75 fits. Clearing JAX's caches releases them.
CLEAR_CACHES_EVERY = 40


def _fit(model_fn: Any, features: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    import jax

    from hibayes import idata as idata_api
    from hibayes.config import FitConfig
    from hibayes.model.sampling import fit

    config = FitConfig(chains=CHAINS, warmup=WARMUP, samples=DRAWS, seed=seed)
    result = fit(model_fn, features, config, chain_method="parallel")
    draws = idata_api.flat_draws(result.inference_data)
    draws["_divergences"] = np.asarray(idata_api.divergences(result.inference_data))
    _FITS_SINCE_CLEAR[0] += 1
    if _FITS_SINCE_CLEAR[0] % CLEAR_CACHES_EVERY == 0:
        jax.clear_caches()
    return draws


def model_means(intercept: np.ndarray, model_effects: np.ndarray, task_effects: np.ndarray) -> np.ndarray:
    """(draws, models) mean accuracy over the tasks at hand, from (draws,), (draws, M), (draws, T)."""
    logits = intercept[:, None, None] + model_effects[:, :, None] + task_effects[:, None, :]
    return expit(logits).mean(axis=2)


def bayesian_coverage(sizes: list[tuple[int, int]], n_tasks: int, per_cell: int, seed: int) -> pd.DataFrame:
    """Coverage per (number of models, replications) in `sizes`."""
    from hibayes.model.models import MODELS

    model_fn = MODELS.build("linear_group_binomial", {"main_effects": ["model", "task"]})
    rows = []
    for n_models, replications in sizes:
        hits: dict[str, list[float]] = {m: [] for m in (*METHODS, "posterior")}
        divergences, started = 0, time.perf_counter()
        names = [f"m{m:02d}" for m in range(n_models)]
        for r in range(replications):
            rng = np.random.default_rng([seed, n_models, r])
            truth = _prior_draw(model_fn, _cell_features(n_models, n_tasks, per_cell, None), seed * 100_003 + r)
            p = expit(truth["intercept"] + truth["model_effects"][:, None] + truth["task_effects"][None, :])
            scores = (rng.random((n_models, n_tasks, per_cell)) < p[..., None]).astype(float)
            draws = _fit(model_fn, _cell_features(n_models, n_tasks, per_cell, scores.sum(axis=2).ravel().astype(np.int32)), r)
            divergences += int(draws["_divergences"])
            means = model_means(draws["intercept"], draws["model_effects"], draws["task_effects"])
            frame = pd.DataFrame(
                {
                    "model": np.repeat(names, n_tasks * per_cell),
                    "item": np.tile(np.arange(n_tasks * per_cell), n_models),
                    "task": np.tile(np.repeat(np.arange(n_tasks), per_cell), n_models),
                    "score": scores.ravel(),
                }
            )
            table = compare_models(
                frame, cluster_col="task", posterior=pd.DataFrame(means, columns=names), n_permutations=1
            )
            true_mean = dict(zip(names, p.mean(axis=1)))
            true_difference = table["model_a"].map(true_mean) - table["model_b"].map(true_mean)
            for method in METHODS:
                hits[method].append(covered(table, true_difference, method).mean())
            inside = (table["posterior_hdi_low"] <= true_difference) & (true_difference <= table["posterior_hdi_high"])
            hits["posterior"].append(inside.mean())
            if (r + 1) % 20 == 0:
                print(f"    {r + 1}/{replications} fits, posterior coverage so far {np.mean(hits['posterior']):.3f}", flush=True)
        row: dict[str, Any] = {"models": n_models, "tasks": n_tasks, "items_per_cell": per_cell, "replications": replications}
        for method, values in hits.items():
            row[method] = float(np.mean(values))
            row[f"{method}_mcse"] = float(np.std(values, ddof=1) / math.sqrt(len(values)))
        row["divergences"] = divergences
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
        print(f"  bayes models={n_models}: posterior {row['posterior']:.3f} +/- {row['posterior_mcse']:.3f}, {row['seconds']:.0f} s", flush=True)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Simulation-based calibration
# --------------------------------------------------------------------------------------------------

SBC_CASES: dict[str, tuple[dict[str, Any], list[tuple[str, int | None]]]] = {
    "two_level_group_binomial": ({}, [("overall_mean", None), ("sigma_group", None), ("group_effects", 0)]),
    "linear_group_binomial": (
        {"main_effects": ["model", "task"]},
        [("intercept", None), ("model_effects", 0), ("task_effects", 0)],
    ),
}
RANK_DRAWS, RANK_BINS = 99, 10


def _sbc_features(name: str, obs: Any) -> dict[str, Any]:
    if name == "two_level_group_binomial":
        return {"obs": obs, "n_total": np.full(5, 20, dtype=np.int32), "group_index": np.arange(5, dtype=np.int32), "num_group": 5}
    return _cell_features(5, 4, 20, obs)


def simulation_based_calibration(replications: int, seed: int) -> pd.DataFrame:
    from hibayes.model.models import MODELS

    rows = []
    for name, (kwargs, parameters) in SBC_CASES.items():
        model_fn = MODELS.build(name, kwargs)
        ranks: dict[str, list[int]] = {f"{p}" if i is None else f"{p}[{i}]": [] for p, i in parameters}
        divergences, started = 0, time.perf_counter()
        for r in range(replications):
            truth = _prior_draw(model_fn, _sbc_features(name, None), seed * 7_919 + r)
            draws = _fit(model_fn, _sbc_features(name, truth["obs"].astype(np.int32)), r)
            divergences += int(draws["_divergences"])
            for (parameter, index), label in zip(parameters, ranks):
                posterior = draws[parameter] if index is None else draws[parameter][:, index]
                true_value = truth[parameter] if index is None else truth[parameter][index]
                # thin to about independent draws (NUTS autocorrelation inflates the ranks' spread)
                thinned = posterior[:: len(posterior) // RANK_DRAWS][:RANK_DRAWS]
                ranks[label].append(int(np.sum(thinned < true_value)))
        for label, values in ranks.items():
            counts = np.bincount(np.asarray(values) * RANK_BINS // (RANK_DRAWS + 1), minlength=RANK_BINS)
            rows.append(
                {
                    "model": name,
                    "parameter": label,
                    "replications": replications,
                    "chi2": float(stats.chisquare(counts).statistic),
                    "p_uniform": float(stats.chisquare(counts).pvalue),
                    "bin_counts": " ".join(map(str, counts)),
                    "divergences": divergences,
                    "seconds": round(time.perf_counter() - started),
                }
            )
        print(f"  sbc {name}: " + ", ".join(f"{r['parameter']} p={r['p_uniform']:.2f}" for r in rows if r["model"] == name), flush=True)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------


def _markdown(frame: pd.DataFrame, digits: int = 3) -> str:
    def cell(value: Any) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _with_mcse(frame: pd.DataFrame, methods: tuple[str, ...]) -> pd.DataFrame:
    out = frame.drop(columns=[c for c in frame.columns if c.endswith("_mcse") or c.endswith("_width")])
    for method in methods:
        out[method] = [f"{v:.3f} ± {s:.3f}" for v, s in zip(frame[method], frame[f"{method}_mcse"])]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few replications and sizes: a smoke run of a minute or two")
    parser.add_argument("--replications", type=int, default=200, help="frequentist replications per size")
    parser.add_argument(
        "--bayes-replications", type=int, default=200, help="Bayesian fits with 5 models (a third as many with 20 models)"
    )
    parser.add_argument("--bayes-only", action="store_true", help="skip the frequentist simulations")
    parser.add_argument("--sbc", action="store_true", help="run simulation-based calibration instead of coverage")
    parser.add_argument("--sbc-replications", type=int, default=150, help="fits per model for --sbc")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hibayes-calibration-jax-cache")
    args = parser.parse_args()

    from hibayes.model.platform import enable_compilation_cache

    enable_compilation_cache(args.cache)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# bench_calibration {' '.join(sys.argv[1:])}")
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus\n")
    started = time.perf_counter()
    if args.sbc:
        replications = 20 if args.quick else args.sbc_replications
        print(f"## Simulation-based calibration ({replications} fits per model, {CHAINS} chains x {WARMUP} + {DRAWS})\n", flush=True)
        print(_markdown(simulation_based_calibration(replications, args.seed)))
    else:
        quick = args.quick
        replications = 30 if quick else args.replications
        items = [20, 100] if quick else [20, 50, 100, 200, 500]
        if not args.bayes_only:
            print(f"## Frequentist coverage of nominal 95% intervals ({replications} replications per row)\n", flush=True)
            table = frequentist_coverage(["binary", "ordinal"], [5, 50], items, replications, args.seed)
            print()
            print(_markdown(_with_mcse(table, METHODS)))
            print("\nMedian interval widths:\n")
            print(_markdown(table[["kind", "models", "items"] + [f"{m}_width" for m in METHODS]]))
        bayes_replications = 10 if quick else args.bayes_replications
        print("\n## Bayesian coverage, linear_group_binomial, 4 tasks x 20 items per cell\n", flush=True)
        sizes = [(5, bayes_replications)] if quick else [(5, bayes_replications), (20, max(2, bayes_replications // 3))]
        bayes = bayesian_coverage(sizes, 4, 20, args.seed)
        print()
        print(_markdown(_with_mcse(bayes, (*METHODS, "posterior"))))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
