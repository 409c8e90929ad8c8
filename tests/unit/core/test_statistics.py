"""Drift statistics of `mlgate.core.statistics`: properties, and agreement with SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare, ks_2samp
from scipy.stats import wasserstein_distance as scipy_wasserstein

from mlgate.core.profile import QUANTILE_POINTS, quantiles_of_sorted
from mlgate.core.statistics import (
    PSI_EMPTY_SHARE,
    align_counts,
    chisquare_pvalue,
    compare_counts,
    jensenshannon_distance,
    ks_pvalue,
    ks_statistic,
    psi,
    reference_cdf,
    unseen_mass,
    wasserstein_distance,
)

pytestmark = pytest.mark.unit

MAX_JS = math.sqrt(math.log(2))


def _quantiles(sample: np.ndarray) -> np.ndarray:
    return np.asarray(quantiles_of_sorted(np.sort(sample), QUANTILE_POINTS))


def _normal(seed: int, n: int, loc: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, scale, n)


counts = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12).filter(
    lambda c: sum(c) > 0
)


# --- properties of the statistics ------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    sample=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=2, max_size=400
    )
)
def test_wasserstein_of_a_sample_against_its_own_profile_is_bounded_by_its_gaps(
    sample: list[float],
) -> None:
    values = np.sort(np.asarray(sample))
    span = values[-1] - values[0]
    distance = wasserstein_distance(_quantiles(values), values)
    # Each step of the sample sits within one gap of the interpolated quantile function.
    assert 0.0 <= distance <= span * (2 / values.size + 1 / (QUANTILE_POINTS - 1)) + 1e-9


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(500, 20_000))
def test_wasserstein_of_a_normal_sample_against_its_own_profile_is_about_zero(
    seed: int, n: int
) -> None:
    values = np.sort(_normal(seed, n))
    assert wasserstein_distance(_quantiles(values), values) / values.std() < 0.02


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.sampled_from([300, 2_000, 50_000]),
    k=st.floats(min_value=-3.0, max_value=3.0),
)
def test_shifting_by_k_std_gives_normalized_wasserstein_k(seed: int, n: int, k: float) -> None:
    values = np.sort(_normal(seed, n, loc=5.0, scale=2.0))
    std = values.std()
    distance = wasserstein_distance(_quantiles(values), values + k * std) / std
    assert distance == pytest.approx(abs(k), abs=0.03)


@settings(max_examples=100, deadline=None)
@given(p=counts, q=counts)
def test_jensenshannon_is_bounded_and_symmetric(p: list[int], q: list[int]) -> None:
    size = max(len(p), len(q))
    a = np.pad(np.asarray(p, float), (0, size - len(p)))
    b = np.pad(np.asarray(q, float), (0, size - len(q)))
    if a.sum() == 0 or b.sum() == 0:
        return
    forward = jensenshannon_distance(a, b)
    assert 0.0 <= forward <= MAX_JS + 1e-12
    assert forward == pytest.approx(jensenshannon_distance(b, a), abs=1e-12)
    assert jensenshannon_distance(a, a) == pytest.approx(0.0, abs=1e-7)


def test_jensenshannon_of_equal_shares_is_zero_to_rounding() -> None:
    # 1:4 against (1 - 0.8) * 3 : 0.8 * 3, the same shares after rounding (0.5999999999999999
    # and 2.4000000000000004). A log of the ratio of the shares gave 1e-8 here: the square root
    # lifts the divergence's rounding; the distance must stay at the rounding's own size.
    same = jensenshannon_distance(np.array([1.0, 4.0]), np.array([(1 - 0.8) * 3, 0.8 * 3]))
    assert same < 1e-12
    scipy_distance = pytest.importorskip("scipy.spatial.distance").jensenshannon
    a, b = np.array([1.0, 0.0, 3.0, 2.0]), np.array([0.0, 2.0, 1.0, 2.0])
    assert jensenshannon_distance(a, b) == pytest.approx(float(scipy_distance(a, b)), rel=1e-12)


def test_jensenshannon_of_disjoint_supports_is_the_maximum() -> None:
    assert jensenshannon_distance(np.array([5.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(
        MAX_JS
    )


@settings(max_examples=100, deadline=None)
@given(p=counts, q=counts)
def test_psi_is_non_negative_and_zero_on_identical_shares(p: list[int], q: list[int]) -> None:
    size = max(len(p), len(q))
    a = np.pad(np.asarray(p, float), (0, size - len(p)))
    b = np.pad(np.asarray(q, float), (0, size - len(q)))
    assert psi(a, b) >= 0.0
    assert psi(a, 3 * a) == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(p=counts, q=counts)
def test_chisquare_pvalue_is_a_probability(p: list[int], q: list[int]) -> None:
    size = max(len(p), len(q))
    a = np.pad(np.asarray(p, float), (0, size - len(p)))
    b = np.pad(np.asarray(q, float), (0, size - len(q)))
    assert 0.0 <= chisquare_pvalue(a, b) <= 1.0


def test_unseen_categories_share_one_bin_expected_at_the_good_turing_rate() -> None:
    # Two of the reference's 20 values were seen once: about 10% of new values are unseen.
    reference = {"a": 10, "b": 8, "c": 1, "d": 1}
    ref, cur, unseen = align_counts(reference, {"a": 10, "b": 8, "x": 1, "y": 1})
    assert unseen == ["x", "y"]
    assert ref.tolist() == [10, 8, 1, 1, 2.0]
    assert cur.tolist() == [10, 8, 0, 0, 2]
    assert chisquare_pvalue(ref, cur) > 0.05  # a few new values in an open category: noise
    _, flood, _ = align_counts(reference, {"a": 2, "new": 18})
    assert chisquare_pvalue(ref, flood) < 1e-6  # most values new: drift


def test_an_unseen_value_in_a_closed_looking_column_is_drift_in_a_large_sample() -> None:
    # No singletons: half a value is expected, so 30 unseen of 3000 is far beyond it.
    ref, cur, _ = align_counts({"a": 5000, "b": 5000}, {"a": 1485, "b": 1485, "z": 30})
    assert ref[-1] == 0.5
    assert chisquare_pvalue(ref, cur) < 1e-6


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(20, 1000),
    shift=st.floats(min_value=-1.0, max_value=1.0),
)
def test_ks_from_the_profile_matches_scipy_on_the_raw_reference(
    seed: int, m: int, shift: float
) -> None:
    n = 3000
    reference = _normal(seed, n)
    current = _normal(seed + 1, m, loc=shift)
    statistic = ks_statistic(_quantiles(reference), np.sort(current))
    exact = ks_2samp(reference, current, method="asymp")
    # The profile's CDF is within one quantile step of the reference's empirical CDF.
    assert statistic == pytest.approx(exact.statistic, abs=1 / n + 1 / (QUANTILE_POINTS - 1))
    assert ks_pvalue(float(exact.statistic), n, m) == pytest.approx(exact.pvalue, rel=1e-9)


def test_reference_cdf_jumps_where_quantiles_repeat() -> None:
    quantiles = np.array([0.0, 0.0, 0.0, 1.0, 2.0])  # 50% of the mass at 0
    right, left = reference_cdf(quantiles, np.array([-1.0, 0.0, 0.5, 2.0, 3.0]))
    assert right.tolist() == [0.0, 0.5, 0.625, 1.0, 1.0]
    assert left.tolist() == [0.0, 0.0, 0.625, 1.0, 1.0]


# --- agreement with SciPy and the documented guards ------------------------------------------


def _dense(quantiles: np.ndarray, n: int = 50_000) -> np.ndarray:
    """A large sample of the piecewise-linear quantile function through `quantiles`."""
    u = (np.arange(n) + 0.5) / n
    return np.asarray(np.interp(u, np.linspace(0.0, 1.0, quantiles.size), quantiles))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.sampled_from([1, 7, 60, 900, 1500, 4000]),
    shift=st.floats(min_value=-2.0, max_value=2.0),
    scale=st.floats(min_value=0.2, max_value=3.0),
)
def test_wasserstein_matches_scipy_against_the_profile_s_quantile_function(
    seed: int, m: int, shift: float, scale: float
) -> None:
    # Both branches (fewer current rows than quantiles: exact; more: the midpoint rule) against
    # SciPy on a dense sample of the reference's piecewise-linear quantile function.
    quantiles = _quantiles(_normal(seed, 2000))
    current = np.sort(_normal(seed + 1, m, loc=shift, scale=scale))
    expected = float(scipy_wasserstein(current, _dense(quantiles)))
    span = float(max(current.max(), quantiles[-1]) - min(current.min(), quantiles[0]))
    assert wasserstein_distance(quantiles, current) == pytest.approx(expected, abs=span / 1e4)


@settings(max_examples=60, deadline=None)
@given(
    quantiles=st.lists(st.floats(-100.0, 100.0), min_size=2, max_size=8).map(sorted),
    current=st.lists(st.floats(-100.0, 100.0), min_size=1, max_size=7).map(sorted),
)
def test_wasserstein_matches_scipy_against_a_coarse_profile(
    quantiles: list[float], current: list[float]
) -> None:
    # With few quantiles, the pieces where the current step crosses the reference line carry
    # much of the area; the fine profile above leaves them too small to see.
    q, cur = np.asarray(quantiles), np.asarray(current)
    if cur.size >= q.size:
        cur = cur[: q.size - 1]
    expected = float(scipy_wasserstein(cur, _dense(q)))
    assert wasserstein_distance(q, cur) == pytest.approx(expected, abs=200.0 / 1e4)


def test_wasserstein_of_the_median_against_a_uniform_profile() -> None:
    # The integral of |0.5 - u| over [0, 1].
    assert wasserstein_distance(np.array([0.0, 1.0]), np.array([0.5])) == pytest.approx(0.25)


@settings(max_examples=100, deadline=None)
@given(p=counts, q=counts)
def test_chisquare_pvalue_matches_scipy_where_the_reference_covers_every_bin(
    p: list[int], q: list[int]
) -> None:
    size = max(len(p), len(q))
    reference = np.pad(np.asarray(p, float), (0, size - len(p))) + 1.0  # no empty bin
    current = np.pad(np.asarray(q, float), (0, size - len(q)))
    if size < 2 or current.sum() == 0:
        return
    expected = reference / reference.sum() * current.sum()
    assert chisquare_pvalue(reference, current) == pytest.approx(
        float(chisquare(current, expected).pvalue), rel=1e-9, abs=1e-300
    )


def test_chisquare_pvalue_is_zero_for_a_bin_the_reference_never_saw() -> None:
    assert chisquare_pvalue(np.array([50.0, 50.0, 0.0]), np.array([50.0, 49.0, 1.0])) == 0.0


def test_chisquare_pvalue_of_a_single_seen_bin_is_one() -> None:
    # One bin is no test at all (no degree of freedom), whatever the counts.
    assert chisquare_pvalue(np.array([7.0, 0.0]), np.array([3.0, 0.0])) == 1.0


def test_psi_counts_an_empty_bin_as_the_documented_share() -> None:
    p = np.array([1.0, PSI_EMPTY_SHARE])
    q = np.array([0.5, 0.5])
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi(np.array([10.0, 0.0]), np.array([5.0, 5.0])) == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(psi(np.array([3.0, 0.0]), np.array([0.0, 3.0])))


@settings(max_examples=100, deadline=None)
@given(p=counts, q=counts)
def test_psi_is_symmetric(p: list[int], q: list[int]) -> None:
    size = max(len(p), len(q))
    a = np.pad(np.asarray(p, float), (0, size - len(p)))
    b = np.pad(np.asarray(q, float), (0, size - len(q)))
    assert psi(a, b) == pytest.approx(psi(b, a), rel=1e-9, abs=1e-12)


def test_unseen_mass_is_the_share_of_singletons_but_never_zero() -> None:
    assert unseen_mass({"a": 1, "b": 1, "c": 8}) == pytest.approx(0.2)
    assert unseen_mass({"a": 5, "b": 5}) == pytest.approx(0.05)  # half a value of ten
    assert unseen_mass({}) == 0.0


def test_compare_counts_drops_the_empty_unseen_bin_from_the_distances() -> None:
    same = {"a": 30, "b": 70}
    assert compare_counts("jensenshannon", same, same) == (0.0, [], 0.0)
    statistic, unseen, share = compare_counts("psi", same, {"a": 3, "b": 7})
    assert statistic == pytest.approx(0.0, abs=1e-12)
    assert (unseen, share) == ([], 0.0)
    # Chi-square keeps the bin: half a value is expected there, so none is a small shortfall.
    statistic, unseen, share = compare_counts("chisquare", same, same)
    expected = np.array([30.0, 70.0, 0.5]) / 100.5 * 100
    assert statistic == pytest.approx(float(chisquare([30, 70, 0], expected).pvalue))
    assert 0.05 < statistic < 1.0
    assert (unseen, share) == ([], 0.0)


def test_compare_counts_reports_the_unseen_values_and_their_share() -> None:
    statistic, unseen, share = compare_counts(
        "jensenshannon", {"a": 50, "b": 50}, {"a": 40, "y": 6, "x": 4}
    )
    assert unseen == ["x", "y"]
    assert share == pytest.approx(0.2)
    ref, cur, _ = align_counts({"a": 50, "b": 50}, {"a": 40, "y": 6, "x": 4})
    assert statistic == pytest.approx(jensenshannon_distance(ref, cur))
