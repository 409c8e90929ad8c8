"""decide(): every check against its threshold, and how findings add up to the verdict."""

from __future__ import annotations

import pytest

from mlgate.core.drift import ColumnDrift
from mlgate.core.policy import MonitorConfig
from mlgate.core.verdict import FeatureObservation, Observations, decide

pytestmark = pytest.mark.unit

POLICY = MonitorConfig()


def feature(
    name: str, drifted: bool = False, rates: dict[str, float] | None = None
) -> FeatureObservation:
    drift = ColumnDrift(
        column=name,
        kind="numeric",
        method="wasserstein",
        statistic=0.3 if drifted else 0.01,
        threshold=0.1,
        drifted=drifted,
        detail="-",
    )
    values = {
        "missing_rate": 0.0,
        "reference_missing_rate": 0.0,
        "out_of_schema_rate": 0.0,
        "unseen_rate": 0.0,
    } | (rates or {})
    return FeatureObservation(name=name, drift=drift, **values)


def obs(*features: FeatureObservation, **kw: object) -> Observations:
    data: dict[str, object] = {
        "rows": 5000,
        "requests": 5000,
        "errors": 0,
        "features": features or (feature("a"), feature("b")),
        "drift_share": sum(f.drift.drifted for f in features) / max(len(features), 1),
        "drift_share_threshold": 0.5,
        "metric": "accuracy",
        "reference": 0.8,
    }
    data.update(kw)
    return Observations.model_validate(data)


def checks(o: Observations) -> dict[str, str]:
    return {f.check: f.severity for f in decide(o, POLICY).findings}


def test_quiet_traffic_is_healthy() -> None:
    verdict = decide(obs(feature("a"), feature("b"), estimated=0.79), POLICY)
    assert verdict.status == "healthy"
    assert verdict.findings == ()


def test_dataset_drift_alerts_and_a_single_feature_warns() -> None:
    assert checks(obs(feature("a", drifted=True), feature("b", drifted=True), feature("c"))) == {
        "input_drift": "alert"
    }
    assert checks(obs(feature("a", drifted=True), feature("b"), feature("c"))) == {
        "input_drift": "warning"
    }


def test_labels_below_the_holdout_without_input_drift_are_concept_drift() -> None:
    found = decide(obs(feature("a"), realised=0.7, labelled=1000), POLICY)
    (finding,) = found.findings
    assert finding.check == "concept_drift"
    assert "concept drift" in finding.message
    with_drift = obs(
        feature("a", drifted=True), feature("b", drifted=True), realised=0.7, labelled=1000
    )
    assert checks(with_drift)["performance"] == "alert"
    assert "concept_drift" not in checks(with_drift)


@pytest.mark.parametrize(("value", "alert"), [(0.751, False), (0.749, True)])
def test_the_estimate_alerts_past_the_allowed_drop(value: float, alert: bool) -> None:
    assert ("estimated_performance" in checks(obs(estimated=value))) is alert


def test_few_labels_or_rows_give_no_performance_verdict() -> None:
    assert "concept_drift" not in checks(obs(realised=0.1, labelled=POLICY.min_rows - 1))
    assert checks(obs(estimated=0.1, rows=10)) == {"traffic": "warning"}


@pytest.mark.parametrize(
    ("kw", "check"),
    [
        ({"missing_rate": 0.15, "reference_missing_rate": 0.02}, "missing_values"),
        ({"out_of_schema_rate": 0.02}, "out_of_schema"),
        ({"unseen_rate": 0.06}, "unseen_categories"),
    ],
)
def test_data_quality_checks(kw: dict[str, float], check: str) -> None:
    assert checks(obs(feature("a", rates=kw), feature("b"))) == {check: "alert"}


def test_errors_latency_log_and_versions() -> None:
    found = checks(
        obs(
            errors=300, requests=5000, latency_p99_ms=900.0, bad_lines=2, other_versions={"old": 10}
        )
    )
    assert found == {"errors": "alert", "log": "warning", "versions": "info"}
    strict = MonitorConfig(latency_p99_ms=500.0)
    assert any(f.check == "latency" for f in decide(obs(latency_p99_ms=900.0), strict).findings)


def test_prediction_drift_is_an_alert_or_a_warning_by_policy() -> None:
    pred = ColumnDrift(
        column="prediction",
        kind="categorical",
        method="jensenshannon",
        statistic=0.3,
        threshold=0.1,
        drifted=True,
        detail="d",
    )
    assert checks(obs(predictions=(pred,))) == {"prediction_drift": "alert"}
    soft = MonitorConfig(prediction_drift=False)
    assert decide(obs(predictions=(pred,)), soft).status == "healthy"
