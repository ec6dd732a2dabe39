"""The project at corpus scale (issue 15): synthetic Inspect corpora of 1k, 3k and 10k logs
(`benchmarks/corpus.py`), each measure run on every size, ratios against a baseline measured in the
same run, and a PNG of time and peak RSS against corpus size.

Measures (each in a fresh child process, so peak RSS is its own `ru_maxrss`):
- `ingest`: a cold ingest of the whole corpus into a fresh warehouse (`ingest_logs`, what the
  `eval_samples` asset runs: batches read in worker processes, one transaction per batch) against `inspect_ai.analysis.samples_df(EvalInfo +
  EvalModel + SampleSummary)` on the same files, the call HiBayES itself makes. Ratio: our
  throughput / samples_df's; linearity: seconds at the largest size / seconds at the smallest,
  against the size ratio.
- `dagster`: the live path at N log partitions with real Dagster (`scale_dagster.py`): the first
  ingest through Dagster (seconds, events per log), the log sensor's tick with nothing new, 10 new
  logs from the tick to the ingest's end (in process, and through the daemon of `dagster dev`), the
  UI's partitions page query for `eval_samples` against a real webserver, and the daemon's ticks
  over a minute. Output `<out>/dagster.json`.
- `hal`: the HAL assets (run metrics, cost and latency frontiers, win rates, the report's heatmaps
  and plots) materialized with Dagster on the ingested corpus (one run per log), prices for every
  corpus model; the ingest before it is not timed.
- `irt`: the IRT assets' statistics (the same `hibayes.irt` calls as `hibayes_assets/assets/irt.py`,
  without Dagster or DuckDB) with `examples/irt.yaml`'s settings and a D-dimensional MIRT, on a
  simulated respondents x items matrix with known truth (`--irt-sizes`; `--irt-new` more respondents
  are the config's new models). Each stage (fit, anchors, estimates, validation, routing) runs in
  its own child, which reads the previous stages' results from disk; its peak RSS is the VmHWM
  reached during the stage (the high-water mark is reset after the data is loaded). Quality is
  measured against the truth. Ratio: each stage's time at the largest size / the smallest, against
  the size ratio. Writes `<out>/irt.json`.
- `analysis`: one analysis YAML of binomial models over the ingested corpus's samples, through the
  analysis assets with Dagster, cold then warm, each run's seconds, CPU seconds and peak RSS, and
  the per-observation LOO/WAIC export checked (`scale_analysis.py`). The warehouse is the hal
  measure's kept one under `--corpus-dir` when there is one, else the corpus ingested; with
  `--analysis-replicate R`, R copies of its rows (a proxy for a corpus R times the size). Writes
  `<out>/analysis.json`.

Nothing is asserted. Output: a table on stdout, `<out>/scale.json` and `<out>/scale.png`.

    .venv/bin/python benchmarks/bench_scale.py                          # 1000,3000,10000 logs x 100 samples
    .venv/bin/python benchmarks/bench_scale.py --sizes 100,300 --out /tmp/scale   # a quick try
    .venv/bin/python benchmarks/bench_scale.py --measures irt --irt-sizes 400x3000,400x30000   # IRT only
    .venv/bin/python benchmarks/bench_scale.py --measures analysis --sizes 10000 --corpus-dir /tmp/corpora   # 1M samples
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

SIDES = ("ours", "samples_df")


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def measure_ingest(side: str, logs: Path, scratch: Path) -> dict:
    """One cold ingest of every log under `logs` (run in a child process)."""
    from bench_ingest import _samples_df_once

    from hibayes.load.inspect_reader import BATCH_LOGS, ingest_workers

    paths = sorted(p for p in logs.rglob("*") if p.suffix in (".eval", ".json"))
    database = scratch / f"{side}.duckdb"
    started = time.perf_counter()
    result = _ours_batched(paths, logs, database) if side == "ours" else _samples_df_once(paths, database)
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = _peak_rss_mb()
    # Reader workers (ours) are children: the largest one's peak, and the most all could hold at once.
    result["worker_peak_rss_mb"] = _peak_rss_mb(resource.RUSAGE_CHILDREN)
    result["workers"] = ingest_workers() if side == "ours" and len(paths) > BATCH_LOGS else 0
    result["total_peak_rss_bound_mb"] = result["peak_rss_mb"] + result["workers"] * result["worker_peak_rss_mb"]
    result["logs"] = len(paths)
    return result


def _ours_batched(paths: list[Path], root: Path, database: Path) -> dict:
    """The ingest assets' own path without Dagster: `ingest_logs` (batches read by worker
    processes, copies set aside, one transaction per batch)."""
    from hibayes.load.copies import ingest_logs
    from hibayes.load.inspect_reader import log_key_for
    from hibayes.warehouse import Warehouse

    _, counts = ingest_logs(Warehouse(database), {log_key_for(path, root): path for path in paths})
    return {"rows": sum(c.get("samples", 0) for c in counts.values())}


def _cpu_seconds() -> float:
    """This process's user + system CPU time: steadier than wall time on a machine shared with other work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_hal(logs: Path, scratch: Path, home: Path | None = None) -> dict:
    """The HAL assets over the ingested corpus, in a throwaway Dagster instance (run in a child).
    With `home`, a warehouse left there by an earlier run is reused (its ingest skipped)."""
    import os

    import yaml

    home = home or scratch / "home"
    ingested = home / "ingested"  # written after the ingest, so a run killed during it is not reused
    reused = ingested.exists()
    prices = scratch / "prices.yaml"
    models = {f"mockllm/model{m:03d}": {"input": round(0.1 * (m + 1), 2), "output": round(0.4 * (m + 1), 2)} for m in range(1000)}
    prices.write_text(yaml.safe_dump({"unit": "usd_per_million_tokens", "models": models}))
    os.environ.update(HIBAYES_HOME=str(home), HIBAYES_LOG_DIR=str(logs), HIBAYES_PRICES=str(prices))
    import dagster as dg

    from hibayes.load.copies import ingest_logs
    from hibayes.load.inspect_reader import log_key_for
    from hibayes.settings import load_settings
    from hibayes.warehouse import Warehouse
    from hibayes_assets.definitions import defs
    from hibayes_assets.planner import HAL_ASSETS
    from hibayes_assets.resources import build_resources

    settings = load_settings()
    paths = sorted(p for p in logs.rglob("*") if p.suffix in (".eval", ".json"))
    if not reused:
        ingest_logs(Warehouse(settings.warehouse_path), {log_key_for(path, logs): path for path in paths})
        ingested.touch()
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    with dg.instance_for_test() as instance:
        result = dg.materialize([*defs.assets, *defs.asset_checks], selection=list(HAL_ASSETS), instance=instance,
                                resources=build_resources(settings), raise_on_error=False)
        steps = {s.step_key: round(s.end_time - s.start_time, 1) for s in instance.get_run_step_stats(result.run_id)}
    runs = len(Warehouse(settings.warehouse_path).query("SELECT 1 FROM hal_run_metrics"))
    return {"seconds": time.perf_counter() - started, "cpu_seconds": round(_cpu_seconds() - cpu_started, 1),
            "success": result.success, "steps": steps, "hal_runs": runs,
            "rows": runs, "peak_rss_mb": _peak_rss_mb(), "logs": len(paths)}


