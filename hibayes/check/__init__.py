"""Checkers: pass / fail / NA / error for each model, before or after fitting; they prompt only
when a person can answer."""

from hibayes.check.checkers import (
    CHECKERS,
    Checker,
    CheckerResult,
    CheckOutcome,
    checker,
    checker_when,
    run_checker,
    run_checks,
)

__all__ = ["CHECKERS", "CheckOutcome", "Checker", "CheckerResult", "checker", "checker_when", "run_checker", "run_checks"]
