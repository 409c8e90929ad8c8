"""The OpenAPI description of a number feature says what the server reads: a JSON number, or a
string that is exactly one; the string patterns agree with `wire.number_of` on every string."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from mlgate.core.schema import ColumnSpec
from mlgate.serve.errors import RequestError
from mlgate.serve.schemas import INTEGER_STRING, NUMBER_STRING, value_schema
from mlgate.serve.wire import number_of

pytestmark = pytest.mark.unit

READ = ["3.5", "42", "-1e3", "0", "-0.25", "1E+2", "6.02e23", "-0"]
REFUSED = ["3,5", " 42", "42 ", "+1", "0x10", "01", "1.", ".5", "nan", "NA", "", "1e", "--1"]


def _reads(text: str) -> bool:
    try:
        number_of(text, nullable=True, field="x", row=0)
    except RequestError:
        return False
    return True


def test_a_number_feature_takes_a_number_or_a_string_holding_exactly_one() -> None:
    check = Draft202012Validator(value_schema(ColumnSpec(name="x", kind="numeric", required=True)))
    assert check.is_valid(3.5)
    for text in READ:
        assert check.is_valid(text), text
        assert _reads(text), text
    for text in REFUSED:
        assert not check.is_valid(text), text
        assert not _reads(text), text
    assert not check.is_valid(None)  # not nullable
    assert not check.is_valid(True)


def test_an_integer_feature_takes_digits_and_a_nullable_one_null() -> None:
    check = Draft202012Validator(value_schema(ColumnSpec(name="n", kind="integer")))
    assert check.is_valid(2)
    assert check.is_valid("42")
    assert check.is_valid(None)
    assert not check.is_valid("2.5")
    assert not check.is_valid(2.5)
    assert not check.is_valid("NA")


@given(st.from_regex(r"[-+0-9.eE, x]{0,12}", fullmatch=True))
def test_the_number_pattern_is_the_servers_reading(text: str) -> None:
    """A string matches the pattern exactly when the server reads it as a finite number."""
    matched = re.search(NUMBER_STRING, text) is not None
    too_large = matched and not math.isfinite(float(text))  # "1e999": a number, refused as such
    assert _reads(text) == (matched and not too_large)
    if re.search(INTEGER_STRING, text):
        assert _reads(text)
