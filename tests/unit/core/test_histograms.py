"""Statistics of the canary analysis over bucket counts, checked against numpy and SciPy; the
ticks of a report's axes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2, chi2_contingency, mannwhitneyu

from mlgate.core.histograms import (
    MIN_COUNT,
    SIGNIFICANCE,
    TAIL_REQUESTS,
    distribution_distance,
    g_test,
    histogram_quantile,
    latency_greater,
    latency_quantile,
    nice_ticks,
    per_bucket,
)
from mlgate.core.statistics import psi

pytestmark = pytest.mark.unit

INF = math.inf

# Upper bounds and per-bucket counts of a latency histogram (seconds), none of them empty.
bucket_counts = st.lists(st.integers(1, 50), min_size=1, max_size=8)
bucket_widths = st.lists(
    st.floats(min_value=1e-3, max_value=10.0, allow_nan=False), min_size=8, max_size=8
)


def _cumulative(edges: list[float], counts: list[int]) -> dict[float, float]:
    """Prometheus' `le` buckets: counts at or below each edge, and the +Inf bucket."""
    out = dict(zip(edges, np.cumsum(counts).astype(float).tolist(), strict=True))
    out[INF] = float(sum(counts))
    return out


def _sample_on_the_buckets(edges: list[float], counts: list[int]) -> np.ndarray:
    """Values whose empirical CDF is the histogram's piecewise-linear one: each bucket's values
    at the right ends of equal sub-intervals, the lowest bucket starting at 0."""
    values: list[float] = []
    low = 0.0
    for edge, k in zip(edges, counts, strict=True):
        values += [low + (edge - low) * (i + 1) / k for i in range(k)]
        low = edge
    return np.asarray(values)


@settings(max_examples=60, deadline=None)
@given(counts=bucket_counts, widths=bucket_widths, q=st.floats(min_value=0.0, max_value=1.0))
def test_histogram_quantile_is_numpy_s_interpolated_quantile_of_the_bucketed_values(
    counts: list[int], widths: list[float], q: float
) -> None:
    edges = np.cumsum(widths[: len(counts)]).tolist()
    sample = _sample_on_the_buckets(edges, counts)
    q = max(q, 1 / sample.size)  # below the first value numpy holds it; Prometheus reaches 0
    expected = float(np.quantile(sample, q, method="interpolated_inverted_cdf"))
    assert histogram_quantile(q, _cumulative(edges, counts)) == pytest.approx(
        expected, rel=1e-9, abs=1e-12
    )


def test_histogram_quantile_on_known_buckets() -> None:
    buckets = {0.05: 10.0, 0.1: 50.0, 0.25: 90.0, 0.5: 100.0, INF: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.05, buckets) == pytest.approx(0.025)  # the first bucket from 0
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.1 + 0.15 * 20 / 40)
    assert histogram_quantile(1.0, buckets) == pytest.approx(0.5)


def test_histogram_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    buckets = {0.1: 50.0, 0.5: 90.0, INF: 100.0}
    assert histogram_quantile(0.95, buckets) == 0.5
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)


def test_histogram_quantile_of_no_requests_is_none() -> None:
    assert histogram_quantile(0.99, {}) is None
    assert histogram_quantile(0.99, {0.1: 0.0, INF: 0.0}) is None


def test_histogram_quantile_skips_empty_buckets() -> None:
    # Nothing between 0.1 and 0.5: the median sits at the top of the first bucket.
    buckets = {0.1: 50.0, 0.5: 50.0, 1.0: 100.0, INF: 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.75)
    # The zeroth quantile over an empty first bucket: no division by its zero count.
    lowest = histogram_quantile(0.0, {0.1: 0.0, 0.5: 10.0, INF: 10.0})
    assert lowest is not None
    assert 0.0 <= lowest <= 0.1


@given(counts=st.lists(st.integers(0, 1000), min_size=1, max_size=10))
def test_per_bucket_undoes_the_cumulative_sum(counts: list[int]) -> None:
    edges = [0.01 * 2**i for i in range(len(counts))]
    cumulative = dict(zip(edges, np.cumsum(counts).astype(float).tolist(), strict=True))
    assert per_bucket(cumulative) == dict(zip(edges, map(float, counts), strict=True))


def test_per_bucket_never_counts_below_zero() -> None:
    # Prometheus' increase() extrapolates each series: a cumulative count can dip.
    assert per_bucket({0.1: 10.0, 0.5: 9.5, 1.0: 12.0}) == {0.1: 10.0, 0.5: 0.0, 1.0: 2.0}


@given(requests=st.floats(min_value=1e-3, max_value=1e7, allow_nan=False))
def test_latency_quantile_keeps_tail_requests_above_it(requests: float) -> None:
    q = latency_quantile(requests)
    assert 0.5 <= q <= 0.99
    if 2 * TAIL_REQUESTS < requests < 100 * TAIL_REQUESTS:
        assert requests * (1 - q) == pytest.approx(TAIL_REQUESTS)
    assert latency_quantile(requests + 1.0) >= q


def test_latency_quantile_of_an_empty_window_is_p99() -> None:
    # An empty window resolves nothing: it reports p99, as a full window does.
    assert latency_quantile(0) == 0.99
    assert latency_quantile(500) == 0.99
    assert latency_quantile(10) == 0.5


