"""The HiBayES command line, with HiBayES's own command names and flags.

    hibayes-load    --config C --out D
    hibayes-process --config C --analysis-state D --out D2
    hibayes-model   --config C --analysis-state D --out D2
    hibayes-comm    --config C --analysis-state D --out D2
    hibayes-full    --config C --out D

and one `hibayes load|process|model|check|communicate|full` command with the same flags. Each stage
saves the analysis state to its `--out` folder (parquet, npz, NetCDF, PNG, CSV; no pickle), so the
next stage can start from it. Nothing prompts: there is no interactive terminal UI here.

`hibayes compare --config C --out D` compares the models pair by pair (`hibayes.comparisons`; the
config's optional `compare:` section): it loads, processes and fits as `full` does, or starts from
the fits of `--analysis-state` (the `--out` of `model` or `full`), and writes `comparisons.csv` and
`comparisons.png` to D and prints the headline.

Exit status: 0 when everything ran; 1 when a component (extractor, processor, checker,
communicator) failed, each failure named on stderr with its file and line (when an extractor,
checker or communicator failed, the others still ran and the state is saved); 2 for an error in
the command line, the config or the data. Every `path:` file must exist and import before any
log is read or model fitted. JAX's compiled programs are cached per user
(`hibayes.settings.user_cache_dir`), whichever folder the command runs in.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hibayes.plugins import ComponentError

STAGES = ("load", "process", "model", "check", "communicate", "full", "compare")
# HiBayES's separate console scripts, mapped onto the stages.
SCRIPTS = {
    "hibayes-load": "load",
    "hibayes-process": "process",
    "hibayes-model": "model",
    "hibayes-comm": "communicate",
    "hibayes-full": "full",
}


def build_parser(prog: str, stage: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="HiBayES analysis stages: load Inspect logs, process them into features, fit "
        "hierarchical NumPyro models with their checks, and communicate the results.",
    )
    if stage is None:
        parser.add_argument(
            "stage", choices=STAGES,
            help="which stage to run ('full' runs them all; 'compare' compares the models pair by pair, "
            "after load, process and model unless --analysis-state has the fits)",
        )
    parser.add_argument("--config", type=Path, required=True, help="the analysis YAML (HiBayES format)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the analysis state and outputs to")
    parser.add_argument(
        "--analysis-state",
        type=Path,
        help="folder of a state saved by an earlier stage (required for process, model, check, communicate; "
        "for compare, the fits to use)",
    )
    parser.add_argument("--no-tui", action="store_true", help="accepted for HiBayES compatibility; there is no TUI")
    parser.add_argument(
        "--no-frequent-save", action="store_true", help="accepted for HiBayES compatibility; the state is saved once per stage"
    )
    return parser


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    prog = prog or Path(sys.argv[0]).name
    stage = SCRIPTS.get(prog)
    args = build_parser(prog, stage).parse_args(argv)
    stage = stage or args.stage
    # Stages report through their own printed lines; libraries (JAX, ArviZ) only speak up for problems.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        failures = run_stage(stage, args.config, args.out, args.analysis_state)
    except (ValueError, KeyError, FileNotFoundError, ImportError, TypeError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except ComponentError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    for failure in failures:
        print(f"{prog}: error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def run_stage(stage: str, config_path: Path, out: Path, state_dir: Path | None) -> list[str]:
    """Run `stage`, save the state to `out`, and return what failed on the way (`state.failures`)."""
    from hibayes.config import check_component_names, fit_override, load_analysis
    from hibayes.model.platform import configure_host_devices

    config = load_analysis(config_path)
    override = fit_override()
    if override:
        print(f"HIBAYES_FIT_OVERRIDE: every model's fit settings overridden with {override}")
    configure_host_devices(config.platform.num_devices or max(spec.fit.chains for spec in config.models))

    from hibayes import analysis
    from hibayes.model.platform import enable_compilation_cache
    from hibayes.settings import user_cache_dir
    from hibayes.state_io import load_state, save_state

    # Every stage's custom files, before anything is read or fitted: a wrong communicator path
    # would otherwise be found only after the fits. Saved models are rebuilt from the registries.
    analysis.import_custom_code(config)
    # Now that the custom files have registered their names, every checker and communicator the
    # config names is known (parsing could check only the stages without custom files).
    check_component_names(config)
    # Per user, not in the folder the command runs in: every project shares the compiled samplers.
    enable_compilation_cache(user_cache_dir() / "jax")
    analysis.validate(config)
    steps: dict[str, Callable] = {
        "process": analysis.process_data,
        "model": analysis.model,
        "check": analysis.model_checks,
        "communicate": analysis.communicate,
    }
    plans = {
        "full": ["load", "process", "model", "communicate"],
        "compare": ["load", "process", "model"] if state_dir is None else [],  # else the saved state's fits
    }
    plan = plans.get(stage, [stage])
    if plan and plan[0] == "load":
        state = None
    elif state_dir is None:
        raise ValueError(f"'{stage}' needs --analysis-state, the --out folder of an earlier stage")
    else:
        state = load_state(state_dir)
    for step in plan:
        started = time.perf_counter()
        logged = len(state.logs) if state is not None else 0
        state = analysis.load_data(config) if step == "load" else steps[step](config, state)
        _report(step, state, time.perf_counter() - started, logged)
        if step == "load" and stage == "compare":
            analysis.check_comparable(config, state.data)  # a wrong column or contrast, before any fit
    if stage == "compare":
        _compare(config, state, out)
        return state.failures
    save_state(state, out)
    print(f"saved the analysis state to {out}")
    return state.failures


def _compare(config, state, out: Path) -> None:
    """The comparisons table and plot into `out`, and what a reader needs to know on stdout."""
    from hibayes import analysis

    started = time.perf_counter()
    result = analysis.comparisons(config, state)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "comparisons.csv", index=False)
    result.figure(title=config.name).savefig(out / "comparisons.png", dpi=110, bbox_inches="tight")
    print(f"[compare] {time.perf_counter() - started:.1f}s")
    print(f"  {len(result.table)} pairs on {result.rows}")
    print(f"  posterior: {result.posterior}")
    print(f"  wrote {out / 'comparisons.csv'} and {out / 'comparisons.png'}")
    print(result.headline or "no pair of models to compare")


def _report(step: str, state, seconds: float, logged: int) -> None:
    print(f"[{step}] {seconds:.1f}s")
    for _, entry in state.logs[logged:]:
        print(f"  {entry}")
    if step in ("model", "check"):
        for fitted in state.models:
            checks = ", ".join(f"{name} {getattr(o, 'status', o)}" for name, o in fitted.checks.items())
            print(f"  {fitted.model_name}: {checks or 'no checks'}")


def script(name: str) -> Callable[[], int]:
    def entry() -> int:
        return main(prog=name)

    return entry


hibayes_load = script("hibayes-load")
hibayes_process = script("hibayes-process")
hibayes_model = script("hibayes-model")
hibayes_comm = script("hibayes-comm")
hibayes_full = script("hibayes-full")

if __name__ == "__main__":
    sys.exit(main())
