"""Asset checks on an analysis's fits (`model_fit`, one partition per analysis): one per built-in
HiBayES checker that runs after fitting, passed when every model of the analysis passes it, its text
naming each model that does not. r_hat and divergences block by default (a fit that did not converge
holds its analysis's report back until it is refitted, and fails the run);
HIBAYES_BLOCKING_CHECKS="r_hat,divergences,bfmi" changes which do. The others warn. Checkers an
analysis does not list are not run (no result is recorded for them), except the three that always
run: r_hat, ess_bulk and divergences."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the checkers import ArviZ: not at definition load time
    from hibayes.check import CheckOutcome
from hibayes_assets.partitions import analysis_partitions

AFTER_FIT_CHECKERS = ("r_hat", "ess_bulk", "ess_tail", "divergences", "bfmi", "loo", "waic", "posterior_predictive_plot")
ALWAYS_RUN = ("r_hat", "ess_bulk", "divergences")
DEFAULT_BLOCKING = "r_hat,divergences"


def blocking_checkers() -> tuple[str, ...]:
    """The checkers whose failure holds a report back (HIBAYES_BLOCKING_CHECKS, read when a run
    starts; an empty value blocks nothing)."""
    value = os.environ.get("HIBAYES_BLOCKING_CHECKS", DEFAULT_BLOCKING)
    return tuple(name.strip() for name in value.split(",") if name.strip())


def check_name(checker: str) -> str:
    return f"check_{checker}"


FIT_CHECK_SPECS = [
    dg.AssetCheckSpec(
        check_name(checker),
        asset="model_fit",
        blocking=checker in blocking_checkers(),  # the code location's view, for Dagster's in-run gating
        partitions_def=analysis_partitions,
        description=f"HiBayES checker '{checker}' on every fit of the analysis "
        f"({'blocks the report' if checker in blocking_checkers() else 'warns'}).",
    )
    for checker in AFTER_FIT_CHECKERS
]


def fit_check_results(outcomes: dict[str, list[CheckOutcome]], partition: str) -> Iterator[dg.AssetCheckEvaluation]:
    """Check results for the built-in checkers on the analysis's partition, one per checker that ran
    on any of its models (`outcomes`: model -> its outcomes), failed when one model fails it; custom
    checkers' outcomes stay in metadata."""
    blocking = blocking_checkers()
    by_checker: dict[str, dict[str, CheckOutcome]] = {}
    for model, model_outcomes in outcomes.items():
        for outcome in model_outcomes:
            if outcome.name in AFTER_FIT_CHECKERS:
                by_checker.setdefault(outcome.name, {})[model] = outcome
    for checker, per_model in by_checker.items():
        failed = {model: o for model, o in per_model.items() if o.status not in ("pass", "NA")}
        shown = failed or per_model
        yield dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("model_fit"),
            check_name=check_name(checker),
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if checker in blocking else dg.AssetCheckSeverity.WARN,
            description=(f"{len(failed)} of {len(per_model)} models: " if failed else f"all {len(per_model)} models: ")
            + "; ".join(f"{model}: {o.status}, {o.message}" for model, o in shown.items()),
            blocking=checker in blocking,
            partition=partition,
            metadata={
                "models": dg.MetadataValue.json(
                    {model: {"status": o.status, "value": o.value, "threshold": o.threshold} for model, o in per_model.items()}
                ),
            },
        )