IRT_STAGES = ("fit", "anchors", "estimates", "validation", "routing")
IRT_CONFIG = ROOT / "examples" / "irt.yaml"
IRT_GOALS = {"fit_seconds": 300.0, "peak_rss_mb": 4096.0}  # issue 15: fit < 5 min, < 4 GB RSS
ITEMS_PER_TASK = 600
IRT_COLUMNS = {"size", "respondents", "items", "dims", "side", "stage", "seconds", "cpu_seconds", "load_average", "peak_rss_mb",
               "rss_before_mb"}  # the rest of a stage's result is quality against the truth


def _vm_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024.0 for line in status if line.startswith(field + ":"))


def irt_simulate(folder: Path) -> dict:
    """The known truth behind the IRT measure (run in a child): a D-dimensional 2PL (MIRT) over
    respondents + new respondents x items, items in tasks of 600, and item texts that name the
    item's task and a topic (its true difficulty decile and strongest dimension) among filler
    words, so TF-IDF neighbours share parameters as real near-duplicate questions do."""
    import numpy as np

    from hibayes.irt import simulate_irt

    spec = json.loads((folder / "spec.json").read_text())
    started = time.perf_counter()
    sim = simulate_irt(spec["respondents"] + spec["new"], spec["items"], spec["dims"], model="mirt", seed=spec["seed"])
    rng = np.random.default_rng(spec["seed"] + 1)
    task = np.arange(spec["items"]) // ITEMS_PER_TASK
    decile = np.searchsorted(np.quantile(sim.b, np.linspace(0.1, 0.9, 9)), sim.b)
    topic = decile * spec["dims"] + sim.a.argmax(axis=1)
    words = rng.integers(0, 2000, size=(spec["items"], 4))
    texts = np.array([f"task{t} topic{c} " + " ".join(f"w{w}" for w in ws) for t, c, ws in zip(task, topic, words)])
    np.savez(folder / "data.npz", y=sim.y.astype(np.int8), theta=sim.theta, a=sim.a, b=sim.b, task=task, texts=texts)
    return {"seconds": time.perf_counter() - started, "peak_rss_mb": _vm_mb("VmHWM")}


