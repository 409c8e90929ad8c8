"""Infer a schema from a data frame: each column's kind, role (and why), range or categories.

Roles, decided per column in this order (the first rule that fits wins):

1. a role the user set (`--role COL=ROLE`, or `data.drop` for `ignored`);
2. `ignored`: every value missing; a single value; the same values as an earlier column;
3. `id`: an integer or text column unique per row whose name says id, or an integer column
   that counts the rows (0..n-1, 1..n, in order); a text column unique per row without spaces;
4. `text`: text with many distinct values that reads as words (names, comments, titles);
5. `feature` for everything else: numbers, booleans, categories, and text that holds dates
   (kind `datetime`: the model reads its parts, the schema checks its range).

Ranges are hard limits where the data has natural bounds and wide elsewhere: a column never
negative stays >= 0 (and below three times its maximum), a 0/1 flag stays in [0, 1], a share
that fills the unit interval too; otherwise the observed range grows by its span on each side.
Categories are recorded (up to `MAX_LISTED`) but open:
a value never seen in training is a rate the drift check measures, not a failure.

Every statistic here is one vectorised pass per column (`nunique`, a hash, min/max) or works on
a sample, so inference costs a small multiple of reading the file.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from mlgate.core.dates import parse_dates
from mlgate.core.schema import ColumnKind, ColumnSpec, Role, Schema, category_values, column_kind
from mlgate.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.core.frames import ColT

MAX_LISTED = 50
# A text column is free text (not a category) when it has this many distinct values and most
# rows hold a distinct one.
TEXT_MIN_DISTINCT = 50
TEXT_MIN_DISTINCT_SHARE = 0.5
DATE_SAMPLE = 500
SAMPLE = 20_000
# An integer column of 0s and 1s is a flag (hard bounds) when its rarer value is this common;
# a rare 1 is more likely the low end of a count.
FLAG_MIN_SHARE = 0.05
DATE_MIN_SHARE = 0.95
_ID_NAME = re.compile(
    r"^(id|idx|index|key|uuid|guid|rownames?|row[_ .-]?(id|no|num|number)|unnamed:? ?\d*)$"
    r"|([_ .-](id|ID|Id|key|uuid)$)|([a-z](Id|ID)$)",
    re.IGNORECASE,
)
_ID_NAME_STRICT = re.compile(r"([_ .-]|^)(id|key|uuid|guid)$|[a-z](Id|ID)$|^rownames?$")
_DATE_HINT = re.compile(r"\d{1,4}[-/.:]\d{1,2}")


@dataclass(frozen=True)
class RoleGuess:
    """A column's role and kind, and why."""

    role: Role
    kind: ColumnKind
    why: str
    format: str | None = None
    counts: pd.Series[int] | None = None
    """Category counts, when guessing already computed them."""


def _id_named(name: str) -> bool:
    return bool(_ID_NAME.search(name)) and bool(
        _ID_NAME_STRICT.search(name) or _ID_NAME.fullmatch(name)
    )


def _is_row_index(series: pd.Series[ColT]) -> bool:
    """0..n-1 or 1..n in file order (or reversed): the row number, whatever it is called."""

    values = series.to_numpy()
    if values.size < 2:
        return False
    steps = np.diff(values)
    return bool((steps == 1).all() or (steps == -1).all())


def _looks_like_words(values: pd.Series[ColT]) -> bool:
    """Most values contain a space: names, titles, comments."""
    sample = spread_sample(values, DATE_SAMPLE).astype(str)
    return bool(len(sample)) and float(sample.str.contains(r"\s", regex=True).mean()) >= 0.5


def datetime_format(values: pd.Series[ColT]) -> str | None:
    """The date format of a text column when nearly all of a sample parses as dates, else None."""

    sample = spread_sample(values, DATE_SAMPLE).astype(str)
    if sample.empty or float(sample.str.contains(_DATE_HINT).mean()) < DATE_MIN_SHARE:
        return None
    fmt = guess_datetime_format(sample.iloc[0])
    if fmt is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
    if float(parsed.notna().mean()) < DATE_MIN_SHARE:
        return None
    return fmt


def spread_sample(series: pd.Series[ColT], size: int = 0) -> pd.Series[ColT]:
    """Up to `size` (default `SAMPLE`) non-null values at evenly spaced rows: deterministic,
    and without the full-column shuffle a random sample costs."""

    size = size or SAMPLE
    if len(series) > size:
        series = series.iloc[np.linspace(0, len(series) - 1, size).astype(np.int64)]
    return series.dropna()


