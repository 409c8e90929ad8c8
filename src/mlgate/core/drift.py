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

from typing import TYPE_CHECKING, cast

from mlgate.core.config import DriftConfig
from mlgate.core.frozen import Frozen
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

    from mlgate.core.frames import ColT

    FloatArray = npt.NDArray[np.float64]

from mlgate.core.statistics import (
    MIN_NORM_STD,
    Method,
    compare_counts,
    ks_pvalue,
    ks_statistic,
    psi,
    wasserstein_distance,
)

# Deferred imports: NumPy, pandas and SciPy load on first use. The release controller and the model
# server import this module for its types and thresholds, and the server runs without pandas or
# SciPy (the train extra, which the serving image does not install).

P_VALUE_METHODS: frozenset[str] = frozenset({"ks", "chisquare"})
DEFAULT_THRESHOLDS: dict[Method, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}


class ColumnDrift(Frozen):
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


class DriftReport(Frozen):
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


# --- names for people (the monitor's HTML, Markdown and terminal tables) ------------------------

STATISTICS: dict[str, str] = {
    "ks": "KS p-value",
    "chisquare": "chi-square p-value",
    "wasserstein": "Wasserstein distance (reference std)",
    "jensenshannon": "Jensen–Shannon distance",
    "psi": "PSI",
}


def statistic_name(method: str | None) -> str:
    """What a drift test's statistic is, for people: `KS p-value`, `PSI`, ..."""
    return "-" if method is None else STATISTICS.get(method, method)


def drift_rule(method: str | None, threshold: float | None) -> str:
    """When the statistic means drift: `< 0.05` for a p-value, `≥ 0.1` for a distance."""
    if method is None or threshold is None:
        return "-"
    return f"{'<' if method in P_VALUE_METHODS else '≥'} {threshold:g}"


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


def skipped(
    name: str, ref: NumericProfile | CategoricalProfile, reason: str, null_fraction: float = 0.0
) -> ColumnDrift:
    """The verdict on a feature no test ran on, and why."""
    return ColumnDrift(
        column=name,
        kind=ref.kind,
        checked=False,
        detail=f"not checked: {reason}",
        reference_null_fraction=ref.null_fraction,
        current_null_fraction=null_fraction,
    )


def _current_counts(
    series: pd.Series[ColT], ref: NumericProfile | CategoricalProfile
) -> dict[str, int]:
    import pandas as pd

    if isinstance(ref, CategoricalProfile):
        counts = category_values(series).value_counts(dropna=True, sort=False)
        return {str(k): int(v) for k, v in counts.items()}
    values = pd.Series(numeric_values(series)).value_counts(sort=False)
    keys = values.index.to_numpy(dtype=float)
    return {value_key(float(k)): int(v) for k, v in zip(keys, values.to_numpy(), strict=True)}


def column_drift(
    name: str,
    ref: NumericProfile | CategoricalProfile,
    series: pd.Series[ColT],
    config: DriftConfig,
) -> ColumnDrift:
    """Test one current column against its reference profile."""
    import numpy as np

    rows = len(series)
    null_fraction = float(series.isna().mean()) if rows else 0.0
    if ref.kind == "datetime":
        return skipped(
            name, ref, "dates move forward by design; the schema checks their range", null_fraction
        )
    if ref.count == 0:
        return skipped(name, ref, "the reference has no non-null values", null_fraction)
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
        return skipped(name, ref, "no non-null values in the current data", null_fraction)
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
            results.append(skipped(name, ref, "the column is not in the current data"))
    checked = [r for r in results if r.checked]
    share = sum(r.drifted for r in checked) / len(checked) if checked else 0.0
    return DriftReport(
        columns=tuple(results),
        share=share,
        share_threshold=config.share,
        dataset_drift=bool(checked) and share >= config.share,
    )