def _irt_inputs(folder: Path) -> tuple:
    """(spec, config, all responses, training responses, truth) as every IRT stage's asset sees them."""
    import numpy as np

    from hibayes.irt import IRTConfig, response_matrix_from_arrays, split_respondents

    spec = json.loads((folder / "spec.json").read_text())
    data = dict(np.load(folder / "data.npz"))
    names = [f"m{j:03d}" for j in range(spec["respondents"])] + [f"new{j:03d}" for j in range(spec["new"])]
    items = [f"task{t}::{i}" for i, t in enumerate(data["task"])]
    responses = response_matrix_from_arrays(data.pop("y").astype(float), names, items, texts=data["texts"].tolist(), validate=False)
    config = IRTConfig.from_yaml(IRT_CONFIG).replace(model="mirt", dims=spec["dims"], new_models=names[spec["respondents"]:])
    train, _ = split_respondents(responses, config.new_models)
    return spec, config, responses, train, data


def _r2(truth, fitted) -> float:
    """Mean over the true dimensions of R^2 of a least-squares fit of each on the fitted ones: a
    MIRT's rotation is not identified, so correlations per dimension would not be meaningful."""
    import numpy as np

    X = np.column_stack([np.ones(len(fitted)), fitted])
    coef, *_ = np.linalg.lstsq(X, truth, rcond=None)
    resid = truth - X @ coef
    return float(np.mean(1 - resid.var(axis=0) / truth.var(axis=0)))


def _load_anchors(folder: Path, items: list[str]):
    import numpy as np

    from hibayes.irt import AnchorPoints

    saved = np.load(folder / "anchors.npz")
    index = saved["index"]
    return AnchorPoints(items=[items[i] for i in index], index=index, weights=saved["weights"],
                        train_variance=saved["train_variance"], cluster_of_anchor=saved["cluster_of_anchor"],
                        labels=saved["labels"], embedding=None, method=str(saved["method"]),
                        n_clusters=int(saved["n_clusters"]), all_items=list(items))


