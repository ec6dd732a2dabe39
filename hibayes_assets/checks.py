"""Asset checks on each fit: one per built-in HiBayES checker that runs after fitting. r_hat and
divergences block by default (a fit that did not converge fails its run, and its analysis's report
is held back until it is refitted); HIBAYES_BLOCKING_CHECKS="r_hat,divergences,bfmi" changes which do. The others warn.
Checkers an analysis does not list are not run (their checks are skipped for that fit), except the
three that always run: r_hat, ess_bulk and divergences."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the checkers import ArviZ: not at definition load time
    from hibayes.check import CheckOutcome
from hibayes_assets.partitions import fit_partitions

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
        partitions_def=fit_partitions,
        description=f"HiBayES checker '{checker}' on the fit ({'blocks the report' if checker in blocking_checkers() else 'warns'}).",
    )
    for checker in AFTER_FIT_CHECKERS
]


def fit_check_results(outcomes: Iterable[CheckOutcome], partition: str) -> Iterator[dg.AssetCheckEvaluation]:
    """Check results for the built-in checkers, on the fit's own partition; custom checkers'
    outcomes stay in metadata."""
    blocking = blocking_checkers()
    for outcome in outcomes:
        if outcome.name not in AFTER_FIT_CHECKERS:
            continue
        yield dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("model_fit"),
            check_name=check_name(outcome.name),
            passed=outcome.status in ("pass", "NA"),
            severity=dg.AssetCheckSeverity.ERROR if outcome.name in blocking else dg.AssetCheckSeverity.WARN,
            description=outcome.message,
            blocking=outcome.name in blocking,
            partition=partition,
            metadata={
                "status": outcome.status,
                "value": outcome.value if outcome.value is not None else float("nan"),
                "threshold": outcome.threshold if outcome.threshold is not None else float("nan"),
            },
        )
