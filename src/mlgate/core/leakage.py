"""Leakage warnings: a single column that alone predicts the target almost perfectly, or a file
whose row order does.

Each candidate is scored by the simplest model there is: cut it into bins (its own values when
there are few, quantiles otherwise), predict each bin's majority class (or mean), and score
that on the other half of the rows (two-fold, both ways). Balanced accuracy for classes, R² for
numbers. A real feature rarely scores near 1 alone; a copy of the target, an outcome recorded
after the fact, or a row number in a file sorted by the target does.

It runs on a fixed sample of at most `SAMPLE` labelled rows, so it costs the same on a million
rows as on twenty thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mlgate.core.dates import parse_dates
from mlgate.core.schema import ColumnSpec

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from mlgate.core.frames import ColT, Values

SAMPLE = 20_000
MIN_ROWS = 30
BINS = 50
# Scores at or above these are "almost perfect".
CLASS_SCORE = 0.97
REGRESSION_SCORE = 0.98


def _codes(column: pd.Series[ColT], kind: str) -> npt.NDArray[np.int64]:
    """Bin codes 0..BINS for a column: its most common values (categories) or quantile bins
    (numbers with many values); everything else, missing included, shares the last code."""

    # A date column is binned by its nanoseconds since 1970, a different dtype.
    series: pd.Series[ColT] | pd.Series[int] = column
    if kind == "datetime":
        series = parse_dates(column, None).astype("int64").where(column.notna())
    categorical = kind in ("categorical", "boolean") or not pd.api.types.is_numeric_dtype(
        series.dtype
    )
    if categorical or series.nunique(dropna=True) <= BINS:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        codes = np.asarray(codes)
        if len(uniques) > BINS:
            # Rare values tell nothing in two folds: keep the BINS most common.
            top = np.argsort(np.bincount(codes[codes >= 0]))[::-1][:BINS]
            remap = np.full(len(uniques), -1)
            remap[top] = np.arange(top.size)
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    else:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = np.isfinite(values)
        edges = np.unique(np.quantile(values[finite], np.linspace(0, 1, BINS + 1)[1:-1]))
        codes = np.where(finite, np.searchsorted(edges, values, side="right"), -1)
    return np.where(codes < 0, BINS, codes).astype(np.int64)


def _two_fold(codes: npt.NDArray[np.int64], y: Values, classify: bool) -> float:
    """Balanced accuracy (classes) or R² (numbers) of per-bin majority/mean, two-fold."""

    n = len(y)
    groups = BINS + 1
    half = np.arange(n) % 2 == 0
    if classify:
        # `y` holds class codes 0..k-1.
        y_codes = y
        k = int(y.max()) + 1
        pred = np.empty(n, dtype=np.int64)
        for train in (half, ~half):
            counts = np.bincount(codes[train] * k + y_codes[train], minlength=groups * k).reshape(
                groups, k
            )
            majority = counts.argmax(axis=1)
            overall = int(np.bincount(y_codes[train], minlength=k).argmax())
            majority[counts.sum(axis=1) == 0] = overall
            pred[~train] = majority[codes[~train]]
        recalls = [float(np.mean(pred[y_codes == c] == c)) for c in range(k)]
        return float(np.mean(recalls))
    yf = y.astype(np.float64)
    predf = np.empty(n, dtype=np.float64)
    for train in (half, ~half):
        sums = np.bincount(codes[train], weights=yf[train], minlength=groups)
        counts = np.bincount(codes[train], minlength=groups)
        means = np.where(counts > 0, sums / np.maximum(counts, 1), yf[train].mean())
        predf[~train] = means[codes[~train]]
    sst = float(((yf - yf.mean()) ** 2).sum())
    return 1.0 - float(((yf - predf) ** 2).sum()) / sst if sst > 0 else 0.0


def find_leaks(
    df: pd.DataFrame, target: str, columns: Sequence[ColumnSpec], *, classify: bool
) -> list[str]:
    """Warnings naming each column (among `columns`) that alone predicts `target` almost
    perfectly, and the row order when it does."""

    has_target = df[target].notna().to_numpy()
    labelled_at = np.flatnonzero(has_target)
    rows = labelled_at.size
    if rows < MIN_ROWS:
        return []
    keep = np.arange(rows)
    if rows > SAMPLE:
        keep = np.sort(np.random.default_rng(0).choice(rows, SAMPLE, replace=False))
    sample = df.iloc[labelled_at[keep]]
    if sample[target].nunique() < 2:
        return []

    y = sample[target].to_numpy()
    if classify:
        y = np.asarray(pd.factorize(sample[target])[0], dtype=np.int64)
    limit = CLASS_SCORE if classify else REGRESSION_SCORE
    score_name = "balanced accuracy" if classify else "R²"
    warnings: list[str] = []
    for spec in columns:
        if spec.name not in sample.columns or spec.name == target:
            continue
        score = _two_fold(_codes(sample[spec.name], spec.kind), y, classify)
        if score >= limit:
            role = "a feature" if spec.role == "feature" else f"role {spec.role}, not used"
            warnings.append(
                f"possible leak: column {spec.name!r} ({role}) alone predicts "
                f"{target!r} with {score_name} {score:.3f}; is it known before the outcome?"
            )
    # Row order: contiguous blocks of the file, as if the row number were a feature.
    position = np.minimum(keep * BINS // rows, BINS - 1).astype(np.int64)
    score = _two_fold(position, y, classify)
    if score >= limit:
        counters = [c.name for c in columns if c.role == "id" and "row" in (c.why or "")]
        named = f"; {', '.join(map(repr, counters))} counts the rows" if counters else ""
        warnings.append(
            f"possible leak: the file is sorted by {target!r} (row position alone predicts it "
            f"with {score_name} {score:.3f}){named}: a row number or anything in file order "
            "leaks it; keep such columns out of the features"
        )
    return warnings
