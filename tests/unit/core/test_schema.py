"""Schema inference from a data frame."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.core.infer import infer_schema
from mlgate.core.schema import Schema, category_values, column_kind
from mlgate.errors import DataError
from mlgate.store.files import read_schema, write_schema

pytestmark = pytest.mark.unit


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 200
    amount = rng.normal(50.0, 10.0, n)
    amount[3] = np.nan
    return pd.DataFrame(
        {
            "id": [f"row-{i}" for i in range(n)],
            "age": rng.integers(18, 90, n),
            "amount": amount,
            "member": rng.random(n) < 0.5,
            "city": pd.Series(rng.choice(["paris", "lyon", "nice"], n), dtype="str"),
            "label": rng.integers(0, 2, n),
        }
    )


def test_infer_kinds_roles_and_constraints(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame, target="label", drop=["id"])

    assert [c.name for c in schema.columns] == list(frame.columns)
    by_name = {c.name: c for c in schema.columns}
    assert by_name["age"].kind == "integer"
    assert by_name["amount"].kind == "numeric"
    assert by_name["member"].kind == "boolean"
    assert by_name["city"].kind == "categorical"
    assert by_name["label"].role == "target"
    assert by_name["id"].role == "ignored"
    assert by_name["id"].why == "listed in data.drop"
    assert [c.name for c in schema.features] == ["age", "amount", "member", "city"]

    # Open by default: nulls are a rate, not a failure, unless a person marks it required.
    assert not any(c.required for c in schema.columns)
    # Never negative in the data: never negative in the schema, and up to 3x the maximum.
    for col in ("age", "amount"):
        high = float(frame[col].max())
        spec = by_name[col]
        assert spec.min == 0.0
        assert spec.max is not None
        assert 3 * high <= spec.max <= 3 * high + 1
    assert by_name["city"].categories == ("lyon", "nice", "paris")
    assert not by_name["city"].closed


def test_version_1_files_keep_their_strict_meaning() -> None:
    old = Schema.model_validate(
        {
            "version": 1,
            "columns": [
                {"name": "a", "kind": "numeric", "nullable": False},
                {"name": "b", "kind": "categorical", "nullable": True, "categories": ["x"]},
                {"name": "i", "kind": "categorical", "role": "ignored", "nullable": False},
            ],
        }
    )
    assert old.version == 2
    a, b, i = old.columns
    assert a.required
    assert not a.nullable
    assert not b.required
    assert b.closed
    assert not i.required


def test_ignored_columns_pin_no_values(frame: pd.DataFrame) -> None:
    spec = infer_schema(frame, target="label", drop=["id"]).column("id")
    assert spec.kind == "categorical"
    assert spec.categories is None
    assert spec.min is None


def test_object_and_str_dtypes_from_csv() -> None:
    # The pyarrow CSV reader gives `str` for text and `object` for booleans with gaps.
    text = "flag,name,score\nTrue,a,1.5\nFalse,,2.5\n,b,\n"
    frame = pd.read_csv(io.StringIO(text), engine="pyarrow")
    by_name = {c.name: c for c in infer_schema(frame, target=None).columns}

    assert by_name["flag"].kind == "boolean"
    assert by_name["flag"].nullable
    assert by_name["name"].kind == "categorical"
    assert by_name["name"].categories == ("a", "b")
    assert by_name["score"].kind == "numeric"
    assert (by_name["score"].min, by_name["score"].max) == (0.5, 7.5)


def test_object_dtype_text_is_categorical() -> None:
    frame = pd.DataFrame({"c": pd.Series(["x", None, "y"], dtype="object")})
    spec = infer_schema(frame, target=None).column("c")
    assert spec.kind == "categorical"
    assert spec.categories == ("x", "y")
    assert spec.nullable


def test_all_null_numeric_column_is_ignored_without_a_range() -> None:
    frame = pd.DataFrame({"x": [np.nan, np.nan], "y": [1, 2]})
    spec = infer_schema(frame, target="y").column("x")
    assert spec.kind == "numeric"
    assert (spec.role, spec.why) == ("ignored", "every value is missing")
    assert spec.min is None
    assert spec.max is None


@pytest.mark.parametrize(
    ("target", "drop", "missing"),
    [("nope", (), "nope"), ("label", ("id", "ghost"), "ghost")],
)
def test_unknown_target_or_drop_column_is_a_data_error(
    frame: pd.DataFrame, target: str, drop: tuple[str, ...], missing: str
) -> None:
    with pytest.raises(DataError, match=repr(missing)):
        infer_schema(frame, target=target, drop=drop)


def test_parsed_dates_are_datetime_and_other_odd_dtypes_a_data_error_naming_it() -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    assert column_kind(frame["when"]) == "datetime"
    odd = pd.DataFrame({"span": pd.to_timedelta([1, 2], unit="D")})
    with pytest.raises(DataError, match="'span'"):
        column_kind(odd["span"])


def test_category_values_write_integral_float_codes_without_decimals() -> None:
    codes = pd.Series([1.0, np.nan, 3.0])
    assert category_values(codes).tolist()[0] == "1"
    assert category_values(codes).isna().tolist() == [False, True, False]
    assert category_values(pd.Series([1.5])).tolist() == ["1.5"]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_inferred_schema_round_trips_through_a_file(
    frame: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    schema = infer_schema(frame, target="label", drop=["id"])
    path = tmp_path / f"schema{suffix}"
    write_schema(schema, path)
    assert read_schema(path) == schema


def test_invalid_schema_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text("columns:\n  - name: age\n    kind: decimal\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_schema(path)
    message = str(info.value)
    assert "schema.yaml" in message
    assert "columns.0.kind" in message
