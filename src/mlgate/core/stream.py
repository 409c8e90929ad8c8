"""Drift of data seen a piece at a time, against the reference profile.

`mlgate validate` tests a whole frame (`data.drift.column_drift`). The model server's live window
and `mlgate monitor`'s pass over a day of logs see data in pieces and cannot keep it all: a
`ColumnSketch` accumulates one feature in bounded memory, and `sketch_drift` gives the verdict
with the same test, threshold and decision rule as `column_drift` (the same method for the same
number of values, the same thresholds, the same wording):

- nulls and non-finite values are counted, never kept;
- discrete features (categorical, boolean, numeric with value counts in the profile): a count
  per value, exact;
- numeric features: the first `keep` values are kept as they are, so a column with at most
  `keep` values is tested exactly as `column_drift` tests it (KS on small samples). Past that, a
  histogram on a uniform grid over the reference range, with exact counts and sums below the
  reference minimum and above its maximum. The Wasserstein distance from it is within
  2 * (max - min) / bins of the exact one (both CDFs are taken as linear inside a bin; the tails
  are exact); `grid_bins` sizes the grid so that this is at most `GRID_ERROR` reference stds
  (5% of the default threshold) for every profile whose range spans up to 80 stds, and says
  the bound in the verdict when a wider range makes it larger. PSI uses the profile's own
  bins, counted exactly.

Sketches of the same feature merge (`merge`), so the monitor keeps one per time window and adds
them up for the whole period.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, cast

from mlgate.core import statistics as st
from mlgate.core.config import DriftConfig
from mlgate.core.drift import DEFAULT_THRESHOLDS, ColumnDrift, _pick_method, judged, skipped
from mlgate.core.profile import CategoricalProfile, NumericProfile, value_key

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from mlgate.core.frames import Values

    FloatArray = npt.NDArray[np.float64]

# Deferred imports: NumPy, pandas and SciPy load on first use. The release controller and the model
# server import this module for its types and thresholds, and the server runs without pandas or
# SciPy (the train extra, which the serving image does not install).

GRID_ERROR = 0.005
# Reference CDF at a sketch grid's edges, by (profile object, bins); the profile object is kept
# so that a recycled id cannot return another feature's values.
_REFERENCE_AT_EDGES: dict[tuple[int, int], tuple[object, FloatArray]] = {}
MIN_BINS = 256
MAX_BINS = 16_384


def grid_bins(ref: NumericProfile) -> int:
    """Bins of the uniform grid over the reference range: error bound <= GRID_ERROR std."""
    if ref.min is None or ref.max is None or not ref.max > ref.min:
        return 1
    std = max(ref.std or 0.0, st.MIN_NORM_STD)
    wanted = math.ceil(2.0 * (ref.max - ref.min) / (GRID_ERROR * std))
    return max(MIN_BINS, min(MAX_BINS, wanted))


class ColumnSketch:
    """One feature's values, summarised in memory bounded by the grid and `keep`."""

    def __init__(
        self, ref: NumericProfile | CategoricalProfile, keep: int, psi: bool = True
    ) -> None:
        import numpy as np

        self.ref = ref
        self.keep = keep
        self.rows = 0
        self.nulls = 0
        self.count = 0
        self.discrete = isinstance(ref, CategoricalProfile) or ref.values is not None
        self.counts: Counter[str] = Counter()
        self.kept: list[FloatArray] | None = [] if isinstance(ref, NumericProfile) else None
        self.kept_count = 0
        self.bins = grid_bins(ref) if isinstance(ref, NumericProfile) else 0
        self.lo = ref.min if isinstance(ref, NumericProfile) and ref.min is not None else 0.0
        self.hi = ref.max if isinstance(ref, NumericProfile) and ref.max is not None else 0.0
        self.hist = np.zeros(self.bins, dtype=np.int64)
        self.below = [0, 0.0]  # count and sum of values under the reference minimum
        self.above = [0, 0.0]  # count and sum of values over the reference maximum
        # PSI's bins are the profile's deciles; counting them costs a search per value, so a
        # sketch that will not run PSI (`psi=False`) skips it.
        self.psi = psi
        edges = ref.hist_edges if isinstance(ref, NumericProfile) else ()
        self.psi_edges = np.asarray(edges, dtype=np.float64)
        self.psi_counts = np.zeros(len(edges) + 1, dtype=np.int64)

    # -- accumulating ----------------------------------------------------------------------------

    def add(self, values: Values) -> None:
        """Add values: float64 (NaN missing) for numeric features, objects (None) otherwise."""
        self.rows += int(values.size)
        if isinstance(self.ref, CategoricalProfile):
            found = _count(values)
            missing = found.pop(None, 0)
            for key in [k for k in found if isinstance(k, float) and math.isnan(k)]:
                missing += found.pop(key)
            self.nulls += missing
            if all(type(k) is str for k in found):
                self.counts.update(cast("Counter[str]", found))
            else:
                for k, n in found.items():
                    self.counts[_category(k)] += n
            self.count += sum(found.values())
            return
        self._add_numeric(values)

    def _add_numeric(self, values: Values) -> None:
        import numpy as np

        x = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(x)
        if not bool(finite.all()):
            x = x[finite]
        self.nulls += int(values.size - x.size)
        self.count += int(x.size)
        if x.size == 0:
            return
        if self.discrete:
            uniques, freq = np.unique(x, return_counts=True)
            for u, f in zip(uniques.tolist(), freq.tolist(), strict=True):
                self.counts[value_key(float(u))] += int(f)
        if self.kept is not None:
            if self.kept_count + x.size <= self.keep:
                self.kept.append(x.copy())
                self.kept_count += int(x.size)
            else:
                self.kept = None
        if self.psi and self.psi_edges.size:
            idx = np.searchsorted(self.psi_edges, x, side="left")
            self.psi_counts += np.bincount(idx, minlength=self.psi_counts.size)
        elif self.psi:
            self.psi_counts[0] += x.size
        low = x < self.lo
        high = x > self.hi
        if bool(low.any()):
            self.below[0] += int(low.sum())
            self.below[1] += float(x[low].sum())
        if bool(high.any()):
            self.above[0] += int(high.sum())
            self.above[1] += float(x[high].sum())
        inside = x[~(low | high)] if bool(low.any() or high.any()) else x
        if self.bins == 1:
            self.hist[0] += inside.size
            return
        scale = self.bins / (self.hi - self.lo)
        idx = ((inside - self.lo) * scale).astype(np.int64)
        np.minimum(idx, self.bins - 1, out=idx)
        self.hist += np.bincount(idx, minlength=self.bins)

    def merge(self, other: ColumnSketch) -> None:
        """Add another sketch of the same feature."""
        self.rows += other.rows
        self.nulls += other.nulls
        self.count += other.count
        self.counts.update(other.counts)
        if self.kept is not None and other.kept is not None:
            if self.kept_count + other.kept_count <= self.keep:
                self.kept.extend(other.kept)
                self.kept_count += other.kept_count
            else:
                self.kept = None
        else:
            self.kept = None
        self.hist += other.hist
        self.psi_counts += other.psi_counts
        self.below = [self.below[0] + other.below[0], self.below[1] + other.below[1]]
        self.above = [self.above[0] + other.above[0], self.above[1] + other.above[1]]

    # -- reading ---------------------------------------------------------------------------------

    @property
    def exact(self) -> bool:
        """True when every value is kept (numeric features), so the tests run on raw values."""
        return self.kept is not None

    def values(self) -> FloatArray:
        """The kept values, sorted (only when `exact`)."""
        import numpy as np

        if self.kept is None:
            raise ValueError("the sketch no longer holds every value")
        return np.sort(np.concatenate(self.kept)) if self.kept else np.empty(0)

    def cdf_at_edges(self) -> tuple[FloatArray, FloatArray]:
        """Grid edges and the current CDF at each (values at or below the edge's bin)."""
        import numpy as np

        edges = np.linspace(self.lo, self.hi, self.bins + 1)
        cum = np.concatenate(([self.below[0]], self.below[0] + np.cumsum(self.hist)))
        return edges, cum / max(self.count, 1)

    def wasserstein(self, quantiles: FloatArray) -> float:
        """W1 between the current values (this histogram) and the reference quantiles."""
        import numpy as np

        n = max(self.count, 1)
        tails = (self.below[0] * self.lo - self.below[1]) / n
        tails += (self.above[1] - self.above[0] * self.hi) / n
        if self.bins == 1 or not self.hi > self.lo:
            # A constant reference: values inside its range equal it, only the tails count.
            return float(tails)
        edges, cur = self.cdf_at_edges()
        ref = self._reference_at_edges(quantiles, edges)
        d0 = cur[:-1] - ref[:-1]
        d1 = cur[1:] - ref[1:]
        width = np.diff(edges)
        same_side = d0 * d1 >= 0
        a0, a1 = np.abs(d0), np.abs(d1)
        total = a0 + a1
        crossing = np.divide(
            d0 * d0 + d1 * d1, 2 * total, out=np.zeros_like(total), where=~same_side
        )
        area = width * np.where(same_side, total / 2, crossing)
        return float(tails + area.sum())

    def _reference_at_edges(self, quantiles: FloatArray, edges: FloatArray) -> FloatArray:
        # The same for every sketch of a feature (one per time window): computed once.
        key = (id(self.ref), self.bins)
        cached = _REFERENCE_AT_EDGES.get(key)
        if cached is None or cached[0] is not self.ref:
            cached = (self.ref, st.reference_cdf(quantiles, edges)[0])
            if len(_REFERENCE_AT_EDGES) > 1024:
                _REFERENCE_AT_EDGES.clear()
            _REFERENCE_AT_EDGES[key] = cached
        return cached[1]

    def ks(self, quantiles: FloatArray) -> float:
        """Largest CDF gap at the grid edges (the histogram's resolution)."""
        import numpy as np

        edges, cur = self.cdf_at_edges()
        ref_right, _ = st.reference_cdf(quantiles, edges)
        return float(np.abs(cur - ref_right).max())

    @property
    def error_bound(self) -> float:
        """Bound on the normalised Wasserstein error of the histogram form."""
        if not isinstance(self.ref, NumericProfile) or self.bins <= 1:
            return 0.0
        std = max(self.ref.std or 0.0, st.MIN_NORM_STD)
        return 2.0 * (self.hi - self.lo) / self.bins / std


