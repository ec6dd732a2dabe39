import math

import pytest

from hibayes.load.scores import convert_score


@pytest.mark.parametrize(
    "raw, value, kind",
    [
        ("C", 1.0, "letter"),
        ("I", 0.0, "letter"),
        ("P", 0.5, "letter"),
        ("N", 0.0, "letter"),
        ("correct", 1.0, "letter"),
        (True, 1.0, "bool"),
        (False, 0.0, "bool"),
        (3, 3.0, "number"),
        (0.25, 0.25, "number"),
        ("0.75", 0.75, "number"),
        (float("nan"), None, "nan"),
        (None, None, "null"),
        ({"a": 1}, None, "dict"),
        ([1, 0], None, "list"),
        ("banana", None, "string"),
    ],
)
def test_every_inspect_score_type_converts_without_silent_zeros(raw, value, kind):
    converted = convert_score(raw)
    assert converted.kind == kind
    assert converted.value == value
    assert converted.is_problem == (kind == "string")


def test_raw_value_keeps_what_was_logged():
    assert convert_score({"a": 1.0}).raw_json == '{"a": 1.0}'
    assert convert_score(float("nan")).raw_json == "NaN"
    assert not math.isnan(convert_score(1).value)
