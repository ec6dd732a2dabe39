"""Checkers. Each builder takes its YAML kwargs and returns
`inner(state: ModelAnalysisState, display) -> (ModelAnalysisState, "pass"|"fail"|"error"|"NA")`.

The built-ins also record a `CheckOutcome` (value and threshold), so that results are data: the
Dagster asset checks, the warehouse and the CLI all show the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from hibayes import idata as idata_api
from hibayes.analysis_state import ModelAnalysisState
from hibayes.registry import Registry, make_decorator

CheckerResult = Literal["pass", "fail", "error", "NA"]
Checker = Callable[[ModelAnalysisState, Any], tuple[ModelAnalysisState, CheckerResult]]
CHECKERS: Registry[Checker] = Registry("checker")
checker = make_decorator(CHECKERS)


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    status: CheckerResult
    value: float | None
    threshold: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _record(state: ModelAnalysisState, outcome: CheckOutcome) -> tuple[ModelAnalysisState, CheckerResult]:
    state.diagnostics.setdefault("checks", {})[outcome.name] = outcome
    state.add_diagnostic(outcome.name, outcome.value)
    return state, outcome.status


def run_checker(name: str, kwargs: dict[str, Any], state: ModelAnalysisState, display: Any = None) -> CheckOutcome:
    """Run one checker; any exception becomes an "error" outcome that says what went wrong."""
    try:
        state, status = CHECKERS.build(name, kwargs)(state, display)
    except Exception as err:
        return CheckOutcome(name, "error", None, None, f"{type(err).__name__}: {err}")
    recorded = state.diagnostics.get("checks", {}).get(name)
    return recorded or CheckOutcome(name, status, None, None, f"custom checker returned {status}")


def _varying(state: ModelAnalysisState) -> list[str]:
    return idata_api.varying_variables(state.inference_data)


@checker
def r_hat(threshold: float = 1.01) -> Checker:
    """Pass when every varying posterior variable has r_hat below `threshold`; constant sites
    (a dummy-coded reference level) are left out rather than failed."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        names = _varying(state)
        worst = idata_api.max_rhat(state.inference_data, names)
        status: CheckerResult = "pass" if worst < threshold else "fail"
        return _record(state, CheckOutcome("r_hat", status, worst, threshold, f"max r_hat {worst:.4f} (< {threshold} to pass)"))

    return inner


def _ess_checker(method: str) -> Callable[[float], Checker]:
    def build(threshold: float = 1000) -> Checker:
        def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
            lowest = idata_api.min_ess(state.inference_data, _varying(state), method)
            status: CheckerResult = "pass" if lowest > threshold else "fail"
            name = f"ess_{method}"
            return _record(state, CheckOutcome(name, status, lowest, threshold, f"min {name} {lowest:.0f} (> {threshold} to pass)"))

        return inner

    build.__name__ = f"ess_{method}"
    build.__doc__ = f"Pass when every varying posterior variable has ess_{method} above `threshold`."
    return build


ess_bulk = checker(_ess_checker("bulk"))
ess_tail = checker(_ess_checker("tail"))


@checker
def divergences(threshold: int = 0) -> Checker:
    """Pass when the number of divergent transitions is at most `threshold`."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        count = idata_api.divergences(state.inference_data)
        status: CheckerResult = "pass" if count <= threshold else "fail"
        return _record(state, CheckOutcome("divergences", status, float(count), float(threshold), f"{count} divergent transitions (<= {threshold} to pass)"))

    return inner


@checker
def bfmi(threshold: float = 0.20) -> Checker:
    """Pass when every chain's Bayesian fraction of missing information is at least `threshold`."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        if "energy" not in state.inference_data.sample_stats:
            return _record(state, CheckOutcome("bfmi", "NA", None, threshold, "no energy in sample_stats"))
        lowest = float(idata_api.bfmi(state.inference_data).min())
        status: CheckerResult = "pass" if lowest >= threshold else "fail"
        return _record(state, CheckOutcome("bfmi", status, lowest, threshold, f"min BFMI {lowest:.3f} (>= {threshold} to pass)"))

    return inner