def measure_irt(stage: str, folder: Path) -> dict:
    """One IRT stage, as its asset runs it (in a child): seconds, peak RSS during the stage, and
    quality against the simulated truth."""
    import numpy as np

    from hibayes.irt import (IRTFit, estimate_performance, evaluate_routing, fit_irt, gp_parameters, item_weights,
                             leave_one_model_out, select_anchors, sigmoid, split_items, summarise_validation)

    spec, config, responses, train, truth = _irt_inputs(folder)
    n_train = spec["respondents"]
    weights = item_weights(train, config.balance)
    rss_before = _vm_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the peak below is this stage's
    started, cpu_started = time.perf_counter(), time.process_time()
    quality: dict = {}
    if stage == "fit":
        fit = fit_irt(train, config)
        fit.to_netcdf(folder / "irt_fit.nc", responses=train)
        fit.item_frame(config.interval), fit.respondent_frame(config.interval)
        seconds, cpu_seconds, peak = time.perf_counter() - started, time.process_time() - cpu_started, _vm_mb("VmHWM")
        p_true = sigmoid(truth["theta"][:n_train] @ truth["a"].T - truth["b"])
        quality = {"fit_irt_s": fit.diagnostics["elapsed_s"], "rel_loss_change": fit.diagnostics["rel_loss_change"],
                   "corr_b": float(np.corrcoef(fit.b, truth["b"])[0, 1]), "r2_theta": _r2(truth["theta"][:n_train], fit.theta),
                   "r2_a": _r2(truth["a"], fit.a), "mean_abs_dp": float(np.abs(fit.predict_proba() - p_true).mean())}
    elif stage == "anchors":
        fit = IRTFit.from_netcdf(folder / "irt_fit.nc")
        anchors = select_anchors(train, min(config.n_anchors, len(train.items)), fit=fit, space=config.anchor_space,
                                 weights=weights, seed=config.seed, restarts=config.kmeans_restarts)
        np.savez(folder / "anchors.npz", index=anchors.index, weights=anchors.weights, train_variance=anchors.train_variance,
                 cluster_of_anchor=anchors.cluster_of_anchor, labels=anchors.labels, method=anchors.method,
                 n_clusters=anchors.n_clusters)
        seconds, cpu_seconds, peak = time.perf_counter() - started, time.process_time() - cpu_started, _vm_mb("VmHWM")
        quality = {"anchors": anchors.n, "clusters": anchors.n_clusters}
    elif stage == "estimates":
        fit = IRTFit.from_netcdf(folder / "irt_fit.nc")
        anchors = _load_anchors(folder, fit.items)
        gp = gp_parameters(train, fit, anchors, config, weights=weights)
        roles = {name: ("new" if name in config.new_models else "train") for name in responses.respondents}
        estimates = estimate_performance(fit, anchors, responses, gp=gp, config=config, weights=weights, roles=roles)
        seconds, cpu_seconds, peak = time.perf_counter() - started, time.process_time() - cpu_started, _vm_mb("VmHWM")
        new = estimates[estimates["role"] == "new"]
        for name in ("anchor", "pirt", "gpirt"):
            quality[f"new_mae_{name}"] = float((new[name] - new["true_score"]).abs().mean())
            quality[f"new_coverage_{name}"] = float(((new[f"{name}_lo"] <= new["true_score"]) & (new["true_score"] <= new[f"{name}_hi"])).mean())
        quality.update(new_respondents=len(new), gp_mu=float(new["gp_mu"].iloc[0]), gp_bias=gp.bias)
    elif stage == "validation":
        with open(folder / "validation_progress.log", "w") as log:
            results = leave_one_model_out(train, config, weights=weights, groups=train.item_table["task"].to_numpy(),
                                          progress=lambda line: print(line, file=log, flush=True))
        summary = summarise_validation(results).set_index("estimator")
        seconds, cpu_seconds, peak = time.perf_counter() - started, time.process_time() - cpu_started, _vm_mb("VmHWM")
        quality = {"folds": int(results["fold"].nunique()), "held_out": len(results),
                   **{f"mae_{name}": float(summary.loc[name, "mae"]) for name in summary.index},
                   **{f"coverage_{name}": float(summary.loc[name, "coverage"]) for name in ("anchor", "pirt", "gpirt", "random")}}
    elif stage == "routing":
        train_items, test_items = split_items(responses, config.routing_test_fraction, seed=config.seed)
        result = evaluate_routing(train_items, test_items, config)
        seconds, cpu_seconds, peak = time.perf_counter() - started, time.process_time() - cpu_started, _vm_mb("VmHWM")
        overall = result.report.set_index("task").loc["ALL"]
        test = np.array([responses.items.index(item) for item in test_items.items])
        p_true = sigmoid(truth["theta"] @ truth["a"][test].T - truth["b"][test])
        quality = {"routed_accuracy": float(overall["routed_accuracy"]), "knn_accuracy": float(overall["knn_accuracy"]),
                   "best_single_accuracy": float(overall["best_single_accuracy"]),
                   "oracle_accuracy": float(overall["oracle_accuracy"]),
                   # routing by the true P(correct): the best a router can expect
                   "true_p_routed_accuracy": float(test_items.y[p_true.argmax(axis=0), np.arange(len(test))].mean())}
    else:
        raise SystemExit(f"unknown IRT stage {stage!r}")
    # cpu_seconds: all the process's threads; on a shared machine wall time also counts waiting for a core
    return {"stage": stage, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": peak, "rss_before_mb": rss_before,
            "load_average": os.getloadavg()[0], **quality}


