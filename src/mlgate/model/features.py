"""Turn raw rows into the exact frame the fitted Pipeline was trained on.

Training and serving both go through `to_frame`, so a column means the same thing in both:
numbers as float64 (booleans as 0/1), categories as strings, dates as they came (text or
timestamps), missing values as NaN / None.

`DatetimeParts` is the Pipeline step that turns a date column into numbers: it lives inside the
fitted model, so a server that receives "2024-03-01" expands it exactly as training did.
`build_pipeline` puts the imputers, the scaler, the one-hot encoder and the date parts in front
of the estimator: the preprocessing of the one fitted Pipeline. Histogram gradient boosting
takes categories natively instead (`native_categories`): numbers pass as they are (missing
included: the trees learn where missing values go), each category becomes one ordinal code,
and the estimator is told which output columns hold codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from mlgate.core.config import Config
from mlgate.core.dates import parse_dates
from mlgate.core.schema import ColumnSpec
from mlgate.model.boost import boosted, category_codes

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# The parts a date is read as. The time of day only where training saw times.
DATE_PARTS = ("year", "month", "day", "day_of_week", "day_of_year")
TIME_PARTS = ("hour", "minute")
# Histogram gradient boosting bins a categorical feature by its codes, which must be below
# `max_bins` (at most 255): rarer categories beyond that share one code.
MAX_BINS = 255


class DatetimeParts(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Expand date columns (text or timestamps) into numeric parts: year, month, day, day of
    week, day of year, and hour and minute when training saw times; unparseable is NaN.

    `formats` holds each column's text format (strftime, or ISO8601), from the schema.
    """

    def __init__(self, formats: Sequence[str | None] = ()) -> None:
        self.formats = formats

    def fit(self, x: Any, y: Any = None) -> DatetimeParts:
        """Learn the columns and whether any carries a time of day."""
        frame = self._frame(x)
        self.n_features_in_ = frame.shape[1]
        self.with_time_ = []
        for i, name in enumerate(frame.columns):
            parsed = self._parse(frame[name], i)
            has_time = bool(((parsed.dt.hour != 0) | (parsed.dt.minute != 0)).fillna(False).any())
            self.with_time_.append(has_time)
        self.names_ = [str(c) for c in frame.columns]
        return self

    def _frame(self, x: Any) -> pd.DataFrame:

        return x if isinstance(x, pd.DataFrame) else pd.DataFrame(x)

    def _parse(self, series: pd.Series, i: int) -> pd.Series:
        fmt = self.formats[i] if i < len(self.formats) else None
        return parse_dates(series, fmt)

    def transform(self, x: Any) -> np.ndarray:
        """The numeric parts of every date column, side by side."""

        frame = self._frame(x)
        parts: list[np.ndarray] = []
        for i, name in enumerate(frame.columns):
            parsed = self._parse(frame[name], i)
            names = DATE_PARTS + (TIME_PARTS if self.with_time_[i] else ())
            for part in names:
                parts.append(getattr(parsed.dt, part).to_numpy(dtype=np.float64, na_value=np.nan))
        return np.column_stack(parts) if parts else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """`when__year`, `when__month`, ...: one name per part."""

        out = []
        for i, name in enumerate(self.names_):
            for part in DATE_PARTS + (TIME_PARTS if self.with_time_[i] else ()):
                out.append(f"{name}__{part}")
        return np.asarray(out, dtype=object)


