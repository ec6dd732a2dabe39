"""Fit speed: our fit of the example analysis against a plain NumPyro fit of the same model, same run.

Ours (what the `analysis_features` + `model_fit` assets do): the analysis YAML's processors
aggregate the Bernoulli rows to binomial counts per model (`map_columns`, `groupby`,
`extract_features`, `extract_observed_feature`), then `hibayes.analysis.fit_or_reuse(force=True)`
fits the registered model with NUTS, chains in parallel on forced XLA host devices
(`configure_host_devices()` before JAX is imported) and with the persistent JAX compilation cache
(`enable_compilation_cache`) in a fresh temp dir. Ours runs twice, each in a new process: "cold"
(empty compile cache, so it includes JIT compilation) and "warm" (the same cache dir, reused).

Baseline: a plain NumPyro fit of the SAME model (same sample sites, same priors, taken from the
model's builder defaults plus the YAML kwargs) on one row per sample,
`dist.Bernoulli(logits=group_effects[group_index])`, with `chain_method="sequential"`, one XLA
device and no compilation cache, in a fresh process. Same chains, warmup, draws, seed,
target_accept, max_tree_depth and init strategy as the YAML gives ours, so the differences are only
the data layout, the chain method and the compile cache.

Both sides get their data through our code path, once, before any timing: the logs are ingested
into a temp DuckDB (`read_log` + `Warehouse.replace_partition`) and
`extract_analysis_data(warehouse, config)` gives the per-sample analysis frame.

Reported per model: fit wall time (cold/warm for ours), whole-process wall time, min bulk ESS
over `group_effects` (ArviZ, all chains), ESS/s, max r-hat, divergences, and the ratios ours /
baseline (ESS/s, and wall time). Posterior agreement: max |difference| of the `group_effects`
posterior means between ours and the baseline (expected within ~0.1). Nothing is asserted.

    .venv/bin/python benchmarks/bench_fit.py
    .venv/bin/python benchmarks/bench_fit.py --models two_level_group_binomial
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_ANALYSIS = ROOT / "examples" / "analyses" / "model_comparison.yaml"
DEFAULT_LOGS = ROOT / "examples" / "logs"
GROUP_COLUMN = "model"  # model_comparison.yaml maps `model` to `group`
RESULT_PREFIX = "BENCH_RESULT "
AGREEMENT_TOLERANCE = 0.1


# --------------------------------------------------------------------------------------------------
# Workers: each runs in a fresh process and prints one RESULT line of JSON.
# --------------------------------------------------------------------------------------------------


def _posterior_stats(group_effects: Any) -> dict[str, Any]:
    """Min bulk ESS, max r-hat and means of a (chain, draw, group) array, with ArviZ."""
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az

        dataset = az.convert_to_dataset({"group_effects": np.asarray(group_effects)})
        ess = az.ess(dataset, method="bulk")["group_effects"].values
        rhat = az.rhat(dataset)["group_effects"].values
    values = np.asarray(group_effects)
    return {
        "min_ess_bulk": float(np.min(ess)),
        "max_rhat": float(np.max(rhat)),
        "means": values.mean(axis=(0, 1)).tolist(),
        "draws_shape": list(values.shape),
    }


def worker_ours(args: argparse.Namespace) -> dict[str, Any]:
    from hibayes.model.platform import configure_host_devices

    configure_host_devices()  # before JAX is imported, as the Dagster code location does
    t_import = time.perf_counter()
    import jax
    import pandas as pd

    from hibayes.analysis import fit_or_reuse, process_data, save_features
    from hibayes.config import load_analysis
    from hibayes.model.platform import enable_compilation_cache

    import_s = time.perf_counter() - t_import
    enable_compilation_cache(args.cache)
    cache_files_before = sum(1 for _ in args.cache.rglob("*") if _.is_file())
    config = load_analysis(args.analysis)
    spec = config.model(args.model)
    frame = pd.read_parquet(args.data)
    state = process_data(config, frame)
    features = save_features(state, args.scratch / "features")
    started = time.perf_counter()
    outcome = fit_or_reuse(config, spec, features, args.scratch / "fit.nc", force=True)
    fit_or_reuse_s = time.perf_counter() - started
    idata = outcome.model_state.inference_data
    stats = _posterior_stats(idata.posterior["group_effects"].values)
    return {
        "side": "ours",
        "fit_s": outcome.seconds,  # mcmc.run + conversion to InferenceData, as hibayes.model.sampling times it
        "fit_or_reuse_s": fit_or_reuse_s,  # + writing the NetCDF file
        "chain_method": outcome.chain_method,
        "devices": jax.local_device_count(),
        "rows": int(len(state.processed_data)),
        "groups": list(state.coords.get("group", [])),
        "divergences": int(idata.sample_stats["diverging"].values.sum()),
        "cache_dir": str(jax.config.jax_compilation_cache_dir),
        "cache_files_before": cache_files_before,
        "cache_files_after": sum(1 for _ in args.cache.rglob("*") if _.is_file()),
        "import_s": import_s,
        **stats,
    }


def _builder_priors(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from hibayes.model.models import MODELS

    signature = inspect.signature(MODELS.builder(name))
    priors = {k: p.default for k, p in signature.parameters.items() if p.default is not inspect.Parameter.empty}
    priors.update(kwargs)
    return priors


def _baseline_model(name: str, priors: dict[str, Any]):
    """The registered model's sample sites and priors, with a Bernoulli likelihood per sample."""
    import numpyro
    import numpyro.distributions as dist

    if name == "two_level_group_binomial":

        def model(group_index, num_group, obs=None):
            mu_overall = numpyro.sample("mu_overall", dist.Normal(priors["prior_mu_overall_loc"], priors["prior_mu_overall_scale"]))
            sigma_overall = numpyro.sample("sigma_overall", dist.HalfNormal(priors["prior_sigma_overall_scale"]))
            z_overall = numpyro.sample("z_overall", dist.Normal(0, 1))
            overall_mean = numpyro.deterministic("overall_mean", mu_overall + sigma_overall * z_overall)
            sigma_group = numpyro.sample("sigma_group", dist.HalfNormal(priors["prior_sigma_group_scale"]))
            with numpyro.plate("groups", num_group):
                z_group = numpyro.sample("z_group", dist.Normal(0, 1))
            group_effects = numpyro.deterministic("group_effects", overall_mean + sigma_group * z_group)
            with numpyro.plate("rows", group_index.shape[0]):
                numpyro.sample("obs", dist.Bernoulli(logits=group_effects[group_index]), obs=obs)

        return model
    if name == "simplified_group_binomial_exponential":

        def model(group_index, num_group, obs=None):
            overall_mean = numpyro.sample("overall_mean", dist.Normal(priors["prior_mu_overall_loc"], priors["prior_mu_overall_scale"]))
            sigma_group = numpyro.sample("sigma_group", dist.Exponential(priors["prior_sigma_group_rate"]))
            with numpyro.plate("groups", num_group):
                z_group = numpyro.sample("z_group", dist.Normal(0, 1))
            group_effects = numpyro.deterministic("group_effects", overall_mean + sigma_group * z_group)
            with numpyro.plate("rows", group_index.shape[0]):
                numpyro.sample("obs", dist.Bernoulli(logits=group_effects[group_index]), obs=obs)

        return model
    raise SystemExit(f"no Bernoulli baseline written for model '{name}'")


