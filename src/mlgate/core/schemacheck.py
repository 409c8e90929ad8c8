"""Schema checks of a data frame with pandera: types, nullability, ranges and categories, each
failure turned into a `Violation` that names the column, the rule and examples of the values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrorReason

from mlgate.core.dates import parse_dates
from mlgate.core.frozen import Frozen
from mlgate.core.schema import ColumnSpec, Schema, category_values

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa
    from pandera.errors import SchemaError

    from mlgate.core.frames import ColT


CheckKind = Literal[
    "missing_column",
    "extra_column",
    "type",
    "range",
    "category",
    "nullable",
    "missing_rate",
    "unseen_rate",
    "shift",
    "target_missing",
]
MAX_EXAMPLES = 5
# pandera keeps (and formats into its message) this many failing rows per check; counts come
# from the full check output. Keeping every failing row cost 2 s on 300,000 bad rows.
FAILURE_SAMPLE = 1000

_KIND_OF_CHECK: dict[str, CheckKind] = {
    "type": "type",
    "in_range": "range",
    "greater_than_or_equal_to": "range",
    "less_than_or_equal_to": "range",
    "isin": "category",
    "category": "category",
    "date_range": "range",
}
_BOOLEAN_WORDS = [True, False, "True", "False", "true", "false"]


class Violation(Frozen):
    """One way the data breaks the schema."""

    column: str | None
    check: CheckKind
    message: str
    count: int = 0
    examples: tuple[str, ...] = ()


def _parses(series: pd.Series[ColT], *, integral: bool) -> pd.Series[bool]:

    parsed = pd.to_numeric(series.astype("object"), errors="coerce")
    ok = parsed.notna()
    if integral:
        ok &= parsed == parsed.round()
    return ok | series.isna()


def _type_check(
    spec: ColumnSpec, series: pd.Series[ColT]
) -> tuple[Callable[[pd.Series[ColT]], pd.Series[bool]] | None, bool]:
    """The check of a column's values against its kind (None when the dtype already fits) and
    whether value checks (range, categories) can run on it."""

    dtype = series.dtype
    is_bool = pd.api.types.is_bool_dtype(dtype)
    is_number = pd.api.types.is_numeric_dtype(dtype) and not is_bool
    if spec.kind == "categorical" or (spec.kind == "boolean" and is_bool):
        return None, True
    if spec.kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return None, True
        fmt = spec.format
        return (lambda s: _dates(s, fmt).notna() | s.isna()), True
    if spec.kind == "boolean":
        if is_number:
            return (lambda s: s.isin([0, 1]) | s.isna()), True
        return (lambda s: s.astype("object").isin(_BOOLEAN_WORDS) | s.isna()), True
    if is_bool:
        return (lambda s: s.isna()), False
    if is_number:
        if spec.kind == "integer" and pd.api.types.is_float_dtype(dtype):
            return (lambda s: (s == s.round()) | s.isna()), True
        return None, True
    integral = spec.kind == "integer"
    return (lambda s: _parses(s, integral=integral)), False


def _dates(series: pd.Series[ColT], fmt: str | None) -> pd.Series[pd.Timestamp]:

    return parse_dates(series, fmt)


def _date_checks(spec: ColumnSpec) -> list[pa.Check]:

    if spec.earliest is None or spec.latest is None:
        return []
    low, high, fmt = pd.Timestamp(spec.earliest), pd.Timestamp(spec.latest), spec.format

    def within(s: pd.Series[ColT]) -> pd.Series[bool]:
        parsed = _dates(s, fmt)
        return parsed.isna() | ((parsed >= low) & (parsed <= high))

    return [pa.Check(within, name="date_range", n_failure_cases=FAILURE_SAMPLE)]


def _value_checks(spec: ColumnSpec, series: pd.Series[ColT] | None) -> list[pa.Check]:

    checks: list[pa.Check] = []
    if spec.kind == "datetime":
        return _date_checks(spec)
    if spec.kind in ("numeric", "integer"):
        if spec.min is not None and spec.max is not None:
            checks.append(pa.Check.in_range(spec.min, spec.max, n_failure_cases=FAILURE_SAMPLE))
        elif spec.min is not None:
            checks.append(pa.Check.ge(spec.min, n_failure_cases=FAILURE_SAMPLE))
        elif spec.max is not None:
            checks.append(pa.Check.le(spec.max, n_failure_cases=FAILURE_SAMPLE))
    elif spec.kind == "categorical" and spec.categories is not None and spec.closed:
        allowed = list(spec.categories)
        dtype = None if series is None else series.dtype
        if dtype is None or (
            pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)
        ):
            checks.append(pa.Check.isin(allowed, n_failure_cases=FAILURE_SAMPLE))
        else:
            # Codes read as numbers, or mixed objects: compare in the schema's string form.
            checks.append(
                pa.Check(
                    lambda s: category_values(s).isin(allowed),
                    name="category",
                    n_failure_cases=FAILURE_SAMPLE,
                )
            )
    return checks


def pandera_schema(df: pd.DataFrame, schema: Schema) -> pa.DataFrameSchema:
    """The pandera schema that checks `df` against `schema` (type checks fitted to its dtypes)."""

    columns = {}
    for spec in schema.columns:
        if spec.role in ("id", "text", "ignored"):
            # Not read by the model: only its presence is part of the file's shape.
            columns[spec.name] = pa.Column(name=spec.name, nullable=True, required=True)
            continue
        series = df[spec.name] if spec.name in df.columns else None
        checks: list[pa.Check] = []
        values_checkable = True
        if series is not None:
            type_check, values_checkable = _type_check(spec, series)
            if type_check is not None:
                checks.append(pa.Check(type_check, name="type", n_failure_cases=FAILURE_SAMPLE))
        if values_checkable:
            checks.extend(_value_checks(spec, series))
        columns[spec.name] = pa.Column(
            name=spec.name, nullable=spec.nullable, required=True, checks=checks
        )
    return pa.DataFrameSchema(columns, strict=True)


# --- violations --------------------------------------------------------------------------------


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def distinct_examples(values: pd.Series[ColT]) -> tuple[tuple[str, ...], bool]:
    """The first few distinct failing values, and whether there are more."""
    # Hash-based and vectorized: a broken column can fail on most of a million rows.
    distinct = values.drop_duplicates().iloc[: MAX_EXAMPLES + 1].tolist()
    return tuple(_show(v) for v in distinct[:MAX_EXAMPLES]), len(distinct) > MAX_EXAMPLES


def quoted(examples: tuple[str, ...], more: bool) -> str:
    return ", ".join(repr(e) for e in examples) + (", …" if more else "")


def _describe(
    kind: CheckKind,
    column: str,
    spec: ColumnSpec,
    count: int,
    sample: pd.Series[ColT],
    df: pd.DataFrame,
) -> Violation:
    examples, more = distinct_examples(sample)
    more = more or count > len(sample)
    if kind == "type":
        message = (
            f"column {column!r} should hold {spec.kind} values but {count} value(s) are not, "
            f"e.g. {quoted(examples, more)}"
        )
    elif kind == "range" and spec.kind == "datetime":
        message = (
            f"column {column!r} has {count} date(s) outside [{spec.earliest}, {spec.latest}], "
            f"e.g. {quoted(examples, more)}"
        )
    elif kind == "range":
        low = "-inf" if spec.min is None else _show(spec.min)
        high = "inf" if spec.max is None else _show(spec.max)
        observed = df[column]
        message = (
            f"column {column!r} has {count} value(s) outside [{low}, {high}], e.g. "
            f"{', '.join(examples)} (observed min {_show(float(observed.min()))}, "
            f"max {_show(float(observed.max()))})"
        )
    else:
        allowed = spec.categories or ()
        message = (
            f"column {column!r} has {count} value(s) in unseen categories {quoted(examples, more)}"
            f" (allowed: {quoted(allowed[:10], len(allowed) > 10)})"
        )
    return Violation(column=column, check=kind, message=message, count=count, examples=examples)


def _violation(error: SchemaError, schema: Schema, df: pd.DataFrame) -> Violation:
    reason = error.reason_code
    if reason == SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME:
        name = str(error.failure_cases)
        return Violation(
            column=name,
            check="missing_column",
            message=f"column {name!r} is missing; the schema requires it",
            examples=(name,),
        )
    if reason == SchemaErrorReason.COLUMN_NOT_IN_SCHEMA:
        name = str(error.failure_cases)
        return Violation(
            column=name,
            check="extra_column",
            message=f"column {name!r} is not in the schema; drop it, or add it to the schema "
            "(`mlgate schema infer`)",
            examples=(name,),
        )
    column = str(error.column_name)
    spec = schema.column(column)
    if reason == SchemaErrorReason.SERIES_CONTAINS_NULLS:
        count = len(error.failure_cases)
        message = f"column {column!r} has {count} null value(s) but the schema does not allow nulls"
        return Violation(column=column, check="nullable", message=message, count=count)
    if reason == SchemaErrorReason.DATAFRAME_CHECK:
        # check_output covers every checked (non-null) value; failure_cases only a sample.
        count = int((~error.check_output.astype(bool)).sum())
        sample = error.failure_cases["failure_case"]
        return _describe(_KIND_OF_CHECK[error.check.name], column, spec, count, sample, df)
    if reason == SchemaErrorReason.CHECK_ERROR:
        # A check that cannot even run on the values is a type problem of that column.
        return Violation(
            column=column,
            check="type",
            message=f"column {column!r} cannot be checked as {spec.kind}: {error}",
        )
    raise RuntimeError(f"unexpected pandera failure ({reason}) on column {column!r}: {error}")


def check_schema(df: pd.DataFrame, schema: Schema) -> list[Violation]:
    """Every way `df` breaks `schema`: missing/extra columns, types, ranges, categories, nulls."""

    try:
        # inplace: nothing is coerced, so the copy pandera would make is pure cost.
        pandera_schema(df, schema).validate(df, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        return [_violation(error, schema, df) for error in exc.schema_errors]
    return []
