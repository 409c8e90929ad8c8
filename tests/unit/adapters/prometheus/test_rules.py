"""The alert rules `mlgate deploy` writes: the metrics they watch exist, and both forms agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mlgate.adapters.prometheus.rules import RULE_FILE, alert_groups
from mlgate.app.kubernetes.target import ManifestOptions, write_manifests

pytestmark = pytest.mark.unit

IMAGE = "ghcr.io/acme/churn@sha256:" + "ab" * 32
# Every series the server exports that a rule may use (serve/metrics.py, drift.py, feedback.py).
EXPORTED = {
    "mlgate_feature_drifted", "mlgate_prediction_drift", "mlgate_unseen_category_rate",
    "mlgate_feedback_total", "mlgate_errors_total", "mlgate_requests_total",
    "mlgate_request_latency_seconds_bucket", "mlgate_ready", "mlgate_prediction_log_dropped_total",
}  # fmt: skip


def test_rules_use_only_exported_series_scoped_to_the_model() -> None:
    (group,) = alert_groups("churn")
    names = [r["alert"] for r in group["rules"]]
    assert len(names) == len(set(names))
    for r in group["rules"]:
        series = set(re.findall(r"\b(mlgate_[a-z_]+)\{", r["expr"]))
        assert series, r["expr"]
        assert series <= EXPORTED, series - EXPORTED
        assert r["expr"].count('job="churn"') == len(re.findall(r"mlgate_[a-z_]+\{", r["expr"]))
        assert r["labels"]["severity"] in {"warning", "critical"}


def test_deploy_writes_the_same_rules_twice(tmp_path: Path) -> None:
    written = write_manifests(ManifestOptions(image=IMAGE, namespace="models"), tmp_path)
    rules = tmp_path / "prometheus" / RULE_FILE
    assert rules in written
    plain = yaml.safe_load(rules.read_text())
    (crd,) = list(yaml.safe_load_all((tmp_path / "prometheus-rule.yaml").read_text()))
    assert crd["apiVersion"] == "monitoring.coreos.com/v1"
    assert crd["metadata"]["name"] == "churn-alerts"
    assert crd["spec"]["groups"] == plain["groups"] == alert_groups("churn")
