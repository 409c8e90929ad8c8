"""The reference profile: what the training features looked like, in numbers only.

Monitoring compares live traffic with this profile and never sees the raw training data, so the
profile must carry everything the drift tests need:

- numeric, integer and boolean features: count, mean, std, min, max, `QUANTILE_POINTS` evenly
  spaced quantiles, and a histogram on fixed bins (reference deciles) for PSI. Booleans are
  profiled as 0/1. Features with at most `DISCRETE_MAX_VALUES` distinct values also keep their
  value counts, because Evidently tests such columns like categories;
- categorical features: the count of every category.

Quantile resolution. Between two stored quantiles the reference CDF is taken as linear, so it
is off by less than one quantile step, 1/1000 with 1001 points. That is 2% of the smallest KS
critical value we ever compare with (1.36·sqrt(1/1000 + 1/n) ≥ 0.043 for a current sample of
at most 1000 rows), and the Wasserstein error is bounded by range/1000 and in practice far
below (about 1e-3 std for a normal sample), against a drift threshold of 0.1 std. 1001 points
cost about 20 kB of JSON per feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, cast

from pydantic import Field, model_validator

from mlgate.core.frozen import Frozen
from mlgate.core.schema import Schema, category_values
from mlgate.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from mlgate.core.frames import ColT

# Deferred imports: NumPy, pandas and SciPy load on first use. The release controller and the model
# server import this module for its types and thresholds, and the server runs without pandas or
# SciPy (the train extra, which the serving image does not install).

QUANTILE_POINTS = 1001
HISTOGRAM_BINS = 10
DISCRETE_MAX_VALUES = 5
PROFILE_VERSION = 1


class NumericProfile(Frozen):
    """A numeric, integer, boolean or datetime feature; statistics over its finite non-null
    values (datetimes as seconds since 1970)."""

    kind: Literal["numeric", "integer", "boolean", "datetime"]
    null_fraction: float = Field(ge=0.0, le=1.0)
    count: int = Field(ge=0, description="Finite non-null values.")
    mean: float | None = None
    std: float | None = Field(default=None, description="Population std (ddof=0), as Evidently.")
    min: float | None = None
    max: float | None = None
    quantiles: tuple[float, ...] = Field(
        default=(), description="Evenly spaced quantiles from 0 to 1 (linear interpolation)."
    )
    hist_edges: tuple[float, ...] = Field(
        default=(), description="Inner bin edges; the outer bins are open-ended."
    )
    hist_counts: tuple[int, ...] = Field(
        default=(), description="len(hist_edges) + 1 counts; bin i is (edge[i-1], edge[i]]."
    )
    values: dict[str, int] | None = Field(
        default=None, description="Value counts, kept when there are few distinct values."
    )

    @model_validator(mode="after")
    def _consistent(self) -> NumericProfile:
        if self.count and len(self.quantiles) < 2:
            raise ValueError("a feature with values needs at least 2 quantiles")
        if self.hist_counts and len(self.hist_counts) != len(self.hist_edges) + 1:
            raise ValueError("hist_counts needs one more entry than hist_edges")
        return self


class CategoricalProfile(Frozen):
    """A categorical feature: how often each category occurs."""

    kind: Literal["categorical"]
    null_fraction: float = Field(ge=0.0, le=1.0)
    count: int = Field(ge=0, description="Non-null values.")
    counts: dict[str, int]


FeatureProfile = Annotated[NumericProfile | CategoricalProfile, Field(discriminator="kind")]


class Profile(Frozen):
    """The reference profile of the training features, in training order."""

    version: int = PROFILE_VERSION
    rows: int = Field(ge=0)
    features: dict[str, FeatureProfile]
    target_null_fraction: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Share of rows without a target value."
    )

    def select(self, names: list[str]) -> Profile:
        """The same profile restricted to `names` (in their order); unknown names are skipped."""
        kept = {name: self.features[name] for name in names if name in self.features}
        return self.model_copy(update={"features": kept})


def numeric_values(series: pd.Series[ColT]) -> npt.NDArray[np.float64]:
    """The finite non-null values of a column as float64 (booleans as 0/1, text parsed)."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        # `dtype=np.float64` fixes what the stubs leave open (floating of any width, or bool).
        values = cast("npt.NDArray[np.float64]", series.to_numpy(dtype=np.float64, na_value=np.nan))
    elif pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        values = cast(
            "npt.NDArray[np.float64]",
            series.astype("boolean").to_numpy(dtype=np.float64, na_value=np.nan),
        )
    else:
        # A numeric column with a stray string: the schema check reports the strings; drift
        # still measures the values that do parse.
        values = pd.to_numeric(series.astype("object"), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    finite = np.isfinite(values)
    return values if bool(finite.all()) else values[finite]


def value_key(value: float) -> str:
    """The key of a numeric value in value counts: integral values without a decimal point."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def quantiles_of_sorted(sorted_values: npt.NDArray[np.float64], points: int) -> list[float]:
    """`points` evenly spaced quantiles (numpy's default linear method) of sorted values."""
    import numpy as np

    n = sorted_values.size
    positions = np.linspace(0.0, 1.0, points) * (n - 1)
    return [float(v) for v in np.interp(positions, np.arange(n), sorted_values)]


def histogram_counts(
    values: npt.NDArray[np.float64], edges: tuple[float, ...] | list[float]
) -> list[int]:
    """Counts in the bins cut at `edges`: bin i holds edges[i-1] < v <= edges[i]."""
    import numpy as np

    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    return [int(c) for c in np.bincount(index, minlength=len(edges) + 1)]


def datetime_seconds(series: pd.Series[ColT], fmt: str | None) -> pd.Series[float]:
    """A date column as float seconds since 1970 (NaN where missing or unparseable)."""
    import numpy as np
    import pandas as pd

    from mlgate.core.dates import parse_dates

    parsed = parse_dates(series, fmt)
    seconds = parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    return pd.Series(np.where(parsed.isna().to_numpy(), np.nan, seconds), index=series.index)


def _numeric_profile(
    series: pd.Series[ColT], kind: Literal["numeric", "integer", "boolean", "datetime"]
) -> NumericProfile:
    import numpy as np

    rows = len(series)
    values = np.sort(numeric_values(series))
    null_fraction = 1.0 - values.size / rows if rows else 0.0
    if values.size == 0:
        return NumericProfile(kind=kind, null_fraction=null_fraction, count=0)
    deciles = quantiles_of_sorted(values, HISTOGRAM_BINS + 1)[1:-1]
    edges = sorted(set(deciles))
    # The values are sorted: a bin's count is the difference of two positions, not a search
    # of every value among the edges.
    at = np.searchsorted(values, np.asarray(edges, dtype=np.float64), side="right")
    hist = np.diff(np.concatenate([[0], at, [values.size]]))
    distinct = int(np.count_nonzero(np.diff(values))) + 1
    counts = None
    if kind == "boolean" or distinct <= DISCRETE_MAX_VALUES:
        uniques, freq = np.unique(values, return_counts=True)
        counts = {value_key(float(u)): int(f) for u, f in zip(uniques, freq, strict=True)}
    return NumericProfile(
        kind=kind,
        null_fraction=null_fraction,
        count=int(values.size),
        mean=float(values.mean()),
        std=float(values.std()),
        min=float(values[0]),
        max=float(values[-1]),
        quantiles=tuple(quantiles_of_sorted(values, QUANTILE_POINTS)),
        hist_edges=tuple(edges),
        hist_counts=tuple(int(c) for c in hist),
        values=counts,
    )


def _categorical_profile(series: pd.Series[ColT]) -> CategoricalProfile:
    rows = len(series)
    counts = category_values(series).value_counts(dropna=True, sort=False)
    total = int(counts.sum())
    return CategoricalProfile(
        kind="categorical",
        null_fraction=1.0 - total / rows if rows else 0.0,
        count=total,
        counts={str(k): int(v) for k, v in sorted(counts.items())},
    )


def build_profile(df: pd.DataFrame, schema: Schema) -> Profile:
    """Profile the schema's features in `df` (the reference data)."""
    features: dict[str, NumericProfile | CategoricalProfile] = {}
    for spec in schema.features:
        if spec.name not in df.columns:
            raise DataError(
                f"feature {spec.name!r} of the schema is not in the data",
                hint="regenerate the schema with `mlgate schema infer`",
            )
        series = df[spec.name]
        if spec.kind == "categorical":
            features[spec.name] = _categorical_profile(series)
        elif spec.kind == "datetime":
            seconds = datetime_seconds(series, spec.format)
            features[spec.name] = _numeric_profile(seconds, "datetime")
        else:
            features[spec.name] = _numeric_profile(series, spec.kind)
    target = schema.target
    target_nulls = None
    if target is not None and target.name in df.columns and len(df):
        target_nulls = float(df[target.name].isna().mean())
    return Profile(rows=len(df), features=features, target_null_fraction=target_nulls)
