"""HiBayES's llm-as-a-judge examples q1-q5 end to end through `hibayes-full`, configs unchanged,
with their own sampler settings (NUTS, 4 chains x (1000 warmup + 2000 draws), target_accept 0.95).

Each example is laid out as in HiBayES's repository (`qN/files/config.yaml`, `qN/data/`, and the
custom files beside the example folders; ours are the test versions in `tests/hibayes_examples/`)
and run from its folder as its dvc.yaml does, each run a fresh process. Three runs per example:

- `no-agg`: identical rows NOT aggregated (`HIBAYES_FIT_OVERRIDE=aggregate_rows=false`), empty
  JAX compilation cache: the in-run baseline, close to the fit HiBayES does (but with our
  parallel chains and figures rendered once);
- `cold`: our defaults (identical rows sampled once with count weights), empty compilation cache;
- `warm`: our defaults again, with the compilation cache the cold run filled.

Printed per run: process wall time and CPU seconds (user + system), seconds per stage ([load]/[process]/[model]/[communicate]),
each model's fit time and divergences, peak RSS; the ratios cold/no-agg and the speed-up against
the original HiBayES's times on this machine kind as the issue reports them (q1 141 s and q2 367 s
with hibayes-full, q3 931 s in stages; none given for q4 and q5). Nothing is asserted.

    .venv/bin/python benchmarks/bench_hibayes_examples.py
    .venv/bin/python benchmarks/bench_hibayes_examples.py --examples q1 q3 --runs cold warm

At scale (issue 15's "q3-style ordinal analysis at 100k rows"): `--replicate 96` repeats q3's 1,048
rows 96 times (100,608 rows, the same 58 distinct ones), and `--fit-override samples=250,warmup=250`
keeps the unaggregated fits and their per-row predictive checks within minutes and memory:

    .venv/bin/python benchmarks/bench_hibayes_examples.py --examples q3 --replicate 96 \
        --fit-override samples=250,warmup=250 --runs no-agg cold
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "fixtures" / "hibayes" / "examples" / "llm-as-a-judge-usecases"
CUSTOM_FILES = ROOT / "tests" / "hibayes_examples"
EXAMPLES = ("q1", "q2", "q3", "q4", "q5")
RUNS = ("no-agg", "cold", "warm")
# Wall times of the original HiBayES on this machine kind, from the issue.
ORIGINAL_SECONDS = {"q1": 141.0, "q2": 367.0, "q3": 931.0}
STAGES = ("load", "process", "model", "communicate")


def lay_out(source: Path, target: Path, examples: list[str]) -> Path:
    root = target / "llm-as-a-judge-usecases"
    for example in examples:
        shutil.copytree(source / example, root / example, ignore=shutil.ignore_patterns(".output", "dvc.*"))
    for path in CUSTOM_FILES.glob("custom_*.py"):
        shutil.copy(path, root / path.name)
    return root


def replicate_rows(root: Path, examples: list[str], times: int) -> None:
    """Each example's data files repeated `times` times: the same distinct rows, `times` x the observations."""
    import pandas as pd

    for example in examples:
        for path in (root / example / "data").glob("*.csv"):
            frame = pd.read_csv(path)
            pd.concat([frame] * times, ignore_index=True).to_csv(path, index=False)


def run_example(folder: Path, home: Path, out: Path, aggregate: bool, fit_override: str = "") -> dict:
    env = {**os.environ, "HIBAYES_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    # This checkout's code, not whichever one the interpreter's editable install points at.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    overrides = [part for part in (fit_override, "" if aggregate else "aggregate_rows=false") if part]
    env.pop("HIBAYES_FIT_OVERRIDE", None)
    if overrides:
        env["HIBAYES_FIT_OVERRIDE"] = ",".join(overrides)
    command = [str(Path(sys.executable).parent / "hibayes-full"), "--config", "files/config.yaml", "--out", str(out), "--no-tui"]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # reaped here, for this process's own peak RSS
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{folder.name}: hibayes-full failed ({process.returncode}):\n{output[-3000:]}")
    stages = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\[(\w+)\] ([\d.]+)s", output, re.M)}
    fits = {m.group(1): float(m.group(2)) for m in re.finditer(r"^  (\S+): fitted in ([\d.]+)s", output, re.M)}
    divergences = {}
    for checks in sorted(out.glob("models/*/checks.json")):
        values = json.loads(checks.read_text())["checks"].get("divergences")
        divergences[checks.parent.name] = None if values is None else int(values["value"])
    cpu = usage.ru_utime + usage.ru_stime  # the process's own CPU time, which other workers on the machine do not inflate
    return {"wall": wall, "cpu_s": cpu, "stages": stages, "fits": fits, "divergences": divergences, "rss_mb": usage.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="HiBayES's llm-as-a-judge-usecases folder (default: %(default)s)")
    parser.add_argument("--examples", nargs="+", choices=EXAMPLES, default=list(EXAMPLES), help="which examples (default: all)")
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS), help="which runs (default: all; warm needs cold first)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--replicate", type=int, default=1, help="repeat each example's data rows this many times (default: 1)")
    parser.add_argument("--fit-override", default="", help="HIBAYES_FIT_OVERRIDE for every run, e.g. samples=250,warmup=250")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"HiBayES examples not found at {args.source}; pass --source", file=sys.stderr)
        return 2

    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_hibayes_") as tmp:
        root = lay_out(args.source, Path(tmp), args.examples)
        if args.replicate > 1:
            replicate_rows(root, args.examples, args.replicate)
        for example in args.examples:
            results[example] = {}
            for run in args.runs:
                home = Path(tmp) / "home" / ("no-agg" if run == "no-agg" else "ours")
                result = run_example(root / example, home, Path(tmp) / "out" / example / run, aggregate=run != "no-agg",
                                     fit_override=args.fit_override)
                results[example][run] = result
                print(_line(example, run, result, results[example]), flush=True)

    print()
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _line(example: str, run: str, result: dict, previous: dict) -> str:
    stages = " ".join(f"{s} {result['stages'].get(s, 0):.1f}" for s in STAGES)
    fits = ", ".join(f"{name} {seconds:.1f}s/{result['divergences'].get(name)} div" for name, seconds in result["fits"].items())
    return f"{example} {run:7s} wall {result['wall']:6.1f}s cpu {result['cpu_s']:6.1f}s | {stages} | rss {result['rss_mb']:.0f} MB | fits: {fits}"


def _table(results: dict[str, dict[str, dict]]) -> str:
    lines = [
        "| example | no-agg (s) | cold (s) | warm (s) | model stage cold (s) | cold vs no-agg | original HiBayES (s) | speed-up cold | speed-up warm |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for example, runs in results.items():
        wall = {run: runs[run]["wall"] for run in runs}
        original = ORIGINAL_SECONDS.get(example)

        def cell(value: float | None, fmt: str = "{:.1f}") -> str:
            return "n/a" if value is None else fmt.format(value)

        lines.append(
            f"| {example} | {cell(wall.get('no-agg'))} | {cell(wall.get('cold'))} | {cell(wall.get('warm'))} "
            f"| {cell(runs.get('cold', {}).get('stages', {}).get('model'))} "
            f"| {cell(wall['no-agg'] / wall['cold'] if 'no-agg' in wall and 'cold' in wall else None, '{:.2f}x')} "
            f"| {cell(original, '{:.0f}')} "
            f"| {cell(original / wall['cold'] if original and 'cold' in wall else None, '{:.1f}x')} "
            f"| {cell(original / wall['warm'] if original and 'warm' in wall else None, '{:.1f}x')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
