"""The types of data the core computes on: columns and per-row value arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from pandas._typing import SeriesDType

# A column's dtype is decided at run time (CSV, Parquet and JSON readers each choose), so a
# function that accepts any column is generic in it: `pd.Series[ColT]` accepts a Series of
# any dtype pandas allows, and one that hands the same column back keeps its dtype.
ColT = TypeVar("ColT", bound="SeriesDType")

# One value per row (true labels, predictions) as numpy holds them: strings, numbers or
# booleans, whichever the target column has.
Values: TypeAlias = "npt.NDArray[np.generic[object]]"
