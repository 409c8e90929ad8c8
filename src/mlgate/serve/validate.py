"""Check request JSON against the bundle's feature schema before the model sees it.

Checks run column by column with C-level builtins (`map(type, ...)`, set difference, numpy), so
a 1000-row batch is validated in about a millisecond; a per-row pydantic model is 10-50x slower.
A value that fails is then located by a plain loop, so every error names the field and row.

Missing values: JSON `null` is the missing value. The `NaN` literal (not JSON, but Python's
`json.dumps` writes it) is read as missing too. Either is accepted only where the schema says
the column is nullable. `Infinity` is always refused: no model was trained on it. Values outside
the training range are accepted: that is drift, which monitoring reports, not a malformed input;
so are categories never seen in training (the model buckets them), unless the schema marks the
column `closed`.

A value is read by what it means, not only by its JSON type, where that is exact: a category
sent as a number is its digits (`3` is the category "3"), and a number sent as a string (as a
CSV reader gives it) is that number when the string is exactly a JSON number (`"3.5"`, `"42"`,
`"-1e3"`; not `"3,5"`, `" 42"`, `"nan"` or `"1e999"`: `wire.number_of`). Everything else about
the value is judged as for a number: an integer feature still takes only whole numbers.

Strings: every string a request carries (a category, a date, the id or another column of the
training file) is at most `MAX_STRING_CHARS` characters; a longer one is a 422 (kind
`too_long`) naming the field and row, so nothing longer reaches the model, an answer or the
prediction log. The other columns of the training file take JSON scalars only (a string,
number, boolean or null): they are logged, and a nested value has no place in a row.

A row of the training file is accepted as it is: its id, target, text and ignored columns are
dropped before the model sees it, and the id is echoed beside each prediction so callers can
join answers to their rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.core.schema import ColumnSpec, Schema
from mlgate.serve.errors import invalid
from mlgate.serve.wire import clip, describe, number_of, probabilities_asked, shown, too_long

if TYPE_CHECKING:
    import numpy as np

# Deferred imports: NumPy loads with the model: the server's parent process, which verifies the
# bundle and supervises the workers, imports this module without predicting
# (tests/unit/test_imports.py).

_NUMBER = frozenset({int, float})
FLOAT32_MAX = 3.4028234663852886e38
MAX_STRING_CHARS = 4096
"""The longest string value a request may carry (characters)."""
_SCALARS = frozenset({str, int, float, bool, type(None)})


@dataclass(frozen=True)
class Batch:
    """Validated rows as columns: float64 numbers (NaN = missing), object strings (None)."""

    columns: dict[str, np.ndarray]
    rows: int
    raw: Sequence[Any]
    """The rows as received (lists in feature order, or dicts), kept for the prediction log."""
    ids: list[Any] | None = None
    """The id column's value of each row, when the rows are objects that carry it."""
    matrix: np.ndarray | None = None
    """All features as one (rows, features) float64 array, when every feature is numeric:
    runtimes then transform the whole batch in a few numpy calls instead of a few per column."""


@dataclass(frozen=True)
class PredictRequest:
    """A parsed POST /predict body."""

    batch: Batch
    probabilities: bool
    single: bool
    """True for `{"features": [v, ...]}`: one row, answered without the batch wrapping."""