def _count(values: Values) -> Counter[object]:
    """Value counts (None kept as a key): pandas' hash table on large arrays, about three
    times faster than Counter; Counter where pandas is absent or the array is small."""
    if values.size >= 10_000:
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - the serving image may lack pandas
            pass
        else:
            counts = pd.Series(values, dtype=object).value_counts(dropna=False, sort=False)
            return Counter({None if k is None or k != k else k: int(v) for k, v in counts.items()})
    return Counter(values.tolist())


def _category(value: object) -> str:
    """A raw categorical value in the schema's string form (integral floats without `.0`)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def pick_method(forced: str, discrete: bool, small: bool) -> tuple[st.Method, str]:
    """The test for a column, as `column_drift` picks it, and a note when `forced` cannot run."""
    # The same function, not a copy: a change to how validate picks reaches the monitor too.
    return _pick_method(forced, discrete, small)


def sketch_drift(
    name: str, ref: NumericProfile | CategoricalProfile, sketch: ColumnSketch, config: DriftConfig
) -> ColumnDrift:
    """Test one feature's sketch against its reference profile, as `column_drift` tests a column."""
    import numpy as np

    null_fraction = sketch.nulls / sketch.rows if sketch.rows else 0.0
    if ref.kind == "datetime":
        return skipped(name, ref, "dates move forward by design", null_fraction)
    if ref.count == 0:
        return skipped(name, ref, "the reference has no non-null values", null_fraction)
    count = sketch.count
    if count == 0:
        return skipped(name, ref, "no non-null values in the current data", null_fraction)
    discrete = sketch.discrete
    method, note = pick_method(config.method, discrete, count <= config.small_sample)
    threshold = config.threshold if config.threshold is not None else DEFAULT_THRESHOLDS[method]
    unseen: list[str] = []
    unseen_share = 0.0
    statistic: float
    if method in ("chisquare", "jensenshannon") or (method == "psi" and discrete):
        reference_counts = ref.counts if isinstance(ref, CategoricalProfile) else ref.values
        assert reference_counts is not None  # discrete numerics carry value counts
        statistic, unseen, unseen_share = st.compare_counts(method, reference_counts, sketch.counts)
    else:
        assert isinstance(ref, NumericProfile)  # only numeric columns reach ks/wasserstein/psi
        quantiles = np.asarray(ref.quantiles, dtype=np.float64)
        if method == "psi":
            if not sketch.psi:
                raise ValueError("this sketch was made without PSI counts (psi=False)")
            statistic = st.psi(
                np.asarray(ref.hist_counts, float), sketch.psi_counts.astype(np.float64)
            )
        elif method == "ks":
            values = sketch.values() if sketch.exact else None
            d = st.ks_statistic(quantiles, values) if values is not None else sketch.ks(quantiles)
            statistic = st.ks_pvalue(d, ref.count, count)
            note += f"D={d:.4g}. "
        else:
            norm = max(ref.std or 0.0, st.MIN_NORM_STD)
            if sketch.exact:
                statistic = st.wasserstein_distance(quantiles, sketch.values()) / norm
            else:
                statistic = sketch.wasserstein(quantiles) / norm
                if sketch.error_bound > GRID_ERROR:
                    note += f"(histogram form, within {sketch.error_bound:.2g}). "
    return judged(
        name, ref, method, (statistic, threshold), note, (unseen, unseen_share), count,
        null_fraction,
    )  # fmt: skip


def unseen_count(ref: NumericProfile | CategoricalProfile, sketch: ColumnSketch) -> int:
    """Values of a categorical feature that the reference never saw."""
    if not isinstance(ref, CategoricalProfile):
        return 0
    return sum(n for k, n in sketch.counts.items() if k not in ref.counts)
