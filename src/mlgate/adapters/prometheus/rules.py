"""Prometheus alert rules on the server's metrics, and the PrometheusRule that carries them.

`mlgate deploy` writes both: `prometheus/alert-rules.yml` (a rule file for a Prometheus that
scrapes the pods; `promtool check rules` accepts it) and `prometheus-rule.yaml` (the same groups
as a `monitoring.coreos.com/v1` PrometheusRule, for the Prometheus Operator).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlgate.store import atomic

RULE_FILE = "alert-rules.yml"


def _job(name: str) -> str:
    # The scrape job named after the model: what a ServiceMonitor of its Service gives.
    return f'job="{name}"'


@dataclass(frozen=True)
class _Rule:
    alert: str
    expr: Callable[[str], str]  # of the job's label selector
    duration: str
    severity: str
    text: str


# The server's own gauges and counters, judged over windows long enough to mean something.
_RULES: tuple[_Rule, ...] = (
    _Rule(
        "MlgateFeatureDrift",
        lambda sel: f"max by (feature) (mlgate_feature_drifted{{{sel}}}) == 1",
        "30m",
        "warning",
        "feature {{ $labels.feature }} has drifted from the training reference "
        "(statistic {{ $value }}); run `mlgate monitor` for the report",
    ),
    _Rule(
        "MlgatePredictionDrift",
        lambda sel: f"max(mlgate_prediction_drift{{{sel}}}) >= 0.1",
        "30m",
        "warning",
        "the predictions have drifted from the holdout's (distance {{ $value }})",
    ),
    _Rule(
        "MlgateUnseenCategories",
        lambda sel: f"max by (feature) (mlgate_unseen_category_rate{{{sel}}}) > 0.05",
        "15m",
        "warning",
        "{{ $value | humanizePercentage }} of {{ $labels.feature }} values are "
        "categories training never saw",
    ),
    _Rule(
        "MlgateAccuracyDrop",
        lambda sel: (
            f'sum(rate(mlgate_feedback_total{{{sel},outcome="correct"}}[1h])) / '
            f'sum(rate(mlgate_feedback_total{{{sel},outcome=~"correct|incorrect"}}[1h])) '
            "< 0.7"
        ),
        "1h",
        "critical",
        "accuracy on labelled feedback is {{ $value | humanizePercentage }}",
    ),
    _Rule(
        "MlgateHighErrorRate",
        lambda sel: (
            f"sum(rate(mlgate_errors_total{{{sel}}}[5m])) / "
            f'sum(rate(mlgate_requests_total{{{sel},route="/predict"}}[5m])) > 0.05'
        ),
        "10m",
        "critical",
        "{{ $value | humanizePercentage }} of requests fail or are refused",
    ),
    _Rule(
        "MlgateHighLatency",
        lambda sel: (
            "histogram_quantile(0.99, sum by (le) (rate("
            f'mlgate_request_latency_seconds_bucket{{{sel},route="/predict"}}[5m]))) > 0.5'
        ),
        "10m",
        "warning",
        "p99 latency of /predict is {{ $value }} s",
    ),
    _Rule(
        "MlgateNotReady",
        lambda sel: f"min(mlgate_ready{{{sel}}}) == 0",
        "10m",
        "critical",
        "a worker has not loaded its model",
    ),
    _Rule(
        "MlgatePredictionLogDrops",
        lambda sel: f"sum(increase(mlgate_prediction_log_dropped_total{{{sel}}}[15m])) > 0",
        "0m",
        "warning",
        "{{ $value }} prediction log records were dropped: monitoring misses them",
    ),
)


def alert_groups(name: str) -> list[dict[str, Any]]:
    """The rule groups for the model server deployed as `name` (scraped as job `name`)."""
    sel = _job(name)
    rules = [
        {
            "alert": r.alert,
            "expr": r.expr(sel),
            "for": r.duration,
            "labels": {"severity": r.severity, "model": name},
            "annotations": {"summary": f"model {name}: {r.text}"},
        }
        for r in _RULES
    ]
    return [{"name": f"mlgate-{name}", "rules": rules}]


def rule_file(name: str) -> dict[str, Any]:
    """A Prometheus rule file (`rule_files:` in prometheus.yml)."""
    return {"groups": alert_groups(name)}


def prometheus_rule(name: str, namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    """The same rules as a Prometheus Operator PrometheusRule."""
    meta: dict[str, Any] = {"name": f"{name}-alerts", "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta,
        "spec": {"groups": alert_groups(name)},
    }


def write_rule_file(directory: Path, name: str) -> Path:
    """Write `alert-rules.yml` for a Prometheus outside Kubernetes; returns its path."""

    header = (
        "# Written by `mlgate deploy --target kubernetes`: alert rules on the model server's\n"
        "# metrics, for a Prometheus outside the cluster (inside, prometheus-rule.yaml holds\n"
        "# them). Add it to rule_files in prometheus.yml; `promtool check rules` checks it.\n"
    )
    text = header + yaml.safe_dump(rule_file(name), sort_keys=False, width=120)
    return atomic.write_text(directory / RULE_FILE, text)