def _constant(series: pd.Series[ColT], kind: ColumnKind) -> bool:
    """One distinct non-null value: min = max for numbers, and for text a sample with one
    value confirmed in full (no hashing of every value of a column that varies)."""

    if kind in ("numeric", "integer", "boolean"):
        values = series.to_numpy()
        if values.dtype.kind == "f":
            return bool(np.nanmin(values) == np.nanmax(values))
        if values.dtype.kind in "iub":
            return bool(values.min() == values.max())
        values = series.dropna().to_numpy(dtype=np.float64)
        return bool(values.min() == values.max())
    return int(spread_sample(series).nunique()) == 1 and int(series.nunique(dropna=True)) == 1


def _categorical_role(series: pd.Series[ColT], name: str, non_null: int, rows: int) -> RoleGuess:

    kind: ColumnKind = "categorical"
    values = series if pd.api.types.is_string_dtype(series.dtype) else series.astype("str")
    fmt = datetime_format(values)
    if fmt is not None:
        return RoleGuess("feature", "datetime", f"dates ({fmt})", format=fmt)
    # Categories repeat: a sample tells a category column from text or ids without hashing
    # every value of a million-row column; only those that look unique are counted in full.
    sample = spread_sample(values)
    mostly_distinct = sample.nunique() >= TEXT_MIN_DISTINCT_SHARE * len(sample)
    if not mostly_distinct:
        counts = category_values(series).value_counts(dropna=True)
        distinct = len(counts)
        if distinct > MAX_LISTED:
            why = f"categories ({distinct}: the rare ones share one bucket)"
        else:
            why = f"categories ({distinct})"
        return RoleGuess("feature", kind, why, counts=counts)
    words = _looks_like_words(values)
    if words and len(sample) >= SAMPLE and sample.nunique() >= 0.95 * len(sample):
        # Sentences nearly all distinct in a large sample: text, and exact counting of a
        # million strings would change nothing.
        return RoleGuess("text", kind, f"free text: {non_null} values, nearly all distinct")
    distinct = int(values.nunique(dropna=True))
    unique = distinct == non_null == rows
    if distinct >= 0.95 * non_null and (_id_named(name) or (unique and not words)):
        return RoleGuess(
            "id", kind, "unique per row" + (", named like an id" if not unique else "")
        )
    if distinct >= TEXT_MIN_DISTINCT:
        if words or unique:
            return RoleGuess(
                "text", kind, f"free text: {distinct} distinct values in {non_null} rows"
            )
        return RoleGuess("id", kind, f"codes: {distinct} distinct values in {non_null} rows")
    if distinct > MAX_LISTED:
        return RoleGuess(
            "feature", kind, f"categories ({distinct}: the rare ones share one bucket)"
        )
    return RoleGuess("feature", kind, f"categories ({distinct})")


def guess_role(series: pd.Series[ColT], *, rows: int, duplicate_of: str | None) -> RoleGuess:
    """The role, kind and reason for one (non-target) column."""
    name = str(series.name)
    kind = column_kind(series)
    non_null = int(series.notna().sum())
    if non_null == 0:
        return RoleGuess("ignored", kind, "every value is missing")
    if duplicate_of is not None:
        return RoleGuess("ignored", kind, f"the same values as {duplicate_of!r}")
    if _constant(series, kind):
        shown = str(series.dropna().iloc[0])[:30]
        return RoleGuess("ignored", kind, f"one value only ({shown!r})")
    if kind == "integer":
        if non_null == rows and _is_row_index(series):
            return RoleGuess("id", kind, "counts the rows (a row number)")
        if _id_named(name) and series.nunique(dropna=True) >= 0.95 * non_null:
            return RoleGuess("id", kind, "unique per row, named like an id")
        return RoleGuess("feature", kind, "numbers")
    if kind == "categorical":
        return _categorical_role(series, name, non_null, rows)
    if kind == "datetime":
        return RoleGuess("feature", kind, "dates", format="ISO8601")
    if kind == "boolean":
        return RoleGuess("feature", kind, "true/false")
    return RoleGuess("feature", kind, "numbers")


def _duplicates(df: pd.DataFrame, candidates: Sequence[str]) -> dict[str, str]:
    """Columns whose values equal an earlier column's: name -> the earlier one.

    Only columns that agree on dtype, null count and first and last value are compared, so a
    table without duplicates costs a few scalar reads per column, not a hash of every value.
    """
    groups: dict[tuple[str, int, str, str], list[str]] = {}
    for name in candidates:
        series = df[name]
        ends = (str(series.iloc[0]), str(series.iloc[-1])) if len(series) else ("", "")
        key = (str(series.dtype), int(series.isna().sum()), *ends)
        groups.setdefault(key, []).append(name)
    out: dict[str, str] = {}
    for names in groups.values():
        for i, name in enumerate(names):
            for earlier in names[:i]:
                if earlier not in out and df[name].equals(df[earlier]):
                    out[name] = earlier
                    break
    return out


