"""Schema checks of a frame (pandera): every violation names the column, the rule and values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.core.infer import infer_schema
from mlgate.core.schema import ColumnSpec, Schema
from mlgate.core.schemacheck import (
    MAX_EXAMPLES,
    Violation,
    check_schema,
    distinct_examples,
    pandera_schema,
    quoted,
)
from tests.unit.core.test_validate import make_frame, strict

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def inferred() -> Schema:
    """The schema inferred from the data gate's reference sample."""
    return infer_schema(make_frame(20_000, seed=1), target="churn", drop=["customer"])


def _names(violations: list[Violation], check: str) -> list[str | None]:
    return [v.column for v in violations if v.check == check]


def test_each_violation_kind_names_the_column_and_the_value(
    inferred: Schema,
) -> None:
    schema = strict(inferred)
    frame = make_frame(300, seed=4)
    frame = frame.drop(columns=["region"])
    frame["coupon"] = "x"
    frame.loc[5, "age"] = 1000
    frame.loc[6, "age"] = -3  # bounds are wide (up to 3x the maximum), but never below zero
    frame.loc[7, "channel"] = "fax"
    frame.loc[[8, 9, 10], "visits"] = np.nan
    frame["score"] = frame["score"].astype("str")
    frame.loc[11, "score"] = "n/a"

    violations = check_schema(frame, schema)
    by_check = {v.check: v for v in violations}
    assert set(by_check) == {
        "missing_column",
        "extra_column",
        "type",
        "range",
        "category",
        "nullable",
    }

    assert _names(violations, "missing_column") == ["region"]
    assert "'region'" in by_check["missing_column"].message
    assert _names(violations, "extra_column") == ["coupon"]
    assert "'coupon'" in by_check["extra_column"].message

    wrong_type = by_check["type"]
    assert (wrong_type.column, wrong_type.count, wrong_type.examples) == ("score", 1, ("n/a",))
    assert "'score'" in wrong_type.message
    assert "'n/a'" in wrong_type.message

    out_of_range = by_check["range"]
    assert (out_of_range.column, out_of_range.count) == ("age", 2)
    assert set(out_of_range.examples) == {"1000", "-3"}
    assert "'age'" in out_of_range.message
    assert "1000" in out_of_range.message
    assert "observed min -3, max 1000" in out_of_range.message
    assert "[0, 237]" in out_of_range.message

    unseen = by_check["category"]
    assert (unseen.column, unseen.count, unseen.examples) == ("channel", 1, ("fax",))
    assert "'fax'" in unseen.message
    assert "'web'" in unseen.message

    nulls = by_check["nullable"]
    assert (nulls.column, nulls.count) == ("visits", 3)
    assert "'visits'" in nulls.message
    assert "3 null" in nulls.message


def test_integer_feature_read_as_float_must_hold_whole_numbers(
    inferred: Schema,
) -> None:
    schema = inferred
    frame = make_frame(50, seed=5)
    frame["age"] = frame["age"].astype("float64")
    assert check_schema(frame, schema) == []
    frame.loc[0, "age"] = 30.5
    (violation,) = check_schema(frame, schema)
    assert (violation.column, violation.check, violation.examples) == ("age", "type", ("30.5",))


def test_categorical_codes_read_as_numbers_are_checked_as_strings() -> None:
    train = pd.DataFrame({"code": pd.Series(["1", "2", "3"], dtype="str")})
    inferred = infer_schema(train, target=None, roles={"code": "feature"})
    schema = Schema(columns=(inferred.columns[0].model_copy(update={"closed": True}),))
    assert check_schema(pd.DataFrame({"code": [1, 2, 3]}), schema) == []
    (violation,) = check_schema(pd.DataFrame({"code": [1.0, 4.0, 2.0]}), schema)
    assert (violation.check, violation.examples) == ("category", ("4",))


def test_counts_are_exact_beyond_the_sampled_failure_cases(
    inferred: Schema,
) -> None:
    schema = strict(inferred)
    frame = make_frame(3000, seed=9)
    frame.loc[:1499, "age"] = 1000
    frame.loc[1500:, "channel"] = [f"new-{i}" for i in range(1500)]
    by_check = {v.check: v for v in check_schema(frame, schema)}
    assert (by_check["range"].count, by_check["range"].examples) == (1500, ("1000",))
    assert by_check["category"].count == 1500
    assert len(by_check["category"].examples) == 5
    assert by_check["category"].message.count("'new-") == 5