class Validator:
    """Turns JSON rows into a `Batch` for one bundle's features, or a 422 naming the field."""

    def __init__(
        self,
        features: Sequence[ColumnSpec],
        max_rows: int,
        *,
        passthrough: Sequence[str] = (),
        id_column: str | None = None,
        max_string: int = MAX_STRING_CHARS,
        classifier: bool = True,
    ) -> None:
        self.features = tuple(features)
        self.classifier = classifier
        """Whether the model gives probabilities (a regression model refuses the flag)."""
        self.max_string = max_string
        self.names = tuple(f.name for f in self.features)
        self.name_set = frozenset(self.names)
        self.max_rows = max_rows
        self.passthrough = frozenset(passthrough)
        self.id_column = id_column
        import numpy as np

        self._all_numeric = all(f.kind in ("numeric", "integer") for f in self.features)
        self._not_nullable = np.array([not f.nullable for f in self.features])
        self._integer = np.array([f.kind == "integer" for f in self.features])
        self._categories = {
            f.name: frozenset(f.categories)
            for f in self.features
            if f.categories is not None and f.closed
        }

    @classmethod
    def for_schema(cls, schema: Schema, max_rows: int, *, classifier: bool = True) -> Validator:
        """A validator for a bundle's schema: its features, and the other columns of the
        training file (accepted and dropped; the id echoed)."""
        id_spec = schema.id_column
        return cls(
            schema.features,
            max_rows,
            passthrough=[c.name for c in schema.passthrough],
            id_column=None if id_spec is None else id_spec.name,
            classifier=classifier,
        )

    # -- columns -----------------------------------------------------------------------------

    def column(self, spec: ColumnSpec, values: Sequence[Any], field: str) -> np.ndarray:
        """One feature's values as an array, or a 422 naming `field` and the first bad row."""
        if spec.kind == "categorical":
            return self._categorical(spec, values, field)
        if spec.kind == "boolean":
            return self._boolean(spec, values, field)
        if spec.kind == "datetime":
            return self._datetime(spec, values, field)
        return self._numeric(spec, values, field)

    def _datetime(self, spec: ColumnSpec, values: Sequence[Any], field: str) -> np.ndarray:
        from datetime import datetime

        import numpy as np

        fmt = spec.format if spec.format and spec.format != "ISO8601" else None
        for i, v in enumerate(values):
            if v is None:
                if not spec.nullable:
                    raise invalid(
                        f"{field} is null but the feature is not nullable", field=field, row=i
                    )
                continue
            if type(v) is not str:
                raise invalid(
                    f"{field} must be a date string, got {describe(v)}", field=field, row=i
                )
            if len(v) > self.max_string:
                raise too_long(field, i, len(v), self.max_string)
            try:
                if fmt is None:
                    datetime.fromisoformat(v)
                else:
                    datetime.strptime(v, fmt)
            except ValueError:
                try:
                    datetime.fromisoformat(v)
                except ValueError:
                    fmt_name = fmt or "ISO 8601"
                    raise invalid(
                        f"{field} is {shown(v)}, not a date ({fmt_name})", field=field, row=i
                    ) from None
        return np.array(values, dtype=object)

    def _numeric(self, spec: ColumnSpec, values: Sequence[Any], field: str) -> np.ndarray:
        import numpy as np

        if not set(map(type, values)) <= _NUMBER:
            # Rare path: nulls, numbers sent as strings, or the first value to refuse.
            nullable = spec.nullable
            values = [number_of(v, nullable, field, i) for i, v in enumerate(values)]
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:
            i = next(i for i, v in enumerate(values) if isinstance(v, int) and abs(v) > 1e308)
            raise invalid(f"{field} is too large for a float", field=field, row=i) from None
        finite = np.isfinite(arr)
        if not finite.all():
            bad = np.isinf(arr)
            if bad.any():
                i = int(np.argmax(bad))
                raise invalid(f"{field} must be finite, got {arr[i]}", field=field, row=i)
            if not spec.nullable:
                i = int(np.argmax(~finite))
                raise invalid(f"{field} is NaN but the feature is not nullable", field=field, row=i)
        # Models compute in float32 (ONNX, and scikit-learn's trees): larger values cannot be held.
        big = np.abs(arr) > FLOAT32_MAX
        if big.any():
            i = int(np.argmax(big))
            raise invalid(
                f"{field} is {arr[i]:g}, beyond what a model input holds", field=field, row=i
            )
        if spec.kind == "integer":
            frac = finite & (arr != np.floor(np.where(finite, arr, 0.0)))
            if frac.any():
                i = int(np.argmax(frac))
                raise invalid(f"{field} must be an integer, got {arr[i]}", field=field, row=i)
        return arr

    def _boolean(self, spec: ColumnSpec, values: Sequence[Any], field: str) -> np.ndarray:
        import numpy as np

        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            if v is True or v is False:
                out[i] = float(v)
            elif v is None and spec.nullable:
                out[i] = math.nan
            elif v is None:
                raise invalid(
                    f"{field} is null but the feature is not nullable", field=field, row=i
                )
            else:
                raise invalid(
                    f"{field} must be true or false, got {describe(v)}", field=field, row=i
                )
        return out

    def _categorical(self, spec: ColumnSpec, values: Sequence[Any], field: str) -> np.ndarray:
        import numpy as np

        limit = self.max_string
        if not set(map(type, values)) <= {str}:
            values = self._category_texts(spec, values, field)
        elif values and max(map(len, values)) > limit:
            i = next(i for i, v in enumerate(values) if len(v) > limit)
            raise too_long(field, i, len(values[i]), limit)
        allowed = self._categories.get(spec.name)
        if allowed is not None:
            unknown = set(values) - allowed - {None}
            if unknown:
                i = next(i for i, v in enumerate(values) if v in unknown)
                known = ", ".join(sorted(allowed)[:20])
                raise invalid(
                    f"{field} has unseen category {shown(values[i])}; known: {known}",
                    field=field,
                    row=i,
                )
        return np.array(values, dtype=object)

    def _category_texts(self, spec: ColumnSpec, values: Sequence[Any], field: str) -> list[Any]:
        """Categories as text: numeric codes as their digits, missing values as None."""
        fixed: list[Any] = []
        for i, v in enumerate(values):
            if type(v) is str or type(v) is int:
                # A numeric code sent as a number: the category is its text.
                text = v if type(v) is str else str(v)
                if len(text) > self.max_string:
                    raise too_long(field, i, len(text), self.max_string)
                fixed.append(text)
            elif v is None or (type(v) is float and math.isnan(v)):
                if not spec.nullable:
                    raise invalid(
                        f"{field} is null but the feature is not nullable", field=field, row=i
                    )
                fixed.append(None)
            else:
                raise invalid(f"{field} must be a string, got {describe(v)}", field=field, row=i)
        return fixed

    def _matrix(self, rows: list[Any], field: str) -> np.ndarray | None:
        """Every value checked at once; None sends the caller to the per-column checks,
        which find and name the bad value."""
        import itertools

        import numpy as np

        if not set(map(type, itertools.chain.from_iterable(rows))) <= _NUMBER:
            return None
        try:
            mat = np.array(rows, dtype=np.float64)
        except OverflowError:
            return None
        finite = np.isfinite(mat)
        bad = ~finite & self._not_nullable if not finite.all() else None
        if bad is not None and (bad.any() or np.isinf(mat).any()):
            return None
        if (np.abs(mat) > FLOAT32_MAX).any():
            return None
        if self._integer.any():
            ints = mat[:, self._integer]
            ok = np.isfinite(ints)
            if (ok & (ints != np.floor(np.where(ok, ints, 0.0)))).any():
                return None
        return mat

    # -- request forms -------------------------------------------------------------------------

    def _check_rows(self, n: int, field: str) -> None:
        if n == 0:
            raise invalid(f"{field} is empty: send at least one row", field=field)
        if n > self.max_rows:
            raise invalid(
                f"{field} has {n} rows; this server accepts at most {self.max_rows}", field=field
            )

    def from_lists(self, rows: list[Any], field: str = "features") -> Batch:
        """Rows as lists of values in feature order."""
        self._check_rows(len(rows), field)
        k = len(self.names)
        for i, row in enumerate(rows):
            if type(row) is not list:
                raise invalid(
                    f"{field}[{i}] must be a list of {k} values, got {describe(row)}",
                    field=field,
                    row=i,
                )
            if len(row) != k:
                raise invalid(
                    f"{field}[{i}] has {len(row)} values; the model takes {k}: "
                    + ", ".join(self.names),
                    field=field,
                    row=i,
                )
        if self._all_numeric:
            matrix = self._matrix(rows, field)
            if matrix is not None:
                columns = {name: matrix[:, j] for j, name in enumerate(self.names)}
                return Batch(columns=columns, rows=len(rows), raw=rows, matrix=matrix)
        cols = list(zip(*rows, strict=True))
        columns = {
            spec.name: self.column(spec, cols[j], spec.name) for j, spec in enumerate(self.features)
        }
        return Batch(columns=columns, rows=len(rows), raw=rows)

    def from_dicts(self, rows: list[Any], field: str = "instances") -> Batch:
        """Rows as objects keyed by feature name."""
        self._check_rows(len(rows), field)
        names = self.name_set
        extra_ok = self.passthrough
        for i, row in enumerate(rows):
            if type(row) is not dict:
                raise invalid(
                    f"{field}[{i}] must be an object, got {describe(row)}", field=field, row=i
                )
            if row.keys() != names:
                missing = [n for n in self.names if n not in row]
                if missing:
                    raise invalid(f"feature {missing[0]!r} is missing", field=missing[0], row=i)
                extra = sorted(str(key) for key in row if key not in names and key not in extra_ok)
                if extra:
                    raise invalid(f"unknown feature {shown(extra[0])}", field=clip(extra[0]), row=i)
                self._check_passthrough(row, i)
        columns = {
            spec.name: self.column(spec, [row[spec.name] for row in rows], spec.name)
            for spec in self.features
        }
        ids = None
        key = self.id_column
        if key is not None and any(key in row for row in rows):
            ids = [row.get(key) for row in rows]
        return Batch(columns=columns, rows=len(rows), raw=rows, ids=ids)

    def _check_passthrough(self, row: dict[str, Any], i: int) -> None:
        """The other columns of a row: JSON scalars, strings within the limit."""
        for key in self.passthrough.intersection(row):
            v = row[key]
            if type(v) not in _SCALARS:
                raise invalid(
                    f"{key} must be a string, number, boolean or null, got {describe(v)}",
                    field=key,
                    row=i,
                )
            if type(v) is str and len(v) > self.max_string:
                raise too_long(key, i, len(v), self.max_string)

    def predict_request(self, payload: Any, probabilities: bool | None = None) -> PredictRequest:
        """Parse a /predict body: `{"features": row | rows}` or `{"instances": [objects]}`;
        `probabilities` is the query's flag (None when the query does not carry it)."""
        if type(payload) is not dict:
            raise invalid(f"the body must be a JSON object, got {describe(payload)}", field="body")
        unknown = payload.keys() - {"features", "instances", "probabilities"}
        if unknown:
            key = sorted(map(str, unknown))[0]
            raise invalid(f"unknown key {shown(key)}; use features or instances", field=clip(key))
        want = probabilities_asked(payload.get("probabilities"), probabilities, self.classifier)
        if ("features" in payload) == ("instances" in payload):
            raise invalid("send exactly one of features or instances", field="features")
        if "features" in payload:
            rows = payload["features"]
            if type(rows) is not list:
                raise invalid(f"features must be a list, got {describe(rows)}", field="features")
            single = bool(rows) and not any(type(v) is list for v in rows)
            batch = self.from_lists([rows] if single else rows)
            return PredictRequest(batch, want, single)
        rows = payload["instances"]
        if type(rows) is not list:
            raise invalid(
                f"instances must be a list of objects, got {describe(rows)}", field="instances"
            )
        return PredictRequest(self.from_dicts(rows), want, False)