def run_irt(sizes: list[str], dims: int, new: int, stages: list[str], scratch: Path, out: Path) -> list[dict]:
    """Every stage at every size; `out` / irt.json is rewritten after each stage, so a run stopped
    in a long stage (validation at the largest size) keeps what it measured."""
    results = []
    for size in sizes:
        respondents, items = (int(x) for x in size.lower().split("x"))
        folder = scratch / f"irt_{size}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spec.json").write_text(json.dumps({"respondents": respondents, "items": items, "new": new, "dims": dims, "seed": 0}))
        made = child("irt", "simulate", folder)
        print(f"[bench_scale] IRT {size} (+ {new} new respondents, D={dims}): simulated in {made['seconds']:.1f} s", flush=True)
        for stage in stages:
            result = {"size": size, "respondents": respondents, "items": items, "dims": dims, "side": "irt",
                      **child("irt", stage, folder)}
            results.append(result)
            (out / "irt.json").write_text(json.dumps(results, indent=1))
            print(f"[bench_scale]   {stage:<10} {result['seconds']:7.1f} s (CPU {result['cpu_seconds']:.1f} s, load "
                  f"{result['load_average']:.1f}), peak RSS {result['peak_rss_mb']:.0f} MB (before {result['rss_before_mb']:.0f}); "
                  + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()
                              if k not in IRT_COLUMNS), flush=True)
    return results


