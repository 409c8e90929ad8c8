"""Training/serving skew: the values a server used against the same rows computed offline.

For one feature, the logged (served) values and the offline values of the same rows, joined on
request id and row, are compared two ways, as TFDV does:

- **feature skew**: the share of joined rows whose two values differ (numbers beyond a relative
  and an absolute tolerance, categories when unequal; missing on one side only differs);
- **distribution skew**: the distance between the two distributions, Jensen-Shannon for
  numbers (on shared histogram bins, missing values a bin of their own) and L-infinity for
  categories (the largest difference of one value's share).

A feature whose share or distance passes its threshold (`monitor.skew`) is an alert naming it.
Pure: arrays in, values out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from mlgate.core.frozen import Frozen
from mlgate.core.statistics import jensenshannon_distance

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    ObjectArray = npt.NDArray[np.object_]

BINS = 30
# Deferred imports: numpy, inside the functions as in core/statistics.py: the CLI loads the
# core's models (this SkewConfig among them) at start-up, and needs no numpy for that.


class SkewConfig(Frozen):
    """`monitor.skew`: when served and offline values of the same rows are too far apart."""

    max_share: float = Field(
        default=0.01, ge=0.0, le=1.0, description="Alert when more of the rows differ than this."
    )
    rtol: float = Field(default=1e-6, ge=0.0, description="Relative tolerance for numbers.")
    atol: float = Field(default=1e-9, ge=0.0, description="Absolute tolerance for numbers.")
    jensen_shannon: float = Field(
        default=0.1, gt=0.0, le=1.0, description="Alert above this distance (numbers)."
    )
    l_infinity: float = Field(
        default=0.1, gt=0.0, le=1.0, description="Alert above this distance (categories)."
    )


class FeatureSkew(Frozen):
    """One feature's skew over the joined rows."""

    name: str
    kind: Literal["numeric", "categorical"]
    rows: int = Field(description="Rows found in both the log and the offline file.")
    differing: int
    share: float
    distance: float
    distance_kind: Literal["jensen_shannon", "l_infinity"]
    threshold_share: float
    threshold_distance: float
    example: tuple[str, str] | None = Field(
        default=None, description="One differing pair: (served, offline), as text."
    )

    @property
    def failed(self) -> bool:
        return self.share > self.threshold_share or self.distance > self.threshold_distance


def numeric_skew(
    name: str, served: FloatArray, offline: FloatArray, cfg: SkewConfig
) -> FeatureSkew:
    """Feature skew and the Jensen-Shannon distance of two aligned float columns."""
    import numpy as np

    s_nan, o_nan = np.isnan(served), np.isnan(offline)
    both = ~s_nan & ~o_nan
    close = np.zeros(len(served), dtype=bool)
    close[both] = np.abs(served[both] - offline[both]) <= cfg.atol + cfg.rtol * np.abs(
        offline[both]
    )
    differ = ~((s_nan & o_nan) | close)
    finite = np.concatenate([served[~s_nan], offline[~o_nan]])
    if finite.size:
        edges = np.histogram_bin_edges(finite, bins=BINS)
        s_counts = np.append(np.histogram(served[~s_nan], edges)[0], s_nan.sum())
        o_counts = np.append(np.histogram(offline[~o_nan], edges)[0], o_nan.sum())
        distance = jensenshannon_distance(s_counts.astype(float), o_counts.astype(float))
    else:
        distance = 0.0
    return _skew(name, "numeric", differ, distance, cfg, served, offline)


def categorical_skew(
    name: str, served: ObjectArray, offline: ObjectArray, cfg: SkewConfig
) -> FeatureSkew:
    """Feature skew and the L-infinity distance of two aligned category columns (None or NaN:
    missing; values compared as text)."""
    import numpy as np
    import pandas as pd

    n = len(served)
    columns = []
    for values in (served, offline):  # as text (1 and "1" agree), missing left missing
        column = pd.Series(values, dtype=object)
        if pd.api.types.infer_dtype(column, skipna=True) not in ("string", "empty"):
            column = column.where(column.isna(), column.astype(str))
        columns.append(column)
    # One code per distinct value over both sides; missing is -1 on either.
    codes, uniques = pd.factorize(pd.concat(columns, ignore_index=True))
    s_codes, o_codes = codes[:n], codes[n:]
    differ = s_codes != o_codes
    distance = 0.0
    if n:
        bins = len(uniques) + 1
        s_share = np.bincount(s_codes + 1, minlength=bins) / n
        o_share = np.bincount(o_codes + 1, minlength=bins) / n
        distance = float(np.max(np.abs(s_share - o_share)))
    return _skew(name, "categorical", differ, distance, cfg, served, offline)


def _skew(
    name: str,
    kind: Literal["numeric", "categorical"],
    differ: npt.NDArray[np.bool_],
    distance: float,
    cfg: SkewConfig,
    served: FloatArray | ObjectArray,
    offline: FloatArray | ObjectArray,
) -> FeatureSkew:
    import numpy as np

    rows, differing = len(differ), int(differ.sum())
    example = None
    if differing:
        at = int(np.argmax(differ))
        example = (str(served[at]), str(offline[at]))
    numeric = kind == "numeric"
    return FeatureSkew(
        name=name,
        kind=kind,
        rows=rows,
        differing=differing,
        share=differing / rows if rows else 0.0,
        distance=distance,
        distance_kind="jensen_shannon" if numeric else "l_infinity",
        threshold_share=cfg.max_share,
        threshold_distance=cfg.jensen_shannon if numeric else cfg.l_infinity,
        example=example,
    )