@settings(max_examples=60, deadline=None)
@given(
    candidate=st.lists(st.integers(0, 40), min_size=4, max_size=4),
    incumbent=st.lists(st.integers(0, 40), min_size=4, max_size=4),
)
def test_latency_greater_is_scipy_s_one_sided_mann_whitney_with_ties(
    candidate: list[int], incumbent: list[int]
) -> None:
    edges = [0.05, 0.1, 0.5, 1.0]
    x = np.repeat(edges, candidate)
    y = np.repeat(edges, incumbent)
    p = latency_greater(
        dict(zip(edges, map(float, candidate), strict=True)),
        dict(zip(edges, map(float, incumbent), strict=True)),
    )
    if (
        x.size == 0
        or y.size == 0
        or x.size + y.size < 3
        or np.unique(np.concatenate([x, y])).size < 2
    ):
        assert p == 1.0  # nothing to compare, or every request in one bucket
        return
    expected = mannwhitneyu(x, y, alternative="greater", method="asymptotic").pvalue
    assert p == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


def test_latency_greater_of_nothing_is_one() -> None:
    assert latency_greater({}, {0.1: 50.0}) == 1.0
    assert latency_greater({0.1: 50.0}, {}) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(st.integers(1, 500), min_size=2, max_size=6),
    b=st.lists(st.integers(1, 500), min_size=6, max_size=6),
)
def test_g_test_is_scipy_s_log_likelihood_statistic(a: list[int], b: list[int]) -> None:
    k = len(a)
    stable = {str(i): float(v) for i, v in enumerate(a)}
    canary = {str(i): float(v) for i, v in enumerate(b[:k])}
    g, critical = g_test(stable, canary)
    table = np.array([a, b[:k]], dtype=float)
    expected = chi2_contingency(table, correction=False, lambda_="log-likelihood").statistic
    assert g == pytest.approx(float(expected), rel=1e-9, abs=1e-9)
    assert critical == pytest.approx(float(chi2.ppf(1 - SIGNIFICANCE, k - 1)), rel=0.01)


@pytest.mark.parametrize("df", [1, 2, 5, 20, 100])
def test_g_test_critical_value_is_within_one_percent_of_the_exact_quantile(df: int) -> None:
    stable = {str(i): 10.0 for i in range(df + 1)}
    _, critical = g_test(stable, stable)
    assert critical == pytest.approx(float(chi2.ppf(1 - SIGNIFICANCE, df)), rel=0.01)


def test_g_test_needs_two_classes_and_both_sides() -> None:
    assert g_test({"0": 5.0}, {"0": 7.0}) == (0.0, math.inf)
    assert g_test({"0": 5.0, "1": 3.0}, {}) == (0.0, math.inf)


def test_distribution_distance_aligns_the_keys_either_side_has() -> None:
    stable = {"a": 30.0, "b": 70.0}
    canary = {"b": 50.0, "c": 50.0}
    ref, cur = np.array([30.0, 70.0, 0.0]), np.array([0.0, 50.0, 50.0])
    assert distribution_distance(stable, canary, "jensenshannon") == pytest.approx(
        float(jensenshannon(ref, cur))
    )
    assert distribution_distance(stable, canary, "psi") == pytest.approx(psi(ref, cur))


def test_distribution_distance_reads_extrapolation_dust_as_zero() -> None:
    stable = {"a": 30.0, "b": 70.0}
    dusty = {"a": 30.0, "b": 70.0, "c": MIN_COUNT / 2}
    assert distribution_distance(stable, dusty, "psi") == pytest.approx(0.0, abs=1e-12)
    assert distribution_distance({}, stable, "jensenshannon") == 0.0
    assert distribution_distance({"a": MIN_COUNT / 2}, stable, "psi") == 0.0


# -- axis ticks ---------------------------------------------------------------------------------

FINITE = st.floats(-1e12, 1e12, allow_nan=False)


@given(FINITE, FINITE, st.integers(2, 10))
def test_ticks_are_round_distinct_and_cover_the_range(a: float, b: float, most: int) -> None:
    lo, hi = min(a, b), max(a, b)
    ticks = nice_ticks(lo, hi, most)
    steps = np.diff(ticks)
    assert 2 <= len(ticks) <= max(most, 3)
    assert ticks[0] <= lo + 1e-6 * steps[0]
    assert ticks[-1] >= hi - 1e-6 * steps[0]
    assert np.allclose(steps, steps[0], rtol=1e-6)
    mantissa = steps[0] / 10.0 ** math.floor(math.log10(steps[0]) + 1e-9)
    assert min(abs(mantissa - m) for m in (1.0, 2.0, 5.0, 10.0)) < 1e-6
    assert len(set(ticks)) == len(ticks)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.72, 0.788, [0.72, 0.74, 0.76, 0.78, 0.8]),
        (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.745, 0.745, [0.7, 0.72, 0.74, 0.76, 0.78, 0.8]),  # one value: a range around it
    ],
)
def test_ticks_of_a_report_s_axes(lo: float, hi: float, expected: list[float]) -> None:
    assert nice_ticks(lo, hi) == expected