def worker_baseline(args: argparse.Namespace) -> dict[str, Any]:
    t_import = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import numpy as np
    import pandas as pd
    from numpyro import infer

    from hibayes.config import load_analysis

    import_s = time.perf_counter() - t_import
    config = load_analysis(args.analysis)
    spec = config.model(args.model)
    frame = pd.read_parquet(args.data).dropna(subset=["score"])
    scores = frame["score"].to_numpy()
    if not np.isin(scores, (0.0, 1.0)).all():
        raise SystemExit("the Bernoulli baseline needs 0/1 scores")
    levels = sorted(frame[GROUP_COLUMN].unique().tolist(), key=str)  # the order extract_features uses
    group_index = jnp.asarray(pd.Categorical(frame[GROUP_COLUMN], categories=levels).codes.astype(np.int32))
    obs = jnp.asarray(scores.astype(np.int32))
    model = _baseline_model(spec.name, _builder_priors(spec.name, spec.kwargs))
    init = getattr(infer, f"init_to_{spec.fit.init_strategy}")()
    kernel = infer.NUTS(model, target_accept_prob=spec.fit.target_accept, max_tree_depth=spec.fit.max_tree_depth, init_strategy=init)
    mcmc = infer.MCMC(
        kernel,
        num_warmup=spec.fit.warmup,
        num_samples=spec.fit.samples,
        num_chains=spec.fit.chains,
        chain_method="sequential",
        progress_bar=False,
    )
    started = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(spec.fit.seed), group_index, len(levels), obs=obs, extra_fields=("diverging",))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    fit_s = time.perf_counter() - started
    stats = _posterior_stats(samples["group_effects"])
    return {
        "side": "baseline",
        "fit_s": fit_s,
        "chain_method": "sequential",
        "devices": jax.local_device_count(),
        "rows": int(len(frame)),
        "groups": levels,
        "divergences": int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum()),
        "cache_dir": str(jax.config.jax_compilation_cache_dir),
        "import_s": import_s,
        **stats,
    }


