"""The data schema: what every column of the data (and every serving input) must look like.

This module holds the pure model and its file format; it imports neither pandas nor pandera
at import time, because the model server reads the same schema. Inference from a data frame
lives in `mlgate.core.infer`.

Every column has a role: `feature` (the model reads it), `target`, `id` (unique per row, or a
row index: echoed by the server, never learned from), `text` (free text, not learned from) or
`ignored` (constant, all-null, a duplicate of another column, or set aside by the user). Only
features reach the model.

Version 2 of the file made the data gate open by default: a column may be null unless it is
`required` (a rise in the missing rate is a drift check with a threshold), and categories are
the values seen in training, with unseen values measured as a rate, unless the column is
`closed`. A version-1 file is read with its old, strict meaning: `nullable: false` is
`required: true`, and listed categories are closed. `mlgate schema infer` rewrites it as
version 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlgate.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.core.frames import ColT

# Deferred imports: NumPy, pandas and SciPy load on first use. The release controller and the model
# server import this module for its types and thresholds, and the server runs without pandas or
# SciPy (the train extra, which the serving image does not install).

SCHEMA_VERSION = 2
ColumnKind = Literal["numeric", "integer", "boolean", "categorical", "datetime"]
Role = Literal["feature", "target", "id", "text", "ignored"]
ROLES: tuple[Role, ...] = ("feature", "target", "id", "text", "ignored")


class ColumnSpec(BaseModel):
    """One column: its kind and role, whether it must be present, its range or categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: ColumnKind
    role: Role = "feature"
    why: str | None = Field(default=None, description="Why the column has its role.")
    required: bool = Field(
        default=False,
        description="A null fails the data gate (and a request). Otherwise nulls are allowed "
        "and a rise in the missing rate is a drift check.",
    )
    min: float | None = None
    max: float | None = None
    earliest: str | None = Field(default=None, description="Datetime: earliest allowed (ISO).")
    latest: str | None = Field(default=None, description="Datetime: latest allowed (ISO).")
    format: str | None = Field(
        default=None, description="Datetime: strftime format of the text form, or ISO8601."
    )
    categories: tuple[str, ...] | None = Field(
        default=None, description="Categories seen in training, as strings."
    )
    closed: bool = Field(
        default=False,
        description="Categories are the only allowed values; otherwise unseen values are "
        "measured as a rate (a drift signal) and the model buckets them.",
    )

    @property
    def nullable(self) -> bool:
        """Whether a null is accepted (the opposite of `required`)."""
        return not self.required


def _upgrade_v1(raw: object) -> object:
    """A version-1 schema keeps its strict meaning: not nullable = required, categories closed."""
    if not isinstance(raw, dict) or raw.get("version", 1) != 1:
        return raw
    columns = []
    for col in raw.get("columns") or []:
        if isinstance(col, dict):
            col = dict(col)
            nullable = col.pop("nullable", False)
            col.setdefault("required", not nullable if col.get("role") != "ignored" else False)
            if col.get("categories") is not None:
                col.setdefault("closed", True)
        columns.append(col)
    return {**raw, "version": SCHEMA_VERSION, "columns": columns}


class Schema(BaseModel):
    """Every column of the data file, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = SCHEMA_VERSION
    columns: tuple[ColumnSpec, ...]

    @model_validator(mode="before")
    @classmethod
    def _read_old_versions(cls, raw: object) -> object:
        return _upgrade_v1(raw)

    @property
    def features(self) -> tuple[ColumnSpec, ...]:
        """The columns the model reads, in training order."""
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def target(self) -> ColumnSpec | None:
        """The target column, when the schema describes training data."""
        return next((c for c in self.columns if c.role == "target"), None)

    @property
    def id_column(self) -> ColumnSpec | None:
        """The first id column: the server echoes it beside each prediction."""
        return next((c for c in self.columns if c.role == "id"), None)

    @property
    def passthrough(self) -> tuple[ColumnSpec, ...]:
        """Columns of the training file the model does not read (id, target, text, ignored)."""
        return tuple(c for c in self.columns if c.role != "feature")

    def column(self, name: str) -> ColumnSpec:
        """The spec of one column; KeyError when the schema does not have it."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def column_kind(series: pd.Series[ColT]) -> ColumnKind:
    """The schema kind of a pandas column, from its dtype (and its values for object columns).

    Text that holds dates is still `categorical` here; `mlgate.core.infer` recognises it.
    """
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype):
        # CSV readers give an object column for booleans with gaps (True, False, None).
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "boolean":
            return "boolean"
        if inferred in ("datetime", "datetime64", "date"):
            return "datetime"
        return "categorical"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    raise DataError(
        f"column {series.name!r} has dtype {dtype}, which a schema cannot describe",
        hint="convert it to a number, a date or a string, or give it role ignored in schema.yaml",
    )


def category_values(series: pd.Series[ColT]) -> pd.Series[str]:
    """A column's values as category strings, nulls kept: the form `categories` are written in.

    Integral floats are written without a decimal point, so a categorical code read as float
    because of a gap (`3.0`) matches the category `3`.
    """
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return cast("pd.Series[str]", series)
    if pd.api.types.is_float_dtype(dtype):
        values = cast("pd.Series[float]", series).dropna()
        if bool((values == values.round()).all()) and values.abs().max() < 2**53:
            return series.astype("Int64").astype("str").where(series.notna())
    # pandas 2 turns a missing value into the text 'None'/'nan'/'<NA>'; keep it missing.
    return series.astype("str").where(series.notna())
