"""Validation of request rows against feature specs."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.core.schema import ColumnSpec
from mlgate.serve.errors import RequestError
from mlgate.serve.validate import MAX_STRING_CHARS, Validator
from mlgate.serve.wire import shown

pytestmark = pytest.mark.unit

FEATURES = (
    ColumnSpec(name="x", kind="numeric"),
    ColumnSpec(name="n", kind="integer", required=True),
    ColumnSpec(name="b", kind="boolean", required=True),
    ColumnSpec(name="c", kind="categorical", categories=("a", "b"), closed=True),
)
V = Validator(FEATURES, max_rows=100)

valid_row = st.tuples(
    st.one_of(st.none(), st.floats(-1e30, 1e30), st.integers(-(2**40), 2**40)),
    st.integers(-1000, 1000),
    st.booleans(),
    st.sampled_from(["a", "b", None]),
).map(list)


@given(st.lists(valid_row, min_size=1, max_size=30))
def test_valid_rows_are_accepted_in_both_forms(rows: list[list[Any]]) -> None:
    """Lists and objects give the same columns; null becomes NaN or None."""
    a = V.from_lists(rows)
    b = V.from_dicts([dict(zip(V.names, r, strict=True)) for r in rows])
    assert a.rows == b.rows == len(rows)
    for name in V.names:
        np.testing.assert_array_equal(a.columns[name], b.columns[name])
    xs = [math.nan if r[0] is None else float(r[0]) for r in rows]
    np.testing.assert_array_equal(a.columns["x"], np.array(xs))


BAD_VALUES = st.one_of(
    # Not a string of number characters: "12" and "1e2" are numbers, sent as strings.
    st.text(max_size=3).filter(lambda s: re.fullmatch(r"[-+0-9.eE]*", s) is None),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@given(st.integers(0, 4), BAD_VALUES)
def test_a_wrong_type_is_a_422_naming_field_and_row(row: int, bad: Any) -> None:
    """A non-number in a number column is refused with its field and row."""
    rows = [[1.0, 1, True, "a"] for _ in range(5)]
    rows[row][1] = bad
    with pytest.raises(RequestError) as info:
        V.from_lists(rows)
    assert (info.value.status, info.value.field, info.value.row) == (422, "n", row)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ([1.0, None, True, "a"], "n"),  # null where not nullable
        ([1.0, 1.5, True, "a"], "n"),  # fraction for an integer
        ([math.inf, 1, True, "a"], "x"),  # infinity
        ([1e39, 1, True, "a"], "x"),  # beyond float32
        ([1.0, 1, 1, "a"], "b"),  # number for a boolean
        ([1.0, 1, None, "a"], "b"),
        ([1.0, 1, True, "z"], "c"),  # unseen category
        ([1.0, 1, True, 2.5], "c"),
        ([1.0, 10**400, True, "a"], "n"),  # too large for a float
    ],
)
def test_bad_values(row: list[Any], field: str) -> None:
    """Each bad value is a 422 naming the field."""
    with pytest.raises(RequestError) as info:
        V.from_lists([[0.0, 0, False, "b"], row])
    assert (info.value.status, info.value.field, info.value.row) == (422, field, 1)


def test_nan_is_missing_only_where_nullable() -> None:
    """NaN (from the NaN literal) is a missing value in a nullable column."""
    batch = V.from_lists([[math.nan, 1, True, None]])
    assert math.isnan(batch.columns["x"][0])
    assert batch.columns["c"][0] is None


def test_request_forms() -> None:
    """A flat features list is one row; a nested list is a batch; the row limit holds."""
    single = V.predict_request({"features": [1.0, 1, True, "a"]})
    assert single.single
    assert single.batch.rows == 1
    batch = V.predict_request({"features": [[1.0, 1, True, "a"]] * 3, "probabilities": True})
    assert not batch.single
    assert batch.batch.rows == 3
    assert batch.probabilities
    with pytest.raises(RequestError) as info:
        V.predict_request({"features": [[1.0, 1, True, "a"]] * 101})
    assert info.value.field == "features"


# -- strings: at most the documented length; other columns take scalars ----------------------

OPEN = (
    ColumnSpec(name="plan", kind="categorical"),
    ColumnSpec(name="day", kind="datetime", required=True),
)
SHORT = Validator(OPEN, max_rows=10, passthrough=["note"], id_column="note", max_string=10)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"plan": "x" * 11, "day": "2024-01-01"}, "plan"),  # all strings: the C-level check
        ({"plan": 12345678901, "day": "2024-01-01"}, "plan"),  # a code sent as a number
        ({"plan": None, "day": "2024-01-01T00:00:00"}, "day"),
        ({"plan": "a", "day": "2024-01-01", "note": "n" * 11}, "note"),
    ],
)
def test_a_string_over_the_limit_is_a_422_naming_it(row: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as err:
        SHORT.from_dicts([{"plan": "a", "day": "2024-01-02"}, row])
    assert (err.value.status, err.value.kind, err.value.field, err.value.row) == (
        422,
        "too_long",
        field,
        1,
    )
    assert "at most 10" in err.value.message


def test_the_default_limit_is_documented_and_holds() -> None:
    assert MAX_STRING_CHARS == 4096
    wide = Validator(OPEN, max_rows=10)
    wide.from_lists([["p" * 4096, "2024-01-01"]])
    with pytest.raises(RequestError, match="at most 4096"):
        wide.from_lists([["p" * 4097, "2024-01-01"]])


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}])
def test_another_column_of_the_training_file_takes_scalars_only(value: Any) -> None:
    with pytest.raises(RequestError) as err:
        SHORT.from_dicts([{"plan": "a", "day": "2024-01-01", "note": value}])
    assert (err.value.field, err.value.row) == ("note", 0)


def test_a_message_quotes_a_client_value_shortened() -> None:
    closed = Validator(
        (ColumnSpec(name="c", kind="categorical", categories=("a",), closed=True),), max_rows=5
    )
    with pytest.raises(RequestError) as err:
        closed.from_lists([["z" * 4000]])
    assert len(err.value.message) < 200
    with pytest.raises(RequestError) as unknown:
        closed.from_dicts([{"c": "a", "k" * 5000: 1}])
    assert unknown.value.field is not None
    assert len(unknown.value.field) <= 128
    assert len(unknown.value.message) < 200


# -- numbers sent as strings (a CSV reader's rows) -----------------------------------------------


@given(st.floats(allow_nan=False, allow_infinity=False, width=32), st.integers(-(2**53), 2**53))
def test_a_number_sent_as_its_json_text_reads_as_that_number(x: float, n: int) -> None:
    """`"3.5"` is 3.5 and `"42"` is 42: the same columns as the JSON numbers give."""
    as_numbers = V.from_lists([[x, n, True, "a"]])
    as_strings = V.from_lists([[json.dumps(x), str(n), True, "a"]])
    for name in V.names:
        np.testing.assert_array_equal(as_numbers.columns[name], as_strings.columns[name])


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("3,5", "x", "a JSON number"),
        (" 42", "x", "a JSON number"),
        ("42 ", "x", "a JSON number"),
        ("+1", "x", "a JSON number"),
        ("0x10", "x", "a JSON number"),
        ("nan", "x", "send null for a missing value"),
        ("", "x", "send null for a missing value"),
        ("1e999", "x", "too large"),
        ("1" * 100, "x", "a JSON number"),
    ],
)
def test_a_string_that_is_not_exactly_a_number_is_refused_with_the_fix(
    text: str, field: str, hint: str
) -> None:
    with pytest.raises(RequestError) as info:
        V.from_lists([[0.0, 0, False, "b"], [text, 1, True, "a"]])
    error = info.value
    assert (error.status, error.field, error.row) == (422, field, 1)
    assert shown(text) in error.message
    assert hint in error.message


def test_a_numeric_string_keeps_the_feature_s_other_rules() -> None:
    """An integer feature still takes whole numbers, a required one still needs a value."""
    for text, words in (("2.5", "must be an integer"), ("nan", "needs a value")):
        with pytest.raises(RequestError) as info:
            V.from_lists([[1.0, text, True, "a"]])
        assert info.value.field == "n"
        assert words in info.value.message


def test_a_regression_model_refuses_the_probabilities_flag() -> None:
    """The body's flag is a 422 and the query's a 400; a classifier takes both."""
    regressor = Validator(FEATURES, max_rows=10, classifier=False)
    row = {"features": [1.0, 1, True, "a"]}
    with pytest.raises(RequestError) as body:
        regressor.predict_request({**row, "probabilities": False})
    assert (body.value.status, body.value.field) == (422, "probabilities")
    with pytest.raises(RequestError) as query:
        regressor.predict_request(row, False)
    assert (query.value.status, query.value.kind) == (400, "unknown_parameter")
    assert "regression" in query.value.message
    assert not regressor.predict_request(row).probabilities
    assert V.predict_request({**row, "probabilities": False}, True).probabilities
