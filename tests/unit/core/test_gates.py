"""Gate semantics (MLflow MetricThreshold): every check reported, direction respected."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.core.config import GateConfig
from mlgate.core.gates import evaluate_gates

pytestmark = pytest.mark.unit

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


def test_threshold_failure_names_metric_value_and_threshold() -> None:
    verdict = evaluate_gates(
        [GateConfig(metric="accuracy", threshold=0.9)], {"accuracy": 0.8}, None
    )
    assert not verdict.passed
    (check,) = verdict.failures
    assert "accuracy" in check.message
    assert "0.8" in check.message
    assert "0.9" in check.message


def test_all_failures_are_reported_at_once() -> None:
    gates = [
        GateConfig(metric="accuracy", threshold=0.9),
        GateConfig(metric="f1", threshold=0.9),
        GateConfig(metric="roc_auc", threshold=0.5),
    ]
    verdict = evaluate_gates(gates, {"accuracy": 0.1, "f1": 0.2, "roc_auc": 0.7}, None)
    assert [c.metric for c in verdict.failures] == ["accuracy", "f1"]
    assert len(verdict.checks) == 3


def test_lower_is_better_metrics_invert_the_threshold() -> None:
    gate = GateConfig(metric="rmse", threshold=10.0)
    assert evaluate_gates([gate], {"rmse": 9.0}, None).passed
    assert not evaluate_gates([gate], {"rmse": 11.0}, None).passed


def test_relative_gates_are_skipped_without_champion_and_say_so() -> None:
    gate = GateConfig(metric="roc_auc", min_absolute_change=0.0)
    verdict = evaluate_gates([gate], {"roc_auc": 0.7}, None)
    assert verdict.passed
    assert verdict.checks == ()
    assert any("no champion" in n for n in verdict.notes)


def test_better_champion_fails_the_relative_gate() -> None:
    gate = GateConfig(metric="roc_auc", min_absolute_change=-0.01)
    verdict = evaluate_gates([gate], {"roc_auc": 0.80}, {"roc_auc": 0.85})
    assert not verdict.passed
    assert "champion" in verdict.failures[0].message
    assert evaluate_gates([gate], {"roc_auc": 0.845}, {"roc_auc": 0.85}).passed


def test_missing_metric_fails() -> None:
    verdict = evaluate_gates([GateConfig(metric="roc_auc", threshold=0.5)], {}, None)
    assert not verdict.passed


@given(value=finite, baseline=finite, tolerance=st.floats(min_value=0, max_value=10))
def test_equal_models_pass_a_zero_or_negative_absolute_change(
    value: float, baseline: float, tolerance: float
) -> None:
    gate = GateConfig(metric="accuracy", min_absolute_change=-tolerance)
    assert evaluate_gates([gate], {"accuracy": value}, {"accuracy": value}).passed
    verdict = evaluate_gates([gate], {"accuracy": value}, {"accuracy": baseline})
    assert verdict.passed == (value - baseline >= -tolerance)


@given(value=finite, baseline=finite)
def test_direction_symmetry(value: float, baseline: float) -> None:
    up = GateConfig(metric="r2", min_absolute_change=0.0)
    down = GateConfig(metric="rmse", min_absolute_change=0.0)
    a = evaluate_gates([up], {"r2": value}, {"r2": baseline}).passed
    b = evaluate_gates([down], {"rmse": -value}, {"rmse": -baseline}).passed
    assert a == b


@given(baseline=st.floats(min_value=0.01, max_value=1e3), rel=st.floats(-0.5, 0.5))
def test_relative_change_scales_with_baseline(baseline: float, rel: float) -> None:
    gate = GateConfig(metric="mae", min_relative_change=-0.02)
    value = baseline * (1 + rel)  # lower is better for mae: rel > 0.02 is a regression
    passed = evaluate_gates([gate], {"mae": value}, {"mae": baseline}).passed
    if not math.isclose(rel, 0.02, abs_tol=1e-9):
        assert passed == (rel < 0.02)


def test_baseline_gate_needs_the_margin_over_the_trivial_model() -> None:
    from mlgate.core.config import GateConfig
    from mlgate.core.gates import evaluate_gates

    gates = [
        GateConfig(metric="roc_auc", min_gain_over_baseline=0.1),
        GateConfig(metric="rmse", min_gain_over_baseline=1.0),
    ]
    verdict = evaluate_gates(
        gates, {"roc_auc": 0.58, "rmse": 8.0}, None, baseline={"roc_auc": 0.5, "rmse": 10.0}
    )
    auc, rmse = verdict.checks
    assert not auc.passed  # 0.08 above a coin flip is not the 0.1 asked for
    assert auc.baseline == 0.5
    assert "trivial baseline 0.5" in auc.message
    assert rmse.passed  # lower is better: 2.0 below the baseline's error
    assert not evaluate_gates(gates[:1], {"roc_auc": 0.9}, None).passed  # no baseline: NaN


def test_champion_gate_with_an_interval_fails_only_when_the_whole_interval_is_below() -> None:
    from mlgate.core.config import GateConfig
    from mlgate.core.gates import evaluate_gates

    gate = [GateConfig(metric="roc_auc", min_absolute_change=-0.01)]
    new, old = {"roc_auc": 0.80}, {"roc_auc": 0.83}
    # The point estimate is 0.03 worse, but the holdout cannot tell: noise passes.
    noisy = evaluate_gates(
        gate, new, old, intervals={("roc_auc", "min_absolute_change"): (-0.07, 0.004)}
    )
    assert noisy.passed
    assert noisy.checks[0].interval == (-0.07, 0.004)
    assert "95% interval -0.07 to +0.004" in noisy.checks[0].message
    sure = evaluate_gates(
        gate, new, old, intervals={("roc_auc", "min_absolute_change"): (-0.05, -0.012)}
    )
    assert not sure.passed
    # Without an interval the point estimates decide, as MLflow's MetricThreshold does.
    assert not evaluate_gates(gate, new, old).passed
