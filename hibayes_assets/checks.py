"""Asset checks on each fit: r_hat, ess_bulk, divergences. r_hat and divergences are blocking, so
a fit that did not converge stops its analysis report in the same run; ESS only warns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import dagster as dg

from hibayes.check import CheckOutcome
from hibayes_assets.partitions import fit_partitions

# checker name -> (asset check name, blocking)
FIT_CHECKS = {
    "r_hat": ("check_r_hat", True),
    "ess_bulk": ("check_ess_bulk", False),
    "divergences": ("check_divergences", True),
}

FIT_CHECK_SPECS = [
    dg.AssetCheckSpec(
        check_name,
        asset="model_fit",
        blocking=blocking,
        partitions_def=fit_partitions,
        description=f"HiBayES checker '{checker}' on the fit ({'blocks the report' if blocking else 'warns'}).",
    )
    for checker, (check_name, blocking) in FIT_CHECKS.items()
]


def fit_check_results(outcomes: Iterable[CheckOutcome]) -> Iterator[dg.AssetCheckResult]:
    for outcome in outcomes:
        check_name, blocking = FIT_CHECKS[outcome.name]
        yield dg.AssetCheckResult(
            asset_key="model_fit",
            check_name=check_name,
            passed=outcome.status in ("pass", "NA"),
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            description=outcome.message,
            metadata={
                "status": outcome.status,
                "value": outcome.value if outcome.value is not None else float("nan"),
                "threshold": outcome.threshold if outcome.threshold is not None else float("nan"),
            },
        )