def print_irt_table(results: list[dict]) -> None:
    print()
    print("| size | stage | seconds | CPU seconds | load average | peak RSS MB | RSS before MB | quality against the truth |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        quality = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items() if k not in IRT_COLUMNS)
        print(f"| {r['size']} | {r['stage']} | {r['seconds']:.1f} | {r.get('cpu_seconds', float('nan')):.1f} | "
              f"{r.get('load_average', float('nan')):.1f} | {r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} | {quality} |")
    sizes = list(dict.fromkeys(r["size"] for r in results))
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        cells = {size: next(r["respondents"] * r["items"] for r in results if r["size"] == size) for size in (small, large)}
        for stage in dict.fromkeys(r["stage"] for r in results):
            a, b = (next((r for r in results if r["size"] == size and r["stage"] == stage), None) for size in (small, large))
            if a and b:
                cpu = f"; CPU seconds {b['cpu_seconds'] / a['cpu_seconds']:.2f}" if "cpu_seconds" in a and "cpu_seconds" in b else ""
                print(f"RATIO irt {stage} seconds {large} / {small} = {b['seconds'] / a['seconds']:.2f}{cpu} "
                      f"(cells x{cells[large] / cells[small]:.0f}); peak RSS {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}")
    for r in results:
        if r["stage"] == "fit":
            print(f"goal {r['size']}: fit {r['seconds']:.0f} s < {IRT_GOALS['fit_seconds']:.0f} s: "
                  f"{'met' if r['seconds'] < IRT_GOALS['fit_seconds'] else 'MISSED'}")
    for size in sizes:
        peak = max(r["peak_rss_mb"] for r in results if r["size"] == size)
        print(f"goal {size}: peak RSS of every stage {peak:.0f} MB < {IRT_GOALS['peak_rss_mb']:.0f} MB: "
              f"{'met' if peak < IRT_GOALS['peak_rss_mb'] else 'MISSED'}")


def analysis_home(logs: Path, home: Path, hal_home: Path | None, replicate: int) -> dict:
    """`home` ready for the analysis measure's cold phase: its warehouse kept (or made from the hal
    measure's kept one, or by ingesting `logs`), every result of an earlier measure removed."""
    from scale_analysis import replicate_warehouse

    for name in ("dagster", "fits", "features", "artifacts", "cache", "analyses"):
        shutil.rmtree(home / name, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    warehouse, ingested = home / "warehouse.duckdb", home / "ingested"
    if ingested.exists():
        return {"warehouse": "reused"}
    warehouse.unlink(missing_ok=True)
    source = hal_home / "warehouse.duckdb" if hal_home is not None and (hal_home / "ingested").exists() else None
    if source is None:
        from hibayes.load.copies import ingest_logs
        from hibayes.load.inspect_reader import log_key_for
        from hibayes.warehouse import Warehouse

        started = time.perf_counter()
        source = home / "ingested.duckdb" if replicate > 1 else warehouse
        paths = sorted(p for p in logs.rglob("*") if p.suffix in (".eval", ".json"))
        ingest_logs(Warehouse(source), {log_key_for(path, logs): path for path in paths})
        made = {"warehouse": f"ingested in {time.perf_counter() - started:.0f} s"}
    else:
        made = {"warehouse": f"the hal measure's ({source})"}
    if replicate > 1:
        made["replicated"] = replicate_warehouse(source, warehouse, replicate)
    elif source != warehouse:
        shutil.copy(source, warehouse)
    ingested.touch()
    return made


def child(measure: str, side: str, logs: Path, home: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_scale_db_") as scratch:
        command = [sys.executable, str(Path(__file__).resolve()), "--_child", measure, "--_side", side, "--_logs", str(logs),
                   "--_scratch", scratch, *(["--_home", str(home)] if home else [])]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{measure} ({side}) failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(results: list[dict], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_rss) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for side, style in zip(SIDES, ("o-", "s--")):
        rows = [r for r in results if r["side"] == side]
        logs = [r["logs"] for r in rows]
        ax_time.plot(logs, [r["seconds"] for r in rows], style, label=side)
        ax_rss.plot(logs, [r["total_peak_rss_bound_mb"] for r in rows], style, label=side)
    for ax, label in ((ax_time, "seconds (ours: read + DuckDB write;\nsamples_df: read only)"), (ax_rss, "peak RSS, MB (with reader workers)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("logs in the corpus (100 samples each)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Cold ingest of a synthetic Inspect corpus, 2 cores")
    path = out / "scale.png"
    fig.savefig(path, dpi=110)
    return path


def print_ingest_table(sizes: list[int], results: list[dict]) -> None:
    print()
    print("| logs | samples | ours s | samples_df s | ours rows/s | samples_df rows/s | RATIO ours/samples_df | ours peak RSS MB (process + workers, bound) | samples_df peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        ours, base = (next(r for r in results if r["size"] == size and r["side"] == side) for side in SIDES)
        ratio = (ours["rows"] / ours["seconds"]) / (base["rows"] / base["seconds"])
        print(f"| {size} | {ours['rows']} | {ours['seconds']:.1f} | {base['seconds']:.1f} | {ours['rows'] / ours['seconds']:,.0f} | "
              f"{base['rows'] / base['seconds']:,.0f} | {ratio:.2f} | {ours['total_peak_rss_bound_mb']:.0f} | {base['peak_rss_mb']:.0f} |")
    if len(sizes) > 1:
        for side in SIDES:
            rows = [r for r in results if r["side"] == side]
            print(f"linearity ({side}): {rows[-1]['seconds'] / rows[0]['seconds']:.1f}x the time for "
                  f"{sizes[-1] / sizes[0]:.0f}x the logs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", default="1000,3000,10000", help="corpus sizes in logs, comma-separated")
    parser.add_argument("--samples-per-log", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "scale", help="where scale.json and scale.png go")
    parser.add_argument("--measures", default="ingest,hal", help="which measures to run, comma-separated: ingest, hal, irt, dagster")
    parser.add_argument("--irt-sizes", default="400x3000,400x30000", help="IRT: respondents x items, comma-separated")
    parser.add_argument("--irt-dims", type=int, default=3, help="IRT: latent dimensions D of the MIRT")
    parser.add_argument("--irt-new", type=int, default=20, help="IRT: respondents beyond the sizes', left out as new models")
    parser.add_argument("--irt-stages", default=",".join(IRT_STAGES), help="IRT: stages to run, in order")
    parser.add_argument("--keep-corpus", action="store_true", help="keep the generated logs (in a temp folder)")
    parser.add_argument("--corpus-dir", type=Path, default=None,
                        help="keep corpora here (logs_<size>/) and reuse one already there; the hal measure also keeps its "
                             "ingested warehouse there (hal_home_<size>/) and reuses it, so a rerun times the HAL assets only")
    parser.add_argument("--analysis-replicate", type=int, default=1,
                        help="analysis: fit R copies of the warehouse's rows (a proxy for a corpus R times the size)")
    parser.add_argument("--_home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_side", help=argparse.SUPPRESS)
    parser.add_argument("--_logs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child == "irt":
        print(json.dumps(irt_simulate(args._logs) if args._side == "simulate" else measure_irt(args._side, args._logs)))
        return 0
    if args._child == "analysis":
        from scale_analysis import run_phase

        print(json.dumps(run_phase(args._side, args._home)))
        return 0
    if args._child == "hal":
        print(json.dumps(measure_hal(args._logs, args._scratch, args._home)))
        return 0
    if args._child:
        print(json.dumps(measure_ingest(args._side, args._logs, args._scratch)))
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    measures = args.measures.split(",")
    if "irt" in measures:
        scratch = Path(tempfile.mkdtemp(prefix="bench_scale_irt_"))
        print(f"[bench_scale] {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; {platform.python_version()}, "
              f"{os.cpu_count()} CPUs; IRT data in {scratch}", flush=True)
        try:
            irt = run_irt(args.irt_sizes.split(","), args.irt_dims, args.irt_new, args.irt_stages.split(","), scratch, args.out)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print_irt_table(irt)
        print(f"wrote {args.out / 'irt.json'}")
        measures.remove("irt")
        if not measures:
            return 0

    import corpus
    import scale_analysis
    import scale_dagster

    sizes = sorted(int(size) for size in args.sizes.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    keep = args.keep_corpus or args.corpus_dir is not None
    if args.corpus_dir:
        args.corpus_dir.mkdir(parents=True, exist_ok=True)
    scratch = args.corpus_dir or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    print(f"[bench_scale] {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; corpora in {scratch}", flush=True)
    results = []
    try:
        for size in sizes:
            folder = scratch / f"logs_{size}"
            spec = corpus.CorpusSpec(logs=size, samples_per_log=args.samples_per_log)
            # A kept corpus is whole once its truth file is written (`generate` writes it last).
            made = (folder.parent / f"{folder.name}_truth.json").exists() and args.corpus_dir is not None
            seconds = "(reused)" if made else f"in {corpus.generate(spec, folder)['seconds']} s"
            files = sum(1 for _ in folder.iterdir())
            print(f"[bench_scale] {size} logs: {files} files "
                  f"({sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.0f} MB) {seconds}", flush=True)
            if "dagster" in measures:
                results.append({"size": size, "side": "dagster", **scale_dagster.run(folder)})
            if "hal" in measures:
                hal = child("hal", "ours", folder, args.corpus_dir / f"hal_home_{size}" if args.corpus_dir else None)
                results.append({"size": size, "side": "hal", **hal})
                print(f"[bench_scale]   HAL assets on {hal['hal_runs']} runs: {hal['seconds']:.1f} s, {hal['cpu_seconds']} s CPU "
                      f"({'ok' if hal['success'] else 'FAILED'}; steps {hal['steps']}), peak RSS {hal['peak_rss_mb']:.0f} MB", flush=True)
            if "analysis" in measures:
                suffix = f"x{args.analysis_replicate}" if args.analysis_replicate > 1 else ""
                home = (args.corpus_dir or scratch) / f"analysis_home_{size}{suffix}"
                made = analysis_home(folder, home, args.corpus_dir / f"hal_home_{size}" if args.corpus_dir else None,
                                     args.analysis_replicate)
                print(f"[bench_scale]   analysis warehouse: {made}", flush=True)
                for phase in scale_analysis.PHASES:
                    results.append({"size": size, "side": "analysis", "replicate": args.analysis_replicate, **made,
                                    **child("analysis", phase, folder, home)})
            order = SIDES if len(results) % 4 == 0 else tuple(reversed(SIDES))  # alternate who goes first
            for side in order if "ingest" in measures else ():
                result = child("ingest", side, folder)
                results.append({"size": size, "side": side, **result})
                print(f"[bench_scale]   {side:<10} {result['rows']:>9} rows in {result['seconds']:7.1f} s "
                      f"({result['rows'] / result['seconds']:,.0f} rows/s), peak RSS {result['peak_rss_mb']:.0f} MB "
                      f"(+ {result['workers']} workers of at most {result['worker_peak_rss_mb']:.0f} MB)", flush=True)
            if not keep:
                shutil.rmtree(folder)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)

    if any(r["side"] in SIDES for r in results):
        print_ingest_table(sizes, results)
        ingest = [r for r in results if r["side"] in SIDES]
        (args.out / "scale.json").write_text(json.dumps(ingest, indent=1))
        print(f"wrote {args.out / 'scale.json'} and {plot(ingest, args.out)}")
    dagster = [r for r in results if r["side"] == "dagster"]
    if dagster:
        print()
        print(f"wrote {scale_dagster.write_results(dagster, args.out)}")
    analysis = [r for r in results if r["side"] == "analysis"]
    if analysis:
        scale_analysis.print_table(analysis)
        (args.out / "analysis.json").write_text(json.dumps(analysis, indent=1))
        print(f"wrote {args.out / 'analysis.json'}")
    hal = [r for r in results if r["side"] == "hal"]
    if hal:
        print()
        print("| logs | HAL runs | HAL assets s | CPU s | steps (s) | peak RSS MB |")
        print("|---|---|---|---|---|---|")
        for r in hal:
            print(f"| {r['size']} | {r['hal_runs']} | {r['seconds']:.1f} | {r['cpu_seconds']} | "
                  f"{', '.join(f'{k} {v}' for k, v in r['steps'].items())} | {r['peak_rss_mb']:.0f} |")
        (args.out / "hal.json").write_text(json.dumps(hal, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
