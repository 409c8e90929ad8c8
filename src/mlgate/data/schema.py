"""The data schema: what every column of the data (and every serving input) must look like.

This module holds the pure model and its file format; it imports neither pandas nor pandera
at import time, because the model server reads the same schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlgate import atomic
from mlgate.errors import DataError, describe

if TYPE_CHECKING:
    import pandas as pd

ColumnKind = Literal["numeric", "integer", "boolean", "categorical"]
Role = Literal["feature", "target", "ignored"]


class ColumnSpec(BaseModel):
    """One column: its kind, whether it may be null, its range or its categories."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: ColumnKind
    role: Role = "feature"
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = Field(
        default=None, description="Allowed values of a categorical column, as strings."
    )


class Schema(BaseModel):
    """Every column of the data file, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    columns: tuple[ColumnSpec, ...]

    @property
    def features(self) -> tuple[ColumnSpec, ...]:
        """The columns the model reads, in training order."""
        return tuple(c for c in self.columns if c.role == "feature")

    @property
    def target(self) -> ColumnSpec | None:
        """The target column, when the schema describes training data."""
        return next((c for c in self.columns if c.role == "target"), None)

    def column(self, name: str) -> ColumnSpec:
        """The spec of one column; KeyError when the schema does not have it."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def write_schema(schema: Schema, path: Path) -> None:
    """Write a schema as YAML (or JSON for a .json path), atomically."""
    import json

    import yaml

    data = schema.model_dump(mode="json", exclude_none=True)
    if path.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = (
            "# Data schema: commit this file. Regenerate with `mlgate schema infer`.\n"
            "# Inferred ranges are the observed ones widened by half their span (never across\n"
            "# zero): they catch impossible values; drift checks catch shifts.\n"
            "# Edit them for hard limits.\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        )
    atomic.write_text(path, text)


def read_schema(path: Path) -> Schema:
    """Read a schema file; a missing or invalid file is a DataError naming it."""
    import json

    import yaml

    if not path.is_file():
        raise DataError(
            f"schema file not found: {path}",
            hint="run `mlgate schema infer` and commit the file",
        )
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return Schema.model_validate(raw)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise DataError(
            f"invalid schema file {path}: {describe(exc)}",
            hint="regenerate it with `mlgate schema infer`",
        ) from None


def column_kind(series: pd.Series) -> ColumnKind:
    """The schema kind of a pandas column, from its dtype (and its values for object columns)."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "numeric"
    if pd.api.types.is_object_dtype(dtype):
        # CSV readers give an object column for booleans with gaps (True, False, None).
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "boolean":
            return "boolean"
        return "categorical"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    raise DataError(
        f"column {series.name!r} has dtype {dtype}, which a schema cannot describe",
        hint="convert it to a number or a string, or list it under data.drop in mlgate.yaml",
    )


def category_values(series: pd.Series) -> pd.Series:
    """A column's values as category strings, nulls kept: the form `categories` are written in.

    Integral floats are written without a decimal point, so a categorical code read as float
    because of a gap (`3.0`) matches the category `3`.
    """
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return series
    if pd.api.types.is_float_dtype(dtype):
        values = series.dropna()
        if bool((values == values.round()).all()) and values.abs().max() < 2**53:
            return series.astype("Int64").astype("str")
    return series.astype("str")


RANGE_MARGIN = 0.5


def _plausible_range(low: float, high: float) -> tuple[float, float]:
    """Widen an observed range so that it flags garbage, not the next sample's extremes.

    A fresh sample of the same distribution routinely lands just outside the training
    extremes; shifts of that size are the drift check's business. The schema's bounds are for
    impossible values (a negative count, a price in cents), so each side grows by half the
    observed span and never crosses zero when the data did not. Edit the file for hard limits.
    """
    import math

    margin = RANGE_MARGIN * (high - low)
    wide_low, wide_high = low - margin, high + margin
    if low >= 0 > wide_low:
        wide_low = 0.0
    if high <= 0 < wide_high:
        wide_high = 0.0
    if high - low >= 10:  # round outward to whole numbers where that cannot matter
        return float(math.floor(wide_low)), float(math.ceil(wide_high))
    return wide_low, wide_high


def infer_schema(df: pd.DataFrame, *, target: str | None, drop: Sequence[str] = ()) -> Schema:
    """Describe every column of a frame: kind, role, nullability, range or categories.

    Ignored columns (`drop`) keep only their kind and nullability: ids and free text would
    otherwise pin every value seen in training as the only allowed ones.
    """
    import numpy as np

    for key, names in (("target", [] if target is None else [target]), ("drop", list(drop))):
        for name in names:
            if name not in df.columns:
                raise DataError(
                    f"{key} column {name!r} is not in the data "
                    f"(columns: {', '.join(map(str, df.columns))})",
                    hint=f"fix data.{key} in mlgate.yaml",
                )
    dropped = set(drop)
    specs = []
    for name in df.columns:
        series = df[name]
        kind = column_kind(series)
        role: Role = "target" if name == target else "ignored" if name in dropped else "feature"
        low = high = None
        categories = None
        if role != "ignored" and kind in ("numeric", "integer"):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = values[np.isfinite(values)]
            if finite.size:
                low, high = _plausible_range(float(finite.min()), float(finite.max()))
        elif role != "ignored" and kind == "categorical":
            categories = tuple(sorted(category_values(series).dropna().unique().tolist()))
        specs.append(
            ColumnSpec(
                name=str(name),
                kind=kind,
                role=role,
                nullable=bool(series.isna().any()),
                min=low,
                max=high,
                categories=categories,
            )
        )
    return Schema(columns=tuple(specs))
