"""Distribution drift of current data against the reference profile.

The statistics are pure functions over numbers; `detect_drift` picks one per column and gives
the verdicts. The reference side always comes from the `Profile` (quantiles, histogram, counts),
so monitoring can run it without the training data.

Test choice follows Evidently's defaults (`_get_default_stattest`): numeric columns get
two-sample Kolmogorov–Smirnov (drift when p < 0.05) on small samples and the Wasserstein
distance normalised by the reference std (drift when >= 0.1) on large ones; categorical columns
get chi-square (p < 0.05) and the Jensen–Shannon distance (natural log, as Evidently, so it lies
in [0, sqrt(ln 2)]; drift when >= 0.1). Numeric columns with at most five distinct reference
values, and booleans, are tested like categories, as Evidently does. Two deliberate
differences: "small" is decided on the current column's non-null rows, not the reference's,
because monitoring compares small live windows with a large training set and the Wasserstein
distance of a small sample is noisy (about 0.8/sqrt(n) std for a normal sample); and binary
columns use chi-square where Evidently uses a z-test (the same test, squared, with the
reference proportion taken as known).

`DriftConfig.threshold`, when set, replaces the threshold of whichever test runs (as
Evidently's `stattest_threshold`): a p-value for KS and chi-square, a distance otherwise.

The reference CDF is linear between stored quantiles, with a jump where quantiles repeat; KS
and Wasserstein below are exact against that CDF.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, cast

from pydantic import BaseModel, ConfigDict

from mlgate.core.config import DriftConfig
from mlgate.core.profile import (
    CategoricalProfile,
    NumericProfile,
    Profile,
    histogram_counts,
    numeric_values,
    value_key,
)
from mlgate.core.schema import ColumnKind, category_values

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    FloatArray = npt.NDArray[np.float64]

Method = Literal["ks", "chisquare", "wasserstein", "jensenshannon", "psi"]
P_VALUE_METHODS: frozenset[str] = frozenset({"ks", "chisquare"})
DEFAULT_THRESHOLDS: dict[Method, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
# Evidently's guards: PSI replaces empty bins by this share; the Wasserstein norm is at least
# this std, so a constant reference column does not divide by zero.
PSI_EMPTY_SHARE = 1e-4
MIN_NORM_STD = 1e-3


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnDrift(_Frozen):
    """The drift verdict on one feature."""

    column: str
    kind: ColumnKind
    method: Method | None = None
    statistic: float | None = None
    threshold: float | None = None
    drifted: bool = False
    detail: str
    checked: bool = True
    current_count: int = 0
    reference_null_fraction: float = 0.0
    current_null_fraction: float = 0.0
    unseen_share: float = 0.0


class DriftReport(_Frozen):
    """Per-feature verdicts and the dataset-level one."""

    columns: tuple[ColumnDrift, ...]
    share: float
    share_threshold: float
    dataset_drift: bool

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the features that drifted."""
        return tuple(c.column for c in self.columns if c.drifted)

    @property
    def checked_columns(self) -> tuple[str, ...]:
        """Names of the features a test ran on."""
        return tuple(c.column for c in self.columns if c.checked)


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


# --- verdicts ----------------------------------------------------------------------------------


def _pick_method(forced: str, discrete: bool, small: bool) -> tuple[Method, str]:
    auto: Method
    if discrete:
        auto = "chisquare" if small else "jensenshannon"
    else:
        auto = "ks" if small else "wasserstein"
    if forced == "auto":
        return auto, ""
    applies = {"chisquare", "jensenshannon", "psi"} if discrete else {"ks", "wasserstein", "psi"}
    if forced in applies:
        return cast(Method, forced), ""
    return auto, f"{forced} does not apply to this column; used {auto}. "


def _skip(
    name: str, ref: NumericProfile | CategoricalProfile, reason: str, null_fraction: float = 0.0
) -> ColumnDrift:
    return ColumnDrift(
        column=name,
        kind=ref.kind,
        checked=False,
        detail=f"not checked: {reason}",
        reference_null_fraction=ref.null_fraction,
        current_null_fraction=null_fraction,
    )


def _current_counts(series: pd.Series, ref: NumericProfile | CategoricalProfile) -> dict[str, int]:
    import pandas as pd

    if isinstance(ref, CategoricalProfile):
        counts = category_values(series).value_counts(dropna=True, sort=False)
        return {str(k): int(v) for k, v in counts.items()}
    values = pd.Series(numeric_values(series)).value_counts(sort=False)
    keys = values.index.to_numpy(dtype=float)
    return {value_key(float(k)): int(v) for k, v in zip(keys, values.to_numpy(), strict=True)}


