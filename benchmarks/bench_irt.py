"""Benchmark: IRT fit time and memory, NumPyro (hibayes.irt) against a plain NumPy/SciPy 2PL.

For each size (respondents x items) a 2PL data set is simulated (theta ~ N(0, 1),
log a ~ N(0, 0.3), b ~ N(0, 1)) and fitted by
  - jml:  hibayes.irt.baseline.fit_2pl_jml, penalised joint maximum likelihood, L-BFGS-B (NumPy/SciPy);
  - svi:  hibayes.irt.fit_irt, 2PL, AutoNormal SVI, `--steps` full-batch Adam steps, 200 posterior draws;
  - map:  hibayes.irt.fit_irt, 2PL, AutoDelta (MAP), `--steps` steps (with --methods ...,map).
Every fit runs in its own subprocess, so peak memory (VmHWM) is that fit's alone; "fit MB" is the
peak minus the resident size just before the fit (after imports and simulation). Wall time
includes JAX compilation (a few seconds, constant in the size). Quality columns compare with the
simulated truth: correlation of theta and b, and mean |P^ - P|.

With --routerdc it also runs the leave-one-model-out validation on the RouterDC MMLU fixture
(../shared/fixtures/routerdc relative to the repo root; 7 models, 6,213 questions, 100 anchors).

Examples:
  python benchmarks/bench_irt.py --quick
  python benchmarks/bench_irt.py --sizes 10x1000,100x10000,400x30000 --steps 1000
  python benchmarks/bench_irt.py --routerdc --no-fits
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ROUTERDC = REPO_ROOT / ".." / "shared" / "fixtures" / "routerdc"


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def worker(method: str, J: int, I: int, steps: int, seed: int) -> dict:
    """Simulate, fit once, and report time, memory and quality (runs in a subprocess)."""
    import numpy as np

    sys.path.insert(0, str(REPO_ROOT))
    from hibayes.irt.simulate import sigmoid, simulate_irt

    if method in ("svi", "map"):
        import jax
        import jax.numpy as jnp

        jnp.zeros(1).block_until_ready()  # JAX start-up is not part of the fit
        _ = jax.devices()
    sim = simulate_irt(J, I, seed=seed)
    rss_before = _rss_kb("VmRSS")
    t0 = time.perf_counter()
    if method == "jml":
        from hibayes.irt.baseline import fit_2pl_jml

        fit = fit_2pl_jml(sim.y)
        theta, a, b = fit.theta, fit.a, fit.b
        extra = {"iterations": fit.diagnostics["iterations"], "converged": fit.diagnostics["converged"]}
    else:
        from hibayes.irt.config import IRTConfig
        from hibayes.irt.models import fit_irt
        from hibayes.irt.responses import response_matrix_from_arrays

        rm = response_matrix_from_arrays(sim.y, validate=False)
        fit = fit_irt(rm, IRTConfig(fit_method=method, steps=steps, seed=seed, num_draws=200))
        theta, a, b = fit.theta[:, 0], fit.a[:, 0], fit.b
        extra = {"steps": steps, "rel_loss_change": fit.diagnostics.get("rel_loss_change")}
    wall = time.perf_counter() - t0
    peak = _rss_kb("VmHWM")
    p_hat = sigmoid(np.outer(theta, a) - b[None, :])
    return {
        "method": method, "J": J, "I": I, "wall_s": wall,
        "peak_mb": peak / 1024, "fit_mb": (peak - rss_before) / 1024,
        "corr_theta": float(np.corrcoef(theta, sim.theta[:, 0])[0, 1]),
        "corr_b": float(np.corrcoef(b, sim.b)[0, 1]),
        "corr_a": float(np.corrcoef(a, sim.a[:, 0])[0, 1]),
        "mean_abs_dp": float(np.abs(p_hat - sim.p).mean()),
        **extra,
    }


def run_one(method: str, J: int, I: int, steps: int, seed: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--J", str(J), "--I", str(I),
           "--steps", str(steps), "--seed", str(seed)]
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(REPO_ROOT))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"method": method, "J": J, "I": I, "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"method": method, "J": J, "I": I, "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


def print_fit_table(rows: list[dict]) -> None:
    base = {(r["J"], r["I"]): r for r in rows if r["method"] == "jml" and "error" not in r}
    head = ("| size (models x items) | fit | wall s | peak RSS MB | fit MB | time / jml | fit MB / jml "
            "| corr theta | corr b | corr a | mean abs dP |")
    print(head)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        size = f"{r['J']} x {r['I']:,}"
        if "error" in r:
            print(f"| {size} | {r['method']} | {r['error']} | | | | | | | | |")
            continue
        b = base.get((r["J"], r["I"]))
        t_ratio = f"{r['wall_s'] / b['wall_s']:.1f}" if b else "-"
        m_ratio = f"{r['fit_mb'] / max(b['fit_mb'], 1e-9):.1f}" if b else "-"
        label = r["method"] + (f" ({r['steps']} steps)" if "steps" in r else f" ({r.get('iterations')} it)")
        print(f"| {size} | {label} | {r['wall_s']:.1f} | {r['peak_mb']:.0f} | {r['fit_mb']:.0f} | {t_ratio} | "
              f"{m_ratio} | {r['corr_theta']:.3f} | {r['corr_b']:.3f} | {r['corr_a']:.3f} | {r['mean_abs_dp']:.4f} |")


def routerdc_validation(seeds: list[int], steps: int, method: str) -> None:
    if not (ROUTERDC / "mmlu_train.json").exists():
        print(f"RouterDC fixture not found at {ROUTERDC.resolve()}: skipped")
        return
    sys.path.insert(0, str(REPO_ROOT))
    import pandas as pd

    from hibayes.irt import IRTConfig, build_response_matrix, leave_one_model_out, read_routerdc, summarise_validation

    rm = build_response_matrix(read_routerdc([ROUTERDC / "mmlu_train.json", ROUTERDC / "mmlu_test.json"]),
                               IRTConfig(binarise="score > 0"))
    acc = rm.accuracy()
    print(f"RouterDC MMLU: {rm.shape[0]} models x {rm.shape[1]} items; true accuracies "
          f"{acc.min():.4f}-{acc.max():.4f} (sd {acc.std(ddof=1):.4f})")
    summaries = []
    for seed in seeds:
        cfg = IRTConfig(n_anchors=100, fit_method=method, steps=steps, num_draws=100, gp_bias="cv", seed=seed)
        t0 = time.perf_counter()
        res = leave_one_model_out(rm, cfg)
        s = summarise_validation(res)
        s["seed"] = seed
        summaries.append(s)
        print(f"seed {seed} ({time.perf_counter() - t0:.0f} s):")
        print(s.drop(columns="seed").round(4).to_markdown(index=False) if _has_tabulate() else s.round(4).to_string(index=False))
    all_s = pd.concat(summaries)
    mean = all_s.groupby("estimator", sort=False)[["mae", "rmse", "coverage"]].mean().reset_index()
    print(f"mean over seeds {seeds}:")
    print(mean.round(4).to_markdown(index=False) if _has_tabulate() else mean.round(4).to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401

        return True
    except ImportError:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (10x1000, 50x2000) and 300 steps: a smoke run")
    ap.add_argument("--sizes", default="10x1000,100x10000,400x30000",
                    help="comma-separated JxI sizes (default: %(default)s)")
    ap.add_argument("--methods", default="jml,svi", help="fits to run, of jml, svi, map (default: %(default)s)")
    ap.add_argument("--steps", type=int, default=1000, help="SVI / MAP steps (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per fit before it is abandoned")
    ap.add_argument("--no-fits", action="store_true", help="skip the timing table")
    ap.add_argument("--routerdc", action="store_true", help="also run leave-one-model-out on the RouterDC fixture")
    ap.add_argument("--routerdc-seeds", default="0,1,2")
    ap.add_argument("--routerdc-method", default="svi", choices=("svi", "map"))
    ap.add_argument("--worker", choices=("jml", "svi", "map"), help=argparse.SUPPRESS)
    ap.add_argument("--J", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--I", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.J, args.I, args.steps, args.seed)))
        return 0
    sizes = "10x1000,50x2000" if args.quick else args.sizes
    steps = 300 if args.quick and args.steps == 1000 else args.steps
    print(f"# bench_irt: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, steps={steps}, seed={args.seed}")
    if not args.no_fits:
        rows = []
        for size in sizes.split(","):
            J, I = (int(x) for x in size.lower().split("x"))
            for method in args.methods.split(","):
                r = run_one(method, J, I, steps, args.seed, args.timeout)
                rows.append(r)
                print(f"  done {method} {J}x{I}: " + (r.get("error") or f"{r['wall_s']:.1f} s, {r['fit_mb']:.0f} MB"),
                      file=sys.stderr, flush=True)
        print_fit_table(rows)
    if args.routerdc:
        seeds = [int(s) for s in args.routerdc_seeds.split(",")]
        routerdc_validation(seeds, steps if not args.quick else 300, args.routerdc_method)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
