"""`core.skew`: feature skew within tolerance, missing on one side, the two distances, and the
verdict's alert naming the feature."""

from __future__ import annotations

import numpy as np
import pytest

from mlgate.core.policy import MonitorConfig
from mlgate.core.skew import FeatureSkew, SkewConfig, categorical_skew, numeric_skew
from mlgate.core.verdict import Observations, decide

pytestmark = pytest.mark.unit

CFG = SkewConfig()


def test_numbers_within_the_tolerance_and_missing_on_both_sides_agree() -> None:
    offline = np.array([1.0, 2.0, np.nan, 1e6])
    served = offline * (1 + 1e-9)
    skew = numeric_skew("x", served, offline, CFG)
    assert (skew.differing, skew.share, skew.failed) == (0, 0.0, False)
    assert skew.distance == pytest.approx(0.0, abs=1e-12)


def test_missing_on_one_side_only_differs() -> None:
    skew = numeric_skew("x", np.array([1.0, np.nan]), np.array([1.0, 2.0]), CFG)
    assert skew.differing == 1
    assert skew.example == ("nan", "2.0")


def test_other_units_differ_on_every_row_and_far_in_distribution() -> None:
    rng = np.random.default_rng(0)
    offline = rng.gamma(2, 30, 1000)
    skew = numeric_skew("charges", offline * 100, offline, CFG)
    assert skew.share == 1.0
    assert skew.distance > 0.5
    assert skew.failed


def test_a_few_differences_pass_below_the_share() -> None:
    offline = np.arange(1000, dtype=float)
    served = offline.copy()
    served[:5] += 1
    skew = numeric_skew("x", served, offline, SkewConfig(max_share=0.01))
    assert (skew.differing, skew.failed) == (5, False)
    assert numeric_skew("x", served, offline, SkewConfig(max_share=0.001)).failed


def test_categories_compare_as_text_with_the_largest_share_difference() -> None:
    offline = np.array(["a", "a", "b", None], dtype=object)
    served = np.array(["a", "A", "b", None], dtype=object)
    skew = categorical_skew("c", served, offline, CFG)
    assert skew.differing == 1
    assert skew.distance == pytest.approx(0.25)
    assert skew.distance_kind == "l_infinity"
    same = categorical_skew(
        "c", np.array([1, 2], dtype=object), np.array(["1", "2"], dtype=object), CFG
    )
    assert same.differing == 0


def test_the_verdict_names_each_skewed_feature_only() -> None:
    skewed = numeric_skew("charges", np.array([100.0, 200.0]), np.array([1.0, 2.0]), CFG)
    fine = numeric_skew("age", np.array([1.0, 2.0]), np.array([1.0, 2.0]), CFG)
    obs = Observations(
        rows=2, requests=1, errors=0, features=(), drift_share=0.0, drift_share_threshold=0.5,
        skew=(skewed, fine),
    )  # fmt: skip
    verdict = decide(obs, MonitorConfig())
    assert verdict.status == "alert"
    assert [(f.check, f.subject) for f in verdict.alerts] == [("skew", "charges")]
    assert "2 of 2 rows served differ" in verdict.alerts[0].message
    assert isinstance(obs.skew[0], FeatureSkew)
