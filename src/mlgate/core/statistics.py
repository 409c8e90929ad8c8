"""Drift statistics over a reference profile and current values: Kolmogorov-Smirnov and
Wasserstein against stored quantiles, chi-square, Jensen-Shannon and PSI over counts.

Pure functions of arrays; `mlgate.core.drift` picks one per column and turns it into a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

# Deferred imports: NumPy, pandas and SciPy load on first use. The release controller and the model
# server import this module for its types and thresholds, and the server runs without pandas or
# SciPy (the train extra, which the serving image does not install).

Method = Literal["ks", "chisquare", "wasserstein", "jensenshannon", "psi"]
# Evidently's guards: PSI replaces empty bins by this share; the Wasserstein norm is at least
# this std, so a constant reference column does not divide by zero.
PSI_EMPTY_SHARE = 1e-4
MIN_NORM_STD = 1e-3


# --- pure statistics ---------------------------------------------------------------------------


def reference_cdf(quantiles: FloatArray, points: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Right and left limits, at `points`, of the CDF through evenly spaced `quantiles`."""
    import numpy as np

    steps = quantiles.size - 1
    edges, first = np.unique(quantiles, return_index=True)
    last = np.append(first[1:] - 1, steps)
    j = np.searchsorted(edges, points, side="left")
    lo = np.clip(j - 1, 0, edges.size - 1)
    hi = np.clip(j, 0, edges.size - 1)
    width = edges[hi] - edges[lo]
    frac = np.divide(points - edges[lo], width, out=np.zeros_like(points), where=width > 0)
    inner = (last[lo] + frac * (first[hi] - last[lo])) / steps
    inner = np.where(j == 0, 0.0, np.where(j == edges.size, 1.0, inner))
    exact = edges[hi] == points
    return np.where(exact, last[hi] / steps, inner), np.where(exact, first[hi] / steps, inner)


def ks_statistic(quantiles: FloatArray, current_sorted: FloatArray) -> float:
    """Largest gap between the current empirical CDF and the reference CDF."""
    import numpy as np

    points = np.union1d(current_sorted, quantiles)
    m = current_sorted.size
    cur_right = np.searchsorted(current_sorted, points, side="right") / m
    cur_left = np.searchsorted(current_sorted, points, side="left") / m
    ref_right, ref_left = reference_cdf(quantiles, points)
    return float(max(np.abs(cur_right - ref_right).max(), np.abs(cur_left - ref_left).max()))


def ks_pvalue(statistic: float, n_reference: int, n_current: int) -> float:
    """Asymptotic two-sample KS p-value, as scipy's `ks_2samp(method="asymp")`."""
    from scipy.stats import kstwo

    effective = n_reference * n_current / (n_reference + n_current)
    return float(min(1.0, max(0.0, kstwo.sf(statistic, max(1, round(effective))))))


def wasserstein_distance(quantiles: FloatArray, current_sorted: FloatArray) -> float:
    """W1 between the current sample and the reference: the area between quantile functions."""
    import numpy as np

    m = current_sorted.size
    u_ref = np.linspace(0.0, 1.0, quantiles.size)
    if m >= quantiles.size:
        # Midpoint rule per current step: exact where the reference is linear and on one side
        # of the step, off by at most (max - min) / m in total; the profile itself is only
        # resolved to (max - min) / (quantile steps), so the exact form below (4x slower on a
        # million rows) would buy nothing.
        mid = (np.arange(m) + 0.5) / m
        return float(np.abs(current_sorted - np.interp(mid, u_ref, quantiles)).mean())
    u_cur = np.arange(m + 1) / m
    u = np.insert(u_cur, np.searchsorted(u_cur, u_ref), u_ref)
    ref = np.interp(u, u_ref, quantiles)
    width = np.diff(u)
    # The current quantile function is flat on (k/m, (k+1)/m]; the reference one is linear
    # between breakpoints, so each piece's area is exact, including where the two cross.
    k = np.minimum(((u[:-1] + u[1:]) * (m / 2)).astype(np.int64), m - 1)
    d0 = ref[:-1] - current_sorted[k]
    d1 = ref[1:] - current_sorted[k]
    a0, a1 = np.abs(d0), np.abs(d1)
    same_side = d0 * d1 >= 0
    total = a0 + a1
    crossing = np.divide(d0 * d0 + d1 * d1, 2 * total, out=np.zeros_like(total), where=~same_side)
    area = width * np.where(same_side, total / 2, crossing)
    return float(area.sum())


