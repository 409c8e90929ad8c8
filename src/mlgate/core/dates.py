"""Dates in data and requests: one parser, used by inference, the data gate and the model.

A date column arrives as text (a CSV, a JSON request) or already parsed (Parquet, pyarrow's CSV
reader). Both become timezone-naive UTC timestamps; what does not parse is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import pandas as pd

    from mlgate.core.frames import ColT

# Deferred imports: NumPy, pandas and SciPy load on first use. The release controller and the model
# server import this module for its types and thresholds, and the server runs without pandas or
# SciPy (the train extra, which the serving image does not install).

ISO = "ISO8601"


def parse_dates(series: pd.Series[ColT], fmt: str | None) -> pd.Series[pd.Timestamp]:
    """Timestamps (naive UTC) from a column of dates or date strings; unparseable -> NaT."""
    import warnings

    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        parsed = cast("pd.Series[pd.Timestamp]", series)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.astype("datetime64[ns]")
    text = series.astype("object").where(series.notna(), None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format" for mixed input
        try:
            parsed = pd.to_datetime(text, format=fmt or ISO, errors="coerce", utc=True)
        except (ValueError, TypeError):
            parsed = pd.to_datetime(text, format="mixed", errors="coerce", utc=True)
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")