def column_drift(
    name: str, ref: NumericProfile | CategoricalProfile, series: pd.Series, config: DriftConfig
) -> ColumnDrift:
    """Test one current column against its reference profile."""
    import numpy as np

    rows = len(series)
    null_fraction = float(series.isna().mean()) if rows else 0.0
    if ref.kind == "datetime":
        return _skip(
            name, ref, "dates move forward by design; the schema checks their range", null_fraction
        )
    if ref.count == 0:
        return _skip(name, ref, "the reference has no non-null values", null_fraction)
    discrete = isinstance(ref, CategoricalProfile) or ref.values is not None
    counts: dict[str, int] = {}
    values: FloatArray = np.empty(0)
    if discrete:
        counts = _current_counts(series, ref)
        count = sum(counts.values())
    else:
        values = numeric_values(series)
        count = int(values.size)
    if count == 0:
        return _skip(name, ref, "no non-null values in the current data", null_fraction)
    method, note = _pick_method(config.method, discrete, count <= config.small_sample)
    threshold = config.threshold if config.threshold is not None else DEFAULT_THRESHOLDS[method]

    unseen: list[str] = []
    unseen_share = 0.0
    if method in ("chisquare", "jensenshannon") or (method == "psi" and discrete):
        reference_counts = ref.counts if isinstance(ref, CategoricalProfile) else ref.values
        assert reference_counts is not None  # discrete numerics carry value counts
        statistic, unseen, unseen_share = compare_counts(method, reference_counts, counts)
    else:
        assert isinstance(ref, NumericProfile)  # only numeric columns reach ks/wasserstein/psi
        if not discrete and method == "psi":
            cur_hist = histogram_counts(values, ref.hist_edges)
            statistic = psi(np.asarray(ref.hist_counts, float), np.asarray(cur_hist, float))
        else:
            if discrete:
                values = numeric_values(series)
            current_sorted = np.sort(values)
            quantiles = np.asarray(ref.quantiles, dtype=np.float64)
            if method == "ks":
                d = ks_statistic(quantiles, current_sorted)
                statistic = ks_pvalue(d, ref.count, count)
                note += f"D={d:.4g}. "
            else:
                norm = max(ref.std or 0.0, MIN_NORM_STD)
                statistic = wasserstein_distance(quantiles, current_sorted) / norm

    return judged(
        name, ref, method, (statistic, threshold), note, (unseen, unseen_share), count,
        null_fraction,
    )  # fmt: skip


def judged(
    name: str,
    ref: NumericProfile | CategoricalProfile,
    method: Method,
    measured: tuple[float, float],
    note: str,
    unseen: tuple[list[str], float],
    count: int,
    null_fraction: float,
) -> ColumnDrift:
    """The verdict on one column from its statistic and threshold, with the detail people read
    (shared by `column_drift` and the streaming sketches, so validate and monitor agree)."""
    statistic, threshold = measured
    values, unseen_share = unseen
    is_p_value = method in P_VALUE_METHODS
    drifted = statistic < threshold if is_p_value else statistic >= threshold
    verdict = (
        f"{'p-value' if is_p_value else 'distance'} {statistic:.4g} "
        f"{('<' if drifted else '>=') if is_p_value else ('>=' if drifted else '<')} {threshold:g}"
    )
    parts = [f"{method}: {verdict}. {note}"]
    if values:
        shown = ", ".join(repr(u) for u in values[:5]) + (" …" if len(values) > 5 else "")
        parts.append(f"Unseen values in {unseen_share:.1%} of rows: {shown}. ")
    parts.append(f"Nulls {ref.null_fraction:.1%} in reference, {null_fraction:.1%} now.")
    return ColumnDrift(
        column=name,
        kind=ref.kind,
        method=method,
        statistic=statistic,
        threshold=threshold,
        drifted=bool(drifted),
        detail="".join(parts),
        current_count=count,
        reference_null_fraction=ref.null_fraction,
        current_null_fraction=null_fraction,
        unseen_share=unseen_share,
    )


def detect_drift(profile: Profile, current: pd.DataFrame, config: DriftConfig) -> DriftReport:
    """Test every profiled feature of `current` against the profile; decide dataset drift."""
    results = []
    for name, ref in profile.features.items():
        if name in current.columns:
            results.append(column_drift(name, ref, current[name], config))
        else:
            results.append(_skip(name, ref, "the column is not in the current data"))
    checked = [r for r in results if r.checked]
    share = sum(r.drifted for r in checked) / len(checked) if checked else 0.0
    return DriftReport(
        columns=tuple(results),
        share=share,
        share_threshold=config.share,
        dataset_drift=bool(checked) and share >= config.share,
    )