def check_columns(columns: Sequence[object], source: str) -> None:
    """Column names must be unique (a CSV with a repeated header is refused, named)."""

    repeated = [str(name) for name, n in Counter(map(str, columns)).items() if n > 1]
    if repeated:
        raise DataError(
            f"{source} has duplicate column name(s): {', '.join(map(repr, repeated))}",
            hint="rename the columns so that each name appears once",
        )


def _natural_range(values: object, kind: ColumnKind) -> tuple[float, float]:
    """Hard bounds where the data has them, wide ones elsewhere.

    - a 0/1 flag (both values common) or a share that fills the unit interval: [0, 1];
    - never negative: at least 0, and up to three times the observed maximum (counts at least
      10 more): heavy tails and rare counts reach past a sample's maximum, a unit or code
      change (cents for dollars, 999 for missing) does not stay within it;
    - elsewhere the observed range grows by its span on each side.
    """

    arr = np.asarray(values, dtype=np.float64)
    low, high = float(arr.min()), float(arr.max())
    span = high - low
    if low >= 0.0 and high <= 1.0:
        ones = float(np.mean(arr == 1.0))
        flag = kind == "integer" and min(ones, 1.0 - ones) >= FLAG_MIN_SHARE
        unit = kind != "integer" and low <= 0.05 and high >= 0.95
        if flag or unit:
            return 0.0, 1.0
    if low >= 0.0:
        wide_low = max(0.0, low - span)
        wide_high = max(high + span, 3.0 * high)
        if kind == "integer":
            wide_high = max(wide_high, high + 10.0)
    elif high <= 0.0:
        wide_low, wide_high = min(low - span, 3.0 * low), 0.0
    else:
        wide_low, wide_high = low - span, high + span
    if kind == "integer" or span >= 10:
        return float(math.floor(wide_low)), float(math.ceil(wide_high))
    return wide_low, wide_high


def _date_range(series: pd.Series[ColT], fmt: str | None) -> tuple[str, str] | None:

    parsed = parse_dates(series, fmt).dropna()
    if parsed.empty:
        return None
    low, high = parsed.min(), parsed.max()
    span = high - low
    return (low - span).isoformat(), (high + span).isoformat()


def _spec(series: pd.Series[ColT], guess: RoleGuess, name: str) -> ColumnSpec:
    low = high = None
    earliest = latest = None
    categories = None
    if guess.role in ("feature", "target"):
        if guess.kind in ("numeric", "integer"):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = values[np.isfinite(values)]
            if finite.size:
                low, high = _natural_range(finite, guess.kind)
        elif guess.kind == "categorical":
            counts = guess.counts
            if counts is None:
                counts = category_values(series).value_counts(dropna=True)
            if guess.role == "target" or len(counts) <= MAX_LISTED:
                categories = tuple(sorted(str(k) for k in counts.index))
        elif guess.kind == "datetime":
            dates = _date_range(series, guess.format)
            if dates is not None:
                earliest, latest = dates
    return ColumnSpec(
        name=name,
        kind=guess.kind,
        role=guess.role,
        why=guess.why,
        min=low,
        max=high,
        earliest=earliest,
        latest=latest,
        format=guess.format,
        categories=categories,
    )


def infer_schema(
    df: pd.DataFrame,
    *,
    target: str | None,
    drop: Sequence[str] = (),
    roles: Mapping[str, Role] | None = None,
) -> Schema:
    """Describe every column of a frame: kind, role and why, range, categories or dates."""
    roles = dict(roles or {})
    check_columns(list(df.columns), "the data")
    for key, names in (
        ("target", [] if target is None else [target]),
        ("drop", list(drop)),
        ("role", list(roles)),
    ):
        for name in names:
            if name not in df.columns:
                raise DataError(
                    f"{key} column {name!r} is not in the data "
                    f"(columns: {', '.join(map(str, df.columns))})",
                    hint=f"fix the column name given as {key}",
                )
    if target is not None and roles.get(target, "target") != "target":
        raise DataError(
            f"column {target!r} is the target; it cannot also have role {roles[target]}"
        )
    rows = len(df)
    dropped = set(drop)
    auto = [str(c) for c in df.columns if c != target and c not in dropped and c not in roles]
    duplicates = _duplicates(df, auto)
    specs = []
    for name in df.columns:
        series = df[name]
        if name == target:
            guess = RoleGuess("target", column_kind(series), "the column to predict")
        elif name in roles:
            natural = guess_role(series, rows=rows, duplicate_of=None)
            kind = natural.kind if roles[name] == "feature" else column_kind(series)
            fmt = natural.format if kind == "datetime" else None
            guess = RoleGuess(roles[name], kind, "set by you", format=fmt)
        elif name in dropped:
            guess = RoleGuess("ignored", column_kind(series), "listed in data.drop")
        else:
            guess = guess_role(series, rows=rows, duplicate_of=duplicates.get(str(name)))
        specs.append(_spec(series, guess, str(name)))
    return Schema(columns=tuple(specs))