def chisquare_pvalue(reference: FloatArray, current: FloatArray) -> float:
    """Chi-square goodness of fit of current counts to the reference shares (aligned bins).

    A bin the reference never saw that current data fills is impossible under the reference:
    the p-value is 0.
    """
    import numpy as np
    from scipy.stats import chi2

    seen = reference > 0
    if bool((current[~seen] > 0).any()):
        return 0.0
    expected = reference[seen] / reference.sum() * current.sum()
    dof = int(seen.sum()) - 1
    if dof < 1:
        return 1.0
    statistic = float(np.sum((current[seen] - expected) ** 2 / expected))
    return float(chi2.sf(statistic, dof))


def jensenshannon_distance(reference: FloatArray, current: FloatArray) -> float:
    """Jensen–Shannon distance (natural log) between two count or share vectors."""
    import numpy as np

    p = reference / reference.sum()
    q = current / current.sum()
    total = p + q
    # log(p / mid) as log1p((p - q) / (p + q)): no ratio of two nearly equal numbers rounded
    # before its log, so two equal distributions whose shares differ by rounding (1e-17) are
    # about 1e-15 apart, not 1e-8 (the square root lifts the divergence's rounding).
    d = np.divide(p - q, total, out=np.zeros_like(total), where=total > 0)
    a, b = p > 0, q > 0
    divergence = np.sum(p[a] * np.log1p(d[a])) + np.sum(q[b] * np.log1p(-d[b]))
    return math.sqrt(max(0.0, float(divergence) / 2))


def psi(reference: FloatArray, current: FloatArray) -> float:
    """Population stability index between two count vectors; empty bins count as 0.01%."""
    import numpy as np

    p = reference / reference.sum()
    q = current / current.sum()
    p = np.where(p == 0, PSI_EMPTY_SHARE, p)
    q = np.where(q == 0, PSI_EMPTY_SHARE, q)
    return float(np.sum((q - p) * np.log(q / p)))


def unseen_mass(reference: Mapping[str, int]) -> float:
    """Good-Turing estimate of the share of future values never seen in the reference: the
    share of reference values seen exactly once (at least half a value, so it is never 0)."""
    total = sum(reference.values())
    if total <= 0:
        return 0.0
    singletons = sum(1 for v in reference.values() if v == 1)
    return max(singletons, 0.5) / total


def align_counts(
    reference: Mapping[str, int], current: Mapping[str, int]
) -> tuple[FloatArray, FloatArray, list[str]]:
    """Counts on the reference keys plus one bin for every unseen value, and the unseen keys.

    Values the reference never saw share one bin whose reference count is the Good-Turing
    estimate of unseen values (the reference's singletons, at least half a value): a fresh
    sample of an open category brings new values at about that rate, so a few are noise and a
    flood is drift.
    """
    import numpy as np

    unseen = sorted(k for k, v in current.items() if v > 0 and k not in reference)
    keys = list(reference)
    total = sum(reference.values())
    ref = np.array([*(reference[k] for k in keys), unseen_mass(reference) * total], np.float64)
    cur = np.array(
        [*(current.get(k, 0) for k in keys), sum(current[k] for k in unseen)], np.float64
    )
    return ref, cur, unseen


def compare_counts(
    method: Method, reference: Mapping[str, int], current: Mapping[str, int]
) -> tuple[float, list[str], float]:
    """Statistic of a discrete test (chisquare, jensenshannon, psi) on aligned counts, the unseen
    values and their share of the current rows."""
    ref_vec, cur_vec, unseen = align_counts(reference, current)
    unseen_share = float(cur_vec[-1] / cur_vec.sum()) if cur_vec.sum() else 0.0
    if not unseen and method != "chisquare":
        # The distances would read the pseudo-count of the empty unseen bin as a shift.
        ref_vec, cur_vec = ref_vec[:-1], cur_vec[:-1]
    if method == "chisquare":
        return chisquare_pvalue(ref_vec, cur_vec), unseen, unseen_share
    if method == "jensenshannon":
        return jensenshannon_distance(ref_vec, cur_vec), unseen, unseen_share
    return psi(ref_vec, cur_vec), unseen, unseen_share
