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

Nothing is asserted. Output: a table on stdout, `<out>/scale.json` and `<out>/scale.png`.

    .venv/bin/python benchmarks/bench_scale.py                          # 1000,3000,10000 logs x 100 samples
    .venv/bin/python benchmarks/bench_scale.py --sizes 100,300 --out /tmp/scale   # a quick try
"""

from __future__ import annotations

import argparse
import json
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


def measure_hal(logs: Path, scratch: Path) -> dict:
    """The HAL assets over the ingested corpus, in a throwaway Dagster instance (run in a child)."""
    import os

    import yaml

    home = scratch / "home"
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
    ingest_logs(Warehouse(settings.warehouse_path), {log_key_for(path, logs): path for path in paths})
    started = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = dg.materialize([*defs.assets, *defs.asset_checks], selection=list(HAL_ASSETS), instance=instance,
                                resources=build_resources(settings), raise_on_error=False)
        steps = {s.step_key: round(s.end_time - s.start_time, 1) for s in instance.get_run_step_stats(result.run_id)}
    runs = len(Warehouse(settings.warehouse_path).query("SELECT 1 FROM hal_run_metrics"))
    return {"seconds": time.perf_counter() - started, "success": result.success, "steps": steps, "hal_runs": runs,
            "rows": runs, "peak_rss_mb": _peak_rss_mb(), "logs": len(paths)}


def child(measure: str, side: str, logs: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_scale_db_") as scratch:
        command = [sys.executable, str(Path(__file__).resolve()), "--_child", measure, "--_side", side, "--_logs", str(logs),
                   "--_scratch", scratch]
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
    parser.add_argument("--measures", default="ingest,hal", help="which measures to run, comma-separated: ingest, hal, dagster")
    parser.add_argument("--keep-corpus", action="store_true", help="keep the generated logs (in a temp folder)")
    parser.add_argument("--corpus-dir", type=Path, help="reuse the corpora in this folder (logs_<size>), generating the missing ones there")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_side", help=argparse.SUPPRESS)
    parser.add_argument("--_logs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child == "hal":
        print(json.dumps(measure_hal(args._logs, args._scratch)))
        return 0
    if args._child:
        print(json.dumps(measure_ingest(args._side, args._logs, args._scratch)))
        return 0

    import corpus
    import scale_dagster

    sizes = sorted(int(size) for size in args.sizes.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = args.corpus_dir or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    keep = args.keep_corpus or args.corpus_dir is not None
    print(f"[bench_scale] {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}; {platform.python_version()}, "
          f"{__import__('os').cpu_count()} CPUs; corpora in {scratch}", flush=True)
    results = []
    try:
        for size in sizes:
            folder = scratch / f"logs_{size}"
            spec = corpus.CorpusSpec(logs=size, samples_per_log=args.samples_per_log)
            summary = {"seconds": "(reused)"} if folder.is_dir() else corpus.generate(spec, folder)
            files = sum(1 for _ in folder.iterdir())
            print(f"[bench_scale] {size} logs: generated {files} files "
                  f"({sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.0f} MB) in {summary['seconds']} s", flush=True)
            measures = args.measures.split(",")
            if "dagster" in measures:
                results.append({"size": size, "side": "dagster", **scale_dagster.run(folder)})
            if "hal" in measures:
                hal = child("hal", "ours", folder)
                results.append({"size": size, "side": "hal", **hal})
                print(f"[bench_scale]   HAL assets on {hal['hal_runs']} runs: {hal['seconds']:.1f} s "
                      f"({'ok' if hal['success'] else 'FAILED'}; steps {hal['steps']}), peak RSS {hal['peak_rss_mb']:.0f} MB", flush=True)
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
    hal = [r for r in results if r["side"] == "hal"]
    if hal:
        print()
        print("| logs | HAL runs | HAL assets s | steps (s) | peak RSS MB |")
        print("|---|---|---|---|---|")
        for r in hal:
            print(f"| {r['size']} | {r['hal_runs']} | {r['seconds']:.1f} | {', '.join(f'{k} {v}' for k, v in r['steps'].items())} | {r['peak_rss_mb']:.0f} |")
        (args.out / "hal.json").write_text(json.dumps(hal, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
