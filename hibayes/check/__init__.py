"""Checkers: pass / fail / NA / error for each fitted model; never prompts."""

from hibayes.check.checkers import CHECKERS, Checker, CheckerResult, CheckOutcome, checker, run_checker

__all__ = ["CHECKERS", "CheckOutcome", "Checker", "CheckerResult", "checker", "run_checker"]
