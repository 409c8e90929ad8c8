"""Statistics over counts, pure functions: the canary analysis's, the monitor's score
histograms, and the ticks of a plot's axis.

histogram_quantile      Prometheus' `histogram_quantile` over cumulative bucket counts
latency_greater         whether one latency histogram is higher than another beyond chance
                        (one-sided Mann-Whitney on the buckets, ties within a bucket)

distribution_distance   Jensen-Shannon distance or PSI between two count vectors, with
                        `mlgate.core.drift`'s functions (the data gate's statistics)
g_test                  whether two count vectors differ beyond chance (p < SIGNIFICANCE)
latency_quantile        the latency quantile a window of n requests resolves

score_histogram         rows and (expected) positives per score bin, for a binned ROC AUC
binned_auc              ROC AUC from such a histogram
nice_ticks              round, distinct tick values that cover a range (1, 2, 5 x 10^k apart)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist
from typing import TYPE_CHECKING

from mlgate.core.statistics import jensenshannon_distance, psi

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

# Deferred imports: NumPy, pandas and SciPy load on first use. The release controller and the model
# server import this module for its types and thresholds, and the server runs without pandas or
# SciPy (the train extra, which the serving image does not install).

SIGNIFICANCE = 0.01
TAIL_REQUESTS = 5


def latency_quantile(requests: float) -> float:
    """p99 when `requests` resolve it, else the quantile with TAIL_REQUESTS above it."""
    if requests <= 0:
        return 0.99
    return min(0.99, max(0.5, 1.0 - TAIL_REQUESTS / requests))


# --- statistics --------------------------------------------------------------------------------


# Counts from Prometheus are fractional (`increase()` extrapolates); below this they are zero.
MIN_COUNT = 1e-9


def _count(m: Mapping[str, float], key: str) -> float:
    value = m.get(key, 0.0)
    return value if value >= MIN_COUNT else 0.0


def _aligned(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[float], list[float]]:
    """Both count vectors on the keys either one has counts for, in one order."""
    keys = sorted(k for k in set(a) | set(b) if _count(a, k) + _count(b, k) > 0)
    return [_count(a, k) for k in keys], [_count(b, k) for k in keys]


def distribution_distance(
    stable: Mapping[str, float], canary: Mapping[str, float], method: str
) -> float:
    """Jensen-Shannon distance or PSI between two count vectors keyed by class or bucket."""
    import numpy as np

    a, b = _aligned(stable, canary)
    if len(a) == 0 or sum(a) <= 0 or sum(b) <= 0:
        return 0.0
    ref, cur = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return jensenshannon_distance(ref, cur) if method == "jensenshannon" else psi(ref, cur)


def g_test(stable: Mapping[str, float], canary: Mapping[str, float]) -> tuple[float, float]:
    """G statistic of the 2 x k table (homogeneity) and its critical value at SIGNIFICANCE.

    The critical chi-square value comes from the Wilson-Hilferty approximation (within 1% of
    the exact quantile from one degree of freedom up), so no SciPy is needed where the model
    image runs the analysis.
    """
    a, b = _aligned(stable, canary)
    k = len(a)
    n_a, n_b = sum(a), sum(b)
    if k < 2 or n_a <= 0 or n_b <= 0:
        return 0.0, math.inf
    total = n_a + n_b
    g = 0.0
    for x, y in zip(a, b, strict=True):
        col = x + y
        for observed, row in ((x, n_a), (y, n_b)):
            if observed > 0:
                g += observed * math.log(observed / (row * col / total))
    df = k - 1
    z = NormalDist().inv_cdf(1.0 - SIGNIFICANCE)
    h = 2.0 / (9.0 * df)
    critical = df * (1.0 - h + z * math.sqrt(h)) ** 3
    return 2.0 * g, critical


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' `histogram_quantile` over cumulative bucket counts keyed by `le`."""
    edges = sorted(buckets)
    if not edges or buckets[edges[-1]] <= 0:
        return None
    total = buckets[edges[-1]]
    rank = q * total
    below_edge, below_count = 0.0, 0.0
    for edge in edges:
        count = buckets[edge]
        if count >= rank:
            if math.isinf(edge):
                return below_edge
            if count == below_count:
                return edge
            return below_edge + (edge - below_edge) * (rank - below_count) / (count - below_count)
        below_edge, below_count = edge, count
    return below_edge