# --- kinds beyond the reference sample --------------------------------------------------------


def _one(spec: ColumnSpec, values: list[object]) -> list[Violation]:
    return check_schema(
        pd.DataFrame({spec.name: pd.Series(values, dtype="object")}), Schema(columns=(spec,))
    )


def test_dates_are_checked_for_parsing_and_for_their_range() -> None:
    spec = ColumnSpec(name="day", kind="datetime", earliest="2024-01-01", latest="2024-12-31")
    assert _one(spec, ["2024-02-01", "2024-12-30T23:59:59", "2024-12-31", None]) == []
    by_check = {v.check: v for v in _one(spec, ["2024-02-01", "2025-06-01", "garbage", None])}
    assert set(by_check) == {"type", "range"}
    assert (by_check["type"].count, by_check["type"].examples) == (1, ("garbage",))
    assert (by_check["range"].count, by_check["range"].examples) == (1, ("2025-06-01",))
    assert "outside [2024-01-01, 2024-12-31]" in by_check["range"].message


def test_a_date_format_is_the_one_text_form_accepted() -> None:
    spec = ColumnSpec(name="day", kind="datetime", format="%d/%m/%Y")
    assert _one(spec, ["31/12/2023", "01/02/2024"]) == []
    (violation,) = _one(spec, ["31/12/2023", "2024-02-01"])
    assert (violation.check, violation.examples) == ("type", ("2024-02-01",))


def test_booleans_are_zero_one_numbers_or_true_false_words() -> None:
    flag = ColumnSpec(name="flag", kind="boolean")
    assert check_schema(pd.DataFrame({"flag": [0, 1, 1]}), Schema(columns=(flag,))) == []
    (number,) = check_schema(pd.DataFrame({"flag": [0, 1, 2]}), Schema(columns=(flag,)))
    assert (number.check, number.examples) == ("type", ("2",))
    assert _one(flag, ["true", "False", True, None]) == []
    (word,) = _one(flag, ["true", "yes", None])
    assert (word.check, word.examples) == ("type", ("yes",))


def test_a_boolean_column_for_a_number_fails_every_value_and_skips_the_range() -> None:
    spec = ColumnSpec(name="n", kind="numeric", min=5.0, max=10.0)
    (violation,) = check_schema(pd.DataFrame({"n": [True, False, True]}), Schema(columns=(spec,)))
    assert (violation.check, violation.count) == ("type", 3)


def test_text_in_a_number_column_is_a_type_error_and_no_range_check_repeats_it() -> None:
    spec = ColumnSpec(name="n", kind="integer", min=0.0, max=10.0)
    (violation,) = _one(spec, ["1", "x", "20", "2.5", None])
    assert violation.check == "type"
    assert violation.count == 2
    assert set(violation.examples) == {"x", "2.5"}  # "20" parses: only its range is wrong


def test_columns_the_model_does_not_read_are_checked_for_presence_only() -> None:
    schema = Schema(
        columns=(
            ColumnSpec(name="id", kind="integer", role="id", required=True, min=0.0),
            ColumnSpec(name="note", kind="numeric", role="text"),
        )
    )
    anything = pd.DataFrame({"id": [None, "x", -3], "note": ["a", None, 1]})
    assert check_schema(anything, schema) == []
    (missing,) = check_schema(anything.drop(columns=["note"]), schema)
    assert (missing.check, missing.column) == ("missing_column", "note")
    assert len(pandera_schema(anything, schema).columns["id"].checks) == 0


def test_distinct_examples_are_the_first_few_distinct_values_in_their_order() -> None:
    values = pd.Series([1.5, 1.5, 2.0, 0.1 + 0.2, 4.0, 5.0, 6.0, 7.0])
    examples, more = distinct_examples(values)
    assert examples == ("1.5", "2", "0.3", "4", "5")
    assert len(examples) == MAX_EXAMPLES
    assert more
    assert distinct_examples(pd.Series(["b", "a", "b"])) == (("b", "a"), False)


def test_quoted_marks_that_there_are_more() -> None:
    assert quoted(("a", "b"), False) == "'a', 'b'"
    assert quoted(("a", "b"), True) == "'a', 'b', …"
