"""Ingest throughput: our ingest against `inspect_ai.analysis.samples_df`, in the same run.

Ours is what the `eval_samples` asset does: `read_logs` (header + sample summaries of every log
fetched concurrently through Inspect's own async readers, rows for evals/samples/scores/ingest_errors), then the
writes. A range run (the sensor's and the demo's way to ingest a folder) writes all its logs in one
DuckDB transaction (`Warehouse.replace_partitions`); a single-partition run pays one connection
and transaction per log (`replace_partition`). Both are timed from the same reads. The warehouse
is a fresh file for every repeat.

The baseline is the call HiBayES itself makes to load logs:
`samples_df(logs, columns=EvalInfo + EvalModel + SampleSummary)` on the same list of files, also
shown followed by writing its frame into a fresh DuckDB file (`CREATE TABLE ... AS SELECT * FROM df`).

Method:
- each side runs in its own worker process, started once; the worker imports everything and runs
  its operation once on the first log (warm-up) before any timing, so import and first-call costs
  are not counted;
- repeats are interleaved (ours, baseline, ours, baseline, ...) so that load drift on a shared
  machine hits both sides alike; the median of the repeats is reported;
- peak RSS is the worker's `resource.getrusage(RUSAGE_SELF).ru_maxrss` (a high-water mark of the
  whole worker process, imports included); the RSS after warm-up is shown for reference.

Nothing is asserted: the output is a table and the ratio ours / samples_df throughput.

    .venv/bin/python benchmarks/bench_ingest.py                 # example logs x 8 copies, 3 repeats
    .venv/bin/python benchmarks/bench_ingest.py --scale 1 --repeats 5
    .venv/bin/python benchmarks/bench_ingest.py --logs ~/my-logs --scale 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_LOGS = ROOT / "examples" / "logs"
DEFAULT_SCALE = 8
SIDES = ("ours", "samples_df")


# --------------------------------------------------------------------------------------------------
# Workers (one process per side). Protocol: one JSON line per reply on stdout; commands on stdin.
# --------------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _reply(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _ours_once(paths: list[Path], root: Path, database: Path) -> dict:
    """Read every log, then write them twice: as one range run does (all logs in one DuckDB
    transaction) and as single-partition runs do (one transaction and connection per log)."""
    from hibayes.load.inspect_reader import log_key_for, read_logs
    from hibayes.warehouse import Warehouse

    t0 = time.perf_counter()
    logs = read_logs({log_key_for(path, root): path for path in paths})
    t1 = time.perf_counter()
    counts = Warehouse(database).replace_partitions("log_key", {rows.log_key: rows.frames() for rows in logs})
    t2 = time.perf_counter()
    per_log = Warehouse(database.with_name(database.stem + "_per_log.duckdb"))
    for rows in logs:
        per_log.replace_partition("log_key", rows.log_key, rows.frames())
    t3 = time.perf_counter()
    read_s, write_s, write_each_s = t1 - t0, t2 - t1, t3 - t2
    rows = sum(c.get("samples", 0) for c in counts.values())
    return {"seconds": read_s + write_s, "read_s": read_s, "write_s": write_s, "write_each_s": write_each_s, "rows": rows}


def _samples_df_once(paths: list[Path], database: Path) -> dict:
    import duckdb
    from inspect_ai.analysis import EvalInfo, EvalModel, SampleSummary, samples_df

    started = time.perf_counter()
    frame = samples_df([str(p) for p in paths], columns=EvalInfo + EvalModel + SampleSummary, quiet=True)
    read_s = time.perf_counter() - started
    conn = duckdb.connect(str(database))
    try:
        conn.register("incoming", frame)
        conn.execute("CREATE TABLE samples AS SELECT * FROM incoming")
        conn.unregister("incoming")
    finally:
        conn.close()
    write_s = time.perf_counter() - started - read_s
    return {"seconds": read_s, "read_s": read_s, "write_s": write_s, "rows": len(frame), "columns": frame.shape[1]}


def worker(side: str, manifest: Path) -> None:
    spec = json.loads(manifest.read_text())
    paths = [Path(p) for p in spec["paths"]]
    root = Path(spec["root"])
    scratch = Path(spec["scratch"]) / side
    scratch.mkdir(parents=True, exist_ok=True)

    def run(tag: str, subset: list[Path]) -> dict:
        database = scratch / f"{tag}.duckdb"
        for leftover in scratch.glob(f"{tag}.duckdb*"):
            leftover.unlink()
        result = _ours_once(subset, root, database) if side == "ours" else _samples_df_once(subset, database)
        for leftover in scratch.glob(f"{tag}.duckdb*"):
            leftover.unlink()
        return result

    t0 = time.perf_counter()
    import duckdb  # noqa: F401
    import inspect_ai.analysis  # noqa: F401
    import inspect_ai.log  # noqa: F401
    import pandas  # noqa: F401

    import hibayes.load.inspect_reader  # noqa: F401
    import hibayes.warehouse  # noqa: F401

    import_s = time.perf_counter() - t0
    warm = run("warmup", paths[:1])  # first-call costs (lazy imports, pydantic schemas, DuckDB init)
    _reply({"ready": True, "import_s": import_s, "warmup_s": warm["seconds"], "rss_after_warmup_mb": _rss_mb()})
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command.startswith("run"):
            result = run(command.replace(" ", "_"), paths)
            result["peak_rss_mb"] = _rss_mb()
            _reply(result)
    _reply({"bye": True, "peak_rss_mb": _rss_mb()})


# --------------------------------------------------------------------------------------------------
# Orchestrator
# --------------------------------------------------------------------------------------------------


class Worker:
    def __init__(self, side: str, manifest: Path, log_file: Path):
        self.side = side
        self.stderr = log_file.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--_worker", side, "--_manifest", str(manifest)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            bufsize=1,
            cwd=str(ROOT),
        )
        self.log_file = log_file

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.stderr.flush()
            raise SystemExit(f"worker '{self.side}' died; its stderr:\n{self.log_file.read_text()[-4000:]}")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self) -> dict:
        reply = self.ask("quit")
        self.proc.wait(timeout=60)
        self.stderr.close()
        return reply


def prepare_logs(source: Path, scale: int, scratch: Path) -> tuple[Path, list[Path]]:
    """The log files to read: `source` itself when scale is 1, else `scale` copies under scratch.

    Each copy gets a fresh `eval_id` and fresh sample `uuid`s (read with `read_eval_log`, ids
    replaced, written with `write_eval_log`): `samples_df` keeps only the first log of each
    `eval_id` (and the first row of each sample uuid), so byte-for-byte copies would let it skip
    reading the summaries of every copy but the first.
    """
    import shortuuid
    from inspect_ai.log import read_eval_log, write_eval_log

    from hibayes.load.inspect_reader import list_log_files

    originals = list_log_files(source)
    if not originals:
        raise SystemExit(f"no .eval/.json logs under {source}")
    if scale <= 1:
        return source, originals
    root = scratch / "logs"
    copies: list[Path] = []
    started = time.perf_counter()
    for path in originals:
        try:
            log = read_eval_log(str(path))
        except Exception as err:  # not a readable log: copy it as it is (both sides will meet it)
            print(f"[bench_ingest]   {path.name}: copied unchanged ({type(err).__name__})", flush=True)
            log = None
        for i in range(scale):
            target = root / f"copy{i:03d}" / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            if log is None:
                shutil.copy2(path, target)
            else:
                log.eval.eval_id = shortuuid.uuid()
                for sample in log.samples or []:
                    sample.uuid = shortuuid.uuid()
                write_eval_log(log, str(target))
            copies.append(target)
    print(f"[bench_ingest] wrote {len(copies)} copies with fresh eval_id/sample uuids in {time.perf_counter() - started:.1f}s (not timed)", flush=True)
    return root, sorted(copies)


def fmt_row(cells: list[str], widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [fmt_row(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt_row([str(c) for c in r], widths) for r in rows]
    return "\n".join(lines)


def machine_note() -> str:
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Ingest throughput (samples/s) of our read_logs + Warehouse.replace_partitions "
        "against inspect_ai.analysis.samples_df(EvalInfo + EvalModel + SampleSummary) on the same "
        "logs, measured in the same run. Prints a table and the ratio ours / samples_df.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--logs", type=Path, default=DEFAULT_LOGS, help="folder of Inspect logs (.eval/.json), searched recursively")
    parser.add_argument(
        "--scale",
        type=int,
        default=DEFAULT_SCALE,
        help="read N copies of the logs (copied into a temp dir) so that fixed per-call costs do not dominate; 1 reads the folder in place",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per side (interleaved); the median is reported")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (copies, worker logs)")
    parser.add_argument("--_worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--_manifest", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._worker:
        worker(args._worker, args._manifest)
        return

    if args.repeats < 1 or args.scale < 1:
        parser.error("--repeats and --scale must be at least 1")
    started_at = datetime.now(timezone.utc)
    scratch = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        print(f"[bench_ingest] {started_at:%Y-%m-%d %H:%M UTC}; {machine_note()}", flush=True)
        if args.scale > 1:
            print(f"[bench_ingest] making {args.scale} copies of each log (fresh eval_id and sample uuids)...", flush=True)
        root, paths = prepare_logs(args.logs.resolve(), args.scale, scratch)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        print(f"[bench_ingest] {len(paths)} log files ({size_mb:.1f} MB) from {args.logs} x {args.scale}", flush=True)
        manifest = scratch / "manifest.json"
        manifest.write_text(json.dumps({"paths": [str(p) for p in paths], "root": str(root), "scratch": str(scratch / "work")}))

        workers = {}
        ready = {}
        for side in SIDES:  # started one after the other so imports never overlap a timed run
            print(f"[bench_ingest] starting worker '{side}' (imports + warm-up on 1 log, not timed)...", flush=True)
            workers[side] = Worker(side, manifest, scratch / f"{side}.stderr")
            ready[side] = workers[side].receive()
            print(
                f"[bench_ingest]   ready: imports {ready[side]['import_s']:.1f}s, warm-up {ready[side]['warmup_s']:.2f}s, "
                f"RSS {ready[side]['rss_after_warmup_mb']:.0f} MB",
                flush=True,
            )

        results: dict[str, list[dict]] = {side: [] for side in SIDES}
        for rep in range(args.repeats):
            order = SIDES if rep % 2 == 0 else tuple(reversed(SIDES))
            for side in order:
                result = workers[side].ask(f"run {rep}")
                results[side].append(result)
                if side == "ours":
                    detail = (f"(read_logs {result['read_s']:.2f}s + one transaction {result['write_s']:.2f}s; "
                              f"per-log transactions {result['write_each_s']:.2f}s)")
                else:
                    detail = f"(+ DuckDB write {result['write_s']:.2f}s)"
                print(
                    f"[bench_ingest] repeat {rep + 1}/{args.repeats} {side:<10} {result['rows']} rows in "
                    f"{result['seconds']:.2f}s {detail}",
                    flush=True,
                )
        final = {side: workers[side].close() for side in SIDES}
    finally:
        if not args.keep_temp:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"[bench_ingest] kept {scratch}")

    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in results[side])

    def spread(side: str, key: str) -> str:
        values = [r[key] for r in results[side]]
        return f"{min(values):.2f}–{max(values):.2f}"

    n_ours = results["ours"][0]["rows"]
    n_base = results["samples_df"][0]["rows"]
    ours_s = med("ours", "seconds")
    base_s = med("samples_df", "seconds")
    base_write = statistics.median(r["read_s"] + r["write_s"] for r in results["samples_df"])
    per_log_s = statistics.median(r["read_s"] + r["write_each_s"] for r in results["ours"])
    base_rate = n_base / base_s
    rows = [
        ["ours, range run: read_logs + one transaction", n_ours, f"{ours_s:.2f}", spread("ours", "seconds"), f"{n_ours / ours_s:,.0f}", f"{(n_ours / ours_s) / base_rate:.2f}", f"{final['ours']['peak_rss_mb']:.0f}"],
        ["  of which read_logs", n_ours, f"{med('ours', 'read_s'):.2f}", spread("ours", "read_s"), f"{n_ours / med('ours', 'read_s'):,.0f}", f"{(n_ours / med('ours', 'read_s')) / base_rate:.2f}", ""],
        ["  of which replace_partitions (one transaction)", n_ours, f"{med('ours', 'write_s'):.2f}", spread("ours", "write_s"), f"{n_ours / med('ours', 'write_s'):,.0f}", "", ""],
        ["ours, one run per log: read_logs + replace_partition", n_ours, f"{per_log_s:.2f}", "", f"{n_ours / per_log_s:,.0f}", f"{(n_ours / per_log_s) / base_rate:.2f}", ""],
        ["baseline: samples_df(EvalInfo+EvalModel+SampleSummary)", n_base, f"{base_s:.2f}", spread("samples_df", "seconds"), f"{n_base / base_s:,.0f}", "1.00", f"{final['samples_df']['peak_rss_mb']:.0f}"],
        ["samples_df + DuckDB CREATE TABLE AS", n_base, f"{base_write:.2f}", "", f"{n_base / base_write:,.0f}", f"{(n_base / base_write) / base_rate:.2f}", "(same)"],
    ]
    header = ["method", "samples", "median s", "min–max s", "samples/s", "× samples_df", "peak RSS MB"]
    print()
    print(f"Ingest of {len(paths)} logs ({args.logs} x {args.scale}), median of {args.repeats} interleaved repeats; "
          "imports and a one-log warm-up excluded.")
    print(table(header, rows))
    print()
    print(
        f"peak RSS: ru_maxrss of each worker process (imports included); after imports + warm-up it was "
        f"{ready['ours']['rss_after_warmup_mb']:.0f} MB (ours) and {ready['samples_df']['rss_after_warmup_mb']:.0f} MB (samples_df)."
    )
    if n_ours != n_base:
        print(f"note: row counts differ (ours {n_ours}, samples_df {n_base}); throughputs use each side's own count.")
    ratio = (n_ours / ours_s) / (n_base / base_s)
    ratio_w = (n_ours / ours_s) / (n_base / base_write)
    print(f"RATIO ours / samples_df throughput = {ratio:.2f}   (ours / samples_df+DuckDB = {ratio_w:.2f})")


if __name__ == "__main__":
    main()