def per_bucket(cumulative: Mapping[float, float]) -> dict[float, float]:
    """Counts per bucket (upper bound -> count in it) from cumulative `le` counts."""
    out: dict[float, float] = {}
    below = 0.0
    for edge in sorted(cumulative):
        total = cumulative[edge]
        out[edge] = max(0.0, total - below)
        below = max(below, total)
    return out


def latency_greater(candidate: Mapping[float, float], incumbent: Mapping[float, float]) -> float:
    """One-sided p-value that the candidate's latencies are higher than the incumbent's:
    Mann-Whitney U over per-bucket counts (requests in one bucket tie), normal approximation
    with the tie correction. 1.0 when there is nothing to compare."""
    edges = sorted(set(candidate) | set(incumbent))
    c = [max(0.0, candidate.get(e, 0.0)) for e in edges]
    s = [max(0.0, incumbent.get(e, 0.0)) for e in edges]
    n1, n2 = sum(c), sum(s)
    n = n1 + n2
    if n1 < 1 or n2 < 1 or n < 3:
        return 1.0
    u = 0.0
    below = 0.0
    for ci, si in zip(c, s, strict=True):
        u += ci * (below + 0.5 * si)
        below += si
    ties = sum((ci + si) ** 3 - (ci + si) for ci, si in zip(c, s, strict=True))
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    return 1.0 - NormalDist().cdf(z)


# --- score histograms (the monitor's ROC AUC, estimated and realised) ---------------------------

SCORE_BINS = 1000


def score_histogram(score: FloatArray, positive: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Rows and the sum of `positive` (a label, or a calibrated probability) per score bin."""
    import numpy as np

    idx = np.minimum((np.clip(score, 0.0, 1.0) * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)
    counts = np.bincount(idx, minlength=SCORE_BINS).astype(np.float64)
    pos = np.bincount(idx, weights=positive, minlength=SCORE_BINS).astype(np.float64)
    return counts, pos


def binned_auc(counts: FloatArray | None, positive: FloatArray | None) -> float | None:
    """ROC AUC from a score histogram: rows and (expected) positives per score bin."""
    import numpy as np

    if counts is None or positive is None:
        return None
    order = np.arange(counts.size)[::-1]
    tp = np.cumsum(positive[order])
    fp = np.cumsum((counts - positive)[order])
    if tp[-1] <= 0 or fp[-1] <= 0:
        return None
    tpr = np.r_[0.0, tp / tp[-1]]
    fpr = np.r_[0.0, fp / fp[-1]]
    return float(np.trapezoid(tpr, fpr))


# --- axis ticks ---------------------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """At most `most` (at least three: a range may straddle a tick) and at least two tick
    values, 1, 2 or 5 x 10^k apart, from at or below `lo` to at or above `hi`: distinct, and
    each a round number its label shows exactly."""
    most = max(most, 3)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"ticks of a range need finite ends, got {lo} and {hi}")
    if hi <= lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(most - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    while True:
        for mult in (1.0, 2.0, 5.0):
            step = mult * power
            first = math.floor(lo / step + 1e-9)
            last = max(math.ceil(hi / step - 1e-9), first + 1)
            if last - first + 1 <= most:
                # Rounded to the step's digits: 0.1 * 3 is 0.3, not 0.30000000000000004.
                digits = max(0, 1 - math.floor(math.log10(step)))
                return [round(k * step, digits) for k in range(first, last + 1)]
        power *= 10.0
