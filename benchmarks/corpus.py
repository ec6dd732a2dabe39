"""A synthetic Inspect corpus of any size, from a known generative truth, written by inspect_ai's own
writer: the scale benchmarks' input (issue 15). Nothing calls a model: each log is an `EvalLog`
built from a real template log (`examples/logs`, written by inspect_ai) and saved with
`write_eval_log`, so ten thousand logs take minutes.

The truth (also written to `<folder>_truth.json`):
- models m = 1..M with ability theta_m ~ N(0, 1), scaffolds k with effect s_k ~ N(0, 0.5);
- tasks t = 1..T, each with `samples_per_log` items j carrying 2PL parameters
  a_j ~ LogNormal(0, 0.3) and b_j ~ N(0, 1) (so IRT has model x item interaction to find);
- P(correct) = sigmoid(a_j (theta_m + s_k - b_j)): the `match` scorer's C/I;
- a `judge` scorer's 0..10 rating: round(10 sigmoid(theta_m + s_k - b_j + N(0, 0.5)));
- token usage and working time per sample from per-model verbosity and speed;
- about `error_rate` of samples errored (no scores, an `error`), every `cancel_every`-th log
  cancelled halfway, and every `copy_every`-th log also saved under a second name (a copy: the
  ingest must count it once).

Logs walk the (model, task, scaffold) grid in a seeded order; past the grid, epochs repeat it.

    .venv/bin/python benchmarks/corpus.py /tmp/corpus --logs 10000 --samples-per-log 100
    .venv/bin/python benchmarks/corpus.py /tmp/corpus-json --logs 100 --format json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = next(iter(sorted((ROOT / "examples" / "logs").glob("*arithmetic*.eval"))), None)
SCAFFOLDS = ("generalist", "specialist", "react")
EPOCH_ZERO = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class CorpusSpec:
    logs: int = 1000
    samples_per_log: int = 100
    seed: int = 0
    models: int = 100
    tasks: int = 50
    scaffolds: int = 2
    error_rate: float = 0.01
    cancel_every: int = 250
    copy_every: int = 500
    format: str = "eval"  # or "json"


@dataclass(frozen=True)
class LogPlan:
    index: int
    model: int
    task: int
    scaffold: int
    epoch: int
    cancelled: bool
    copied: bool

    def file_name(self, spec: CorpusSpec, copy: bool = False) -> str:
        created = (EPOCH_ZERO + timedelta(seconds=self.index)).strftime("%Y-%m-%dT%H-%M-%S+00-00")
        suffix = "copy" if copy else "orig"
        return f"{created}_task{self.task:03d}_{self.index:06d}{suffix}.{spec.format}"


@dataclass
class Truth:
    theta: np.ndarray  # (models,)
    scaffold_effect: np.ndarray  # (scaffolds,)
    discrimination: np.ndarray  # (tasks, items)
    difficulty: np.ndarray  # (tasks, items)
    verbosity: np.ndarray  # (models,) mean output tokens
    speed: np.ndarray  # (models,) mean seconds per sample

    @classmethod
    def draw(cls, spec: CorpusSpec) -> Truth:
        rng = np.random.default_rng(spec.seed)
        return cls(
            theta=rng.normal(0, 1, spec.models),
            scaffold_effect=rng.normal(0, 0.5, spec.scaffolds),
            discrimination=rng.lognormal(0, 0.3, (spec.tasks, spec.samples_per_log)),
            difficulty=rng.normal(0, 1, (spec.tasks, spec.samples_per_log)),
            verbosity=rng.uniform(50, 400, spec.models),
            speed=rng.uniform(0.5, 5.0, spec.models),
        )

    def p_correct(self, plan: LogPlan) -> np.ndarray:
        skill = self.theta[plan.model] + self.scaffold_effect[plan.scaffold]
        logit = self.discrimination[plan.task] * (skill - self.difficulty[plan.task])
        return 1 / (1 + np.exp(-logit))

    def as_json(self) -> dict:
        return {name: value.round(6).tolist() for name, value in asdict(self).items()}


def log_plans(spec: CorpusSpec) -> list[LogPlan]:
    rng = np.random.default_rng(spec.seed + 1)
    grid = [(m, t, k) for m in range(spec.models) for t in range(spec.tasks) for k in range(spec.scaffolds)]
    order = rng.permutation(len(grid))
    plans = []
    for index in range(spec.logs):
        model, task, scaffold = grid[order[index % len(grid)]]
        plans.append(LogPlan(
            index=index, model=model, task=task, scaffold=scaffold, epoch=1 + index // len(grid),
            cancelled=spec.cancel_every > 0 and index % spec.cancel_every == spec.cancel_every - 1,
            copied=spec.copy_every > 0 and index % spec.copy_every == spec.copy_every // 2,
        ))
    return plans


def model_name(model: int) -> str:
    return f"mockllm/model{model:03d}"


# ------------------------------------------------------------------------------------------------
# Writing (in worker processes: each builds its template once)
# ------------------------------------------------------------------------------------------------

_TEMPLATE_LOG = None


def _template():
    global _TEMPLATE_LOG
    if _TEMPLATE_LOG is None:
        from inspect_ai.log import read_eval_log

        if TEMPLATE is None:
            raise FileNotFoundError(f"no template log: examples/logs/*arithmetic*.eval is missing under {ROOT}")
        log = read_eval_log(str(TEMPLATE))
        _TEMPLATE_LOG = log.model_copy(update={"samples": [log.samples[0].model_copy(update={"events": []})]})
    return _TEMPLATE_LOG


def build_log(spec: CorpusSpec, truth: Truth, plan: LogPlan):
    """The `EvalLog` of one plan: its samples drawn from the truth with a per-log seed."""
    from inspect_ai.log import EvalError, EvalResults, EvalScore, EvalMetric, EvalStats
    from inspect_ai.model import ModelUsage
    from inspect_ai.scorer import Score

    template = _template()
    rng = np.random.default_rng([spec.seed, plan.index])
    name = model_name(plan.model)
    task = f"task{plan.task:03d}"
    n = spec.samples_per_log // 2 if plan.cancelled else spec.samples_per_log
    p = truth.p_correct(plan)[:n]
    correct = rng.random(n) < p
    skill = truth.theta[plan.model] + truth.scaffold_effect[plan.scaffold]
    rating = np.rint(10 / (1 + np.exp(-(skill - truth.difficulty[plan.task][:n] + rng.normal(0, 0.5, n))))).astype(int)
    errored = rng.random(n) < spec.error_rate
    output_tokens = rng.poisson(truth.verbosity[plan.model], n)
    seconds = rng.lognormal(math.log(truth.speed[plan.model]), 0.4, n)
    started = EPOCH_ZERO + timedelta(seconds=plan.index)
    sample0 = template.samples[0]
    samples = []
    for j in range(n):
        usage = ModelUsage(input_tokens=40 + j % 17, output_tokens=int(output_tokens[j]), total_tokens=40 + j % 17 + int(output_tokens[j]))
        scores = {} if errored[j] else {
            "match": Score(value="C" if correct[j] else "I", answer=str(int(correct[j]))),
            "judge": Score(value=int(rating[j])),
        }
        samples.append(sample0.model_copy(update={
            "id": j + 1, "epoch": plan.epoch, "input": f"{task} item {j + 1}", "target": "1",
            "scores": scores, "metadata": {"item": f"{task}/{j + 1}", "difficulty_band": _band(truth.difficulty[plan.task][j])},
            "model_usage": {name: usage}, "total_time": round(float(seconds[j]) * 1.05, 3),
            "working_time": round(float(seconds[j]), 3), "uuid": f"s{spec.seed}-{plan.index}-{j}",
            "error": EvalError(message="RuntimeError: synthetic failure", traceback="", traceback_ansi="") if errored[j] else None,
            "started_at": None, "completed_at": None,
        }))
    scored = int((~errored).sum())
    accuracy = float(correct[~errored].mean()) if scored else 0.0
    results = EvalResults(total_samples=n, completed_samples=n, scores=[
        EvalScore(name="match", scorer="match", scored_samples=scored, unscored_samples=n - scored,
                  metrics={"accuracy": EvalMetric(name="accuracy", value=accuracy)}),
        EvalScore(name="judge", scorer="judge", scored_samples=scored, unscored_samples=n - scored,
                  metrics={"mean": EvalMetric(name="mean", value=float(rating[~errored].mean()) if scored else 0.0)}),
    ])
    total_output = int(output_tokens.sum())
    stats = EvalStats(
        started_at=started.isoformat(), completed_at=(started + timedelta(seconds=float(seconds.sum()))).isoformat(),
        model_usage={name: ModelUsage(input_tokens=40 * n, output_tokens=total_output, total_tokens=40 * n + total_output)},
    )
    eval_spec = template.eval.model_copy(update={
        "eval_id": f"e{spec.seed}-{plan.index}", "run_id": f"r{spec.seed}-{plan.index}", "task": task,
        "task_id": f"t{spec.seed}-{plan.task}", "model": name, "created": started.isoformat(),
        "metadata": {"scaffold": SCAFFOLDS[plan.scaffold]},
        "dataset": template.eval.dataset.model_copy(update={"name": task, "samples": spec.samples_per_log, "sample_ids": list(range(1, n + 1))}),
    })
    return template.model_copy(update={
        "eval": eval_spec, "status": "cancelled" if plan.cancelled else "success", "results": results,
        "stats": stats, "samples": samples, "reductions": None, "location": "",
    })


def _band(difficulty: float) -> str:
    return "easy" if difficulty < -0.5 else "hard" if difficulty > 0.5 else "medium"


def write_batch(spec: CorpusSpec, plans: list[LogPlan], folder: str) -> int:
    import inspect_ai._util.zipfile as inspect_zipfile
    from inspect_ai.log import write_eval_log

    truth = Truth.draw(spec)
    # The writer gives every zip member a 12-thread zstd compressor: 1.4 ms of thread start-up per
    # sample, 60% of the writing time. One thread writes the same zstd frames; processes parallelise.
    threads, inspect_zipfile._ZSTD_THREADS = inspect_zipfile._ZSTD_THREADS, 0
    try:
        for plan in plans:
            path = Path(folder) / plan.file_name(spec)
            write_eval_log(build_log(spec, truth, plan), str(path), format=spec.format)
            if plan.copied:
                shutil.copyfile(path, Path(folder) / plan.file_name(spec, copy=True))
    finally:
        inspect_zipfile._ZSTD_THREADS = threads
    return len(plans)


def _written(spec: CorpusSpec, batches: list[list[LogPlan]], folder: Path, workers: int) -> Iterator[int]:
    """Logs written per batch: in this process with one worker, else in spawned processes (not
    forked: a caller with threads, a test process after Dagster's, must not be forked)."""
    arguments = ([spec] * len(batches), batches, [str(folder)] * len(batches))
    if workers == 1:
        yield from map(write_batch, *arguments)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(write_batch, *arguments)


def generate(spec: CorpusSpec, folder: Path, workers: int | None = None, progress: bool = False) -> dict:
    """Write the corpus into `folder` (created) and its truth beside it, in `<folder>_truth.json`
    (outside the folder, so the log folder holds logs only); returns what that file holds."""
    os.environ.setdefault("INSPECT_USE_ZSTD", "1")  # older inspect_ai; 0.3.206+ always writes zstd
    folder.mkdir(parents=True, exist_ok=True)
    plans = log_plans(spec)
    workers = workers or min(os.cpu_count() or 1, 8)
    batches = [plans[i : i + 50] for i in range(0, len(plans), 50)]
    started, done = time.perf_counter(), 0
    for written in _written(spec, batches, folder, workers):
        done += written
        if progress:
            print(f"\r{done}/{len(plans)} logs", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    truth = Truth.draw(spec)
    summary = {
        "spec": asdict(spec), "seconds": round(time.perf_counter() - started, 1),
        "truth": truth.as_json(), "scaffolds": list(SCAFFOLDS[: spec.scaffolds]),
        "logs": [{**asdict(plan), "file": plan.file_name(spec), "model_name": model_name(plan.model)} for plan in plans],
    }
    (folder.parent / f"{folder.name}_truth.json").write_text(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="where the logs go (created); the truth goes to <folder>_truth.json")
    parser.add_argument("--logs", type=int, default=CorpusSpec.logs)
    parser.add_argument("--samples-per-log", type=int, default=CorpusSpec.samples_per_log)
    parser.add_argument("--seed", type=int, default=CorpusSpec.seed)
    parser.add_argument("--models", type=int, default=CorpusSpec.models)
    parser.add_argument("--tasks", type=int, default=CorpusSpec.tasks)
    parser.add_argument("--format", choices=("eval", "json"), default="eval")
    parser.add_argument("--workers", type=int, default=None, help="writer processes (default: the CPU count)")
    args = parser.parse_args(argv)
    spec = CorpusSpec(logs=args.logs, samples_per_log=args.samples_per_log, seed=args.seed, models=args.models,
                      tasks=args.tasks, format=args.format)
    summary = generate(spec, args.folder, args.workers, progress=sys.stderr.isatty())
    size = sum(p.stat().st_size for p in args.folder.iterdir())
    print(f"{len(summary['logs'])} logs ({spec.logs * spec.samples_per_log} samples planned), "
          f"{size / 1e6:.0f} MB in {args.folder}, {summary['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
