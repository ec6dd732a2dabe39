"""Turning Inspect score values of any type into one numeric column, without silent zeros.

Inspect scores may be letters (C/I/P/N), numbers, bools, numeric strings, dicts, lists, None or NaN
(the "unscored" sentinel), mixed in one column across logs. Each converts to a float where that is
meaningful; otherwise the numeric value is None and the kind says why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# Inspect's own conventions (inspect_ai.scorer: CORRECT, INCORRECT, PARTIAL, NOANSWER).
LETTER_VALUES = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
WORD_VALUES = {"correct": 1.0, "incorrect": 0.0, "yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0}


@dataclass(frozen=True)
class ConvertedScore:
    value: float | None
    kind: str  # letter | number | bool | string | dict | list | nan | null
    raw_json: str

    @property
    def is_problem(self) -> bool:
        """A value that should have been a score but could not be read as a number."""
        return self.value is None and self.kind == "string"


def convert_score(raw: Any) -> ConvertedScore:
    raw_json = json.dumps(raw, default=str)
    if raw is None:
        return ConvertedScore(None, "null", raw_json)
    if isinstance(raw, bool):  # before int: bool is an int subclass
        return ConvertedScore(1.0 if raw else 0.0, "bool", raw_json)
    if isinstance(raw, (int, float)):
        value = float(raw)
        if math.isnan(value):
            return ConvertedScore(None, "nan", raw_json)
        return ConvertedScore(value, "number", raw_json)
    if isinstance(raw, str):
        text = raw.strip()
        if text.upper() in LETTER_VALUES and len(text) == 1:
            return ConvertedScore(LETTER_VALUES[text.upper()], "letter", raw_json)
        if text.lower() in WORD_VALUES:
            return ConvertedScore(WORD_VALUES[text.lower()], "letter", raw_json)
        try:
            value = float(text)
        except ValueError:
            return ConvertedScore(None, "string", raw_json)
        return ConvertedScore(None if math.isnan(value) else value, "number", raw_json)
    if isinstance(raw, dict):
        return ConvertedScore(None, "dict", raw_json)
    if isinstance(raw, (list, tuple)):
        return ConvertedScore(None, "list", raw_json)
    return ConvertedScore(None, "string", raw_json)