def to_frame(data: pd.DataFrame, features: Sequence[ColumnSpec]) -> pd.DataFrame:
    """Select the feature columns in training order, with the dtypes the model expects."""

    out: dict[str, object] = {}
    for spec in features:
        col = data[spec.name]
        if spec.kind == "categorical" or (
            spec.kind == "datetime" and not pd.api.types.is_datetime64_any_dtype(col.dtype)
        ):
            values = col.astype(object)
            mask = values.isna().to_numpy()
            arr = values.map(str).to_numpy(dtype=object)
            arr[mask] = np.nan if spec.kind == "categorical" else None
            out[spec.name] = arr
        elif spec.kind == "datetime":
            out[spec.name] = col.to_numpy()
        else:
            out[spec.name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    # Object-dtype column labels: MLflow's signature code compares labels with a range, which
    # pandas 3 deprecates for its string dtype.
    return pd.DataFrame(out, index=data.index, columns=pd.Index(list(out), dtype=object))


def build_pipeline(config: Config, features: tuple[ColumnSpec, ...], estimator: Any) -> Any:
    """Impute + scale numerics, impute + one-hot categoricals, then the estimator: one Pipeline
    (for histogram gradient boosting, `native_categories` instead)."""

    numeric = [f.name for f in features if f.kind not in ("categorical", "datetime")]
    categorical = [f.name for f in features if f.kind == "categorical"]
    dates = [f for f in features if f.kind == "datetime"]
    boosting = hist_boosting(estimator)
    num: Any
    cat: Any
    if boosting is not None:
        num, cat = "passthrough", native_categories(config, boosting, len(numeric), categorical)
    elif boosted(estimator) is not None:  # LightGBM, XGBoost, CatBoost: see mlgate.model.boost
        num, cat = "passthrough", category_codes(config)
    else:
        num, cat = numeric_steps(config), Pipeline(one_hot_steps(config))
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numeric", num, numeric))
    if categorical:
        transformers.append(("categorical", cat, categorical))
    if dates:
        transformers.append(("datetime", date_steps(config, dates), [f.name for f in dates]))
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("estimator", estimator)])


def numeric_steps(config: Config) -> Any:
    """Numbers -> imputed -> standard-scaled (when `preprocess.scale`)."""
    pre = config.preprocess
    steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy=pre.numeric_impute, keep_empty_features=True))
    ]
    if pre.scale:
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps)


def one_hot_steps(config: Config) -> list[tuple[str, Any]]:
    """Categories -> imputed -> one column per frequent category."""
    pre = config.preprocess
    return [
        (
            "impute",
            SimpleImputer(
                strategy=pre.categorical_impute, fill_value="missing", keep_empty_features=True
            ),
        ),
        (
            "onehot",
            # Open categories: the frequent ones get a column each; rare and unseen values
            # share the infrequent column (all zeros when no category is rare).
            OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                min_frequency=pre.min_frequency if pre.min_frequency > 1 else None,
                max_categories=pre.max_categories,
                sparse_output=False,
            ),
        ),
    ]


def hist_boosting(estimator: Any) -> Any:
    """The histogram gradient-boosting estimator `estimator` is or wraps (a threshold tuner's),
    or None."""
    for candidate in (estimator, getattr(estimator, "estimator", None)):
        if isinstance(candidate, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
            return candidate
    return None


def native_categories(
    config: Config, boosting: Any, offset: int, categorical: list[str]
) -> OrdinalEncoder:
    """Categories as ordinal codes, and `boosting` told which output columns hold them.

    Missing values stay missing (NaN: the trees learn where they go), and so do values never
    seen in training; categories seen in fewer than `preprocess.min_frequency` rows share one
    code, as do the rarest beyond `preprocess.max_categories` or the estimator's `max_bins`
    (at most 255 codes per feature). The ColumnTransformer puts numbers first, then these
    codes, so they are columns `offset` to `offset + len(categorical) - 1`; a
    `categorical_features` that `model.params` sets is left as written.
    """
    pre = config.preprocess
    bins = min(int(boosting.max_bins), MAX_BINS)
    if categorical and "categorical_features" not in config.model.params:
        boosting.set_params(categorical_features=list(range(offset, offset + len(categorical))))
    return OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        min_frequency=pre.min_frequency if pre.min_frequency > 1 else None,
        max_categories=min(pre.max_categories or bins, bins),
    )


def date_steps(config: Config, dates: list[ColumnSpec]) -> Any:
    """Dates -> numeric parts (year, month, ...) -> imputed: a step of the fitted Pipeline."""

    return Pipeline(
        [
            ("parts", DatetimeParts(formats=tuple(f.format for f in dates))),
            (
                "impute",
                SimpleImputer(strategy=config.preprocess.numeric_impute, keep_empty_features=True),
            ),
        ]
    )