# --------------------------------------------------------------------------------------------------
# Orchestrator
# --------------------------------------------------------------------------------------------------


def prepare_data(analysis: Path, logs: Path, scratch: Path) -> tuple[Path, Any, Any]:
    """Ingest the logs into a temp DuckDB with our code and extract the analysis frame (parquet)."""
    from hibayes.config import load_analysis
    from hibayes.load.inspect_reader import list_log_files, log_key_for, read_log
    from hibayes.load.warehouse_extract import extract_analysis_data
    from hibayes.warehouse import Warehouse

    config = load_analysis(analysis)
    warehouse = Warehouse(scratch / "warehouse.duckdb")
    paths = list_log_files(logs)
    if not paths:
        raise SystemExit(f"no .eval/.json logs under {logs}")
    for path in paths:
        rows = read_log(path, log_key_for(path, logs))
        warehouse.replace_partition("log_key", rows.log_key, rows.frames())
    frame, report = extract_analysis_data(warehouse, config)
    # The same rows as ours: the config's row filters (the judge task's 0..10 ratings have no
    # difficulty and are dropped), applied before the baseline's per-sample Bernoulli rows.
    for name, kwargs in config.processors:
        if name == "drop_rows_with_missing_features":
            frame = frame.dropna(subset=list(kwargs.get("feature_names") or []))
    data = scratch / "analysis_data.parquet"
    frame.to_parquet(data, index=False)
    return data, config, report


def worker_env(side: str, cache_dir: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"):
        env.pop(name, None)
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", env.get("XLA_FLAGS", "")).strip()
    if flags:
        env["XLA_FLAGS"] = flags
    else:
        env.pop("XLA_FLAGS", None)  # ours sets it itself (configure_host_devices); the baseline gets 1 device
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_worker(side: str, model: str, args: argparse.Namespace, data: Path, scratch: Path, cache: Path | None) -> dict[str, Any]:
    scratch.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--_worker",
        side,
        "--models",
        model,
        "--analysis",
        str(args.analysis),
        "--_data",
        str(data),
        "--_scratch",
        str(scratch),
    ]
    if cache is not None:
        command += ["--_cache", str(cache)]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=worker_env(side, cache), cwd=str(ROOT))
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"worker {side}/{model} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}")
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    result["process_s"] = wall
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first run's fields with the median of the timed and ESS fields over the repeats."""
    out = dict(runs[0])
    for key in ("fit_s", "process_s", "min_ess_bulk"):
        out[key] = statistics.median(r[key] for r in runs)
    out["repeats"] = len(runs)
    return out


def table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, cells[1:])])


def machine_note() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Our fit of an analysis (binomial counts, parallel chains on forced host devices, "
        "persistent compile cache; cold and warm runs) against a plain NumPyro fit of the same model on "
        "per-sample Bernoulli rows with sequential chains and no cache, each in a fresh process. Prints "
        "wall times, min bulk ESS of group_effects, ESS/s and the ratios ours / baseline.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--analysis", type=Path, default=DEFAULT_ANALYSIS, help="analysis YAML (processors + models)")
    parser.add_argument("--logs", type=Path, default=DEFAULT_LOGS, help="folder of Inspect logs to ingest")
    parser.add_argument("--models", nargs="+", default=None, help="model names from the YAML (default: all of them)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="repeat the (ours cold, ours warm, baseline) triple, each cold run with a new empty cache; medians are reported",
    )
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (warehouse, features, fits, caches)")
    parser.add_argument("--_worker", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--_data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_scratch", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.analysis = args.analysis.resolve()

    if args._worker:
        args.model = args.models[0]
        args.data, args.scratch, args.cache = args._data, args._scratch, args._cache
        result = worker_ours(args) if args._worker == "ours" else worker_baseline(args)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return

    started_at = datetime.now(timezone.utc)
    scratch = Path(tempfile.mkdtemp(prefix="bench_fit_"))
    print(f"[bench_fit] {started_at:%Y-%m-%d %H:%M UTC}; {machine_note()}", flush=True)
    try:
        t0 = time.perf_counter()
        data, config, report = prepare_data(args.analysis, args.logs.resolve(), scratch)
        print(
            f"[bench_fit] data via our code path: {report.logs} logs -> {report.rows_read} rows "
            f"({report.excluded_errored_samples} errored samples left out) in {time.perf_counter() - t0:.1f}s (not timed below)",
            flush=True,
        )
        models = args.models or config.model_names
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for model in models:
            spec = config.model(model)
            fit = spec.fit
            print(
                f"[bench_fit] {model}: {fit.chains} chains x ({fit.warmup} warmup + {fit.samples} draws), "
                f"target_accept {fit.target_accept}, init {fit.init_strategy}, seed {fit.seed}",
                flush=True,
            )
            reps: dict[str, list[dict[str, Any]]] = {"ours cold": [], "ours warm": [], "baseline": []}
            for rep in range(args.repeats):
                cache = scratch / f"jax_cache_{model}_{rep}"  # a fresh, empty cache: the cold run is cold
                for label, side in (("ours cold", "ours"), ("ours warm", "ours"), ("baseline", "baseline")):
                    tag = f" {rep + 1}/{args.repeats}" if args.repeats > 1 else ""
                    print(f"[bench_fit]   {label:<9}{tag} ... ", end="", flush=True)
                    work = scratch / f"{model}_{label.replace(' ', '_')}_{rep}"
                    result = run_worker(side, model, args, data, work, cache if side == "ours" else None)
                    reps[label].append(result)
                    extra = f", compile cache files {result['cache_files_before']} -> {result['cache_files_after']}" if side == "ours" else ""
                    print(
                        f"fit {result['fit_s']:.1f}s (process {result['process_s']:.1f}s), {result['chain_method']} on "
                        f"{result['devices']} device(s), min ESS bulk {result['min_ess_bulk']:.0f}{extra}",
                        flush=True,
                    )
            runs = {label: median_run(values) for label, values in reps.items()}
            results[model] = runs
    finally:
        if args.keep_temp:
            print(f"[bench_fit] kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(
        "fit s: ours = mcmc.run + InferenceData (hibayes.model.sampling's own timer); baseline = mcmc.run + get_samples. "
        "process s: the whole fresh process (imports, JAX start-up, processors, fit, ESS). "
        "ESS = min ArviZ bulk ESS over group_effects, all chains pooled. ESS/s uses fit s. "
        f"Medians over {args.repeats} repeat(s)."
    )
    header = ["model", "run", "rows", "chains", "devices", "fit s", "process s", "min ESS", "ESS/s", "max r̂", "div", "ESS/s ÷ base", "fit s ÷ base"]
    rows = []
    for model, runs in results.items():
        base = runs["baseline"]
        base_rate = base["min_ess_bulk"] / base["fit_s"]
        for label, r in runs.items():
            rate = r["min_ess_bulk"] / r["fit_s"]
            rows.append(
                [
                    model,
                    label + (" (incl. JIT)" if label in ("ours cold", "baseline") else " (cache)"),
                    r["rows"],
                    r["chain_method"],
                    r["devices"],
                    f"{r['fit_s']:.1f}",
                    f"{r['process_s']:.1f}",
                    f"{r['min_ess_bulk']:.0f}",
                    f"{rate:.0f}",
                    f"{r['max_rhat']:.3f}",
                    r["divergences"],
                    f"{rate / base_rate:.2f}",
                    f"{r['fit_s'] / base['fit_s']:.2f}",
                ]
            )
    print(table(header, rows))
    print()
    print("Posterior agreement (group_effects posterior means, ours cold vs baseline):")
    for model, runs in results.items():
        ours, base = runs["ours cold"], runs["baseline"]
        same_groups = ours["groups"] == base["groups"]
        diffs = [abs(a - b) for a, b in zip(ours["means"], base["means"])]
        worst = max(diffs)
        verdict = "agree" if same_groups and worst <= AGREEMENT_TOLERANCE else "DIFFER"
        pairs = ", ".join(f"{g} {a:+.3f}/{b:+.3f}" for g, a, b in zip(ours["groups"], ours["means"], base["means"]))
        warm_same = runs["ours warm"]["means"] == ours["means"]
        print(
            f"  {model}: max |diff| {worst:.3f} -> {verdict} (tolerance {AGREEMENT_TOLERANCE}); ours/baseline: {pairs}; "
            f"warm run draws {'identical to' if warm_same else 'differ from'} cold"
        )
    print()
    for model, runs in results.items():
        base = runs["baseline"]
        base_rate = base["min_ess_bulk"] / base["fit_s"]
        cold, warm = runs["ours cold"], runs["ours warm"]
        print(
            f"RATIO {model}: ESS/s ours/baseline = {cold['min_ess_bulk'] / cold['fit_s'] / base_rate:.2f} (cold), "
            f"{warm['min_ess_bulk'] / warm['fit_s'] / base_rate:.2f} (warm); "
            f"fit wall ours/baseline = {cold['fit_s'] / base['fit_s']:.2f} (cold), {warm['fit_s'] / base['fit_s']:.2f} (warm); "
            f"process wall ours/baseline = {cold['process_s'] / base['process_s']:.2f} (cold), {warm['process_s'] / base['process_s']:.2f} (warm)"
        )


if __name__ == "__main__":
    main()
