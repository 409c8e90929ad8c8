"""The monitor's verdict: a pure function of the observations and the policy.

`decide` reads numbers only (no files, no clock), so every threshold is tested directly. An
`alert` finding makes the verdict `alert` (exit 1, like a failed gate); `warning` and `info`
findings are reported and leave it `healthy`. Too little traffic for a drift verdict is a
warning, not an alert: silence is not a regression.

Performance is judged twice. With labels, the realised metric is compared with the holdout's;
a drop while the inputs have not drifted is named concept drift (the relation between inputs
and label changed, which no input check can see). Without labels, the CBPE estimate is
compared with the same holdout metric: a likely drop, weeks before labels say so.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlgate.core.drift import ColumnDrift
from mlgate.core.frozen import Frozen
from mlgate.core.policy import MonitorConfig
from mlgate.core.skew import FeatureSkew

Severity = Literal["alert", "warning", "info"]
Status = Literal["healthy", "alert"]


class Finding(Frozen):
    """One thing the monitor noticed."""

    check: str
    severity: Severity
    message: str
    subject: str | None = None


class Verdict(Frozen):
    """Every finding, and what they add up to."""

    status: Status
    findings: tuple[Finding, ...]

    @property
    def alerts(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "alert")


class FeatureObservation(Frozen):
    """One feature over the period."""

    name: str
    drift: ColumnDrift
    missing_rate: float
    reference_missing_rate: float
    out_of_schema_rate: float
    unseen_rate: float
    unseen_examples: tuple[str, ...] = ()


class Observations(Frozen):
    """The numbers a verdict is made of."""

    rows: int
    requests: int
    errors: int
    features: tuple[FeatureObservation, ...]
    drift_share: float
    drift_share_threshold: float
    predictions: tuple[ColumnDrift, ...] = ()
    latency_p99_ms: float | None = None
    metric: str | None = None
    reference: float | None = None
    realised: float | None = None
    labelled: int = 0
    estimated: float | None = None
    bad_lines: int = 0
    other_versions: dict[str, int] = Field(default_factory=dict)
    skew: tuple[FeatureSkew, ...] = ()


def _input_findings(obs: Observations, policy: MonitorConfig) -> list[Finding]:
    found: list[Finding] = []
    drifted = [f.name for f in obs.features if f.drift.drifted]
    checked = [f for f in obs.features if f.drift.checked]
    if drifted:
        dataset = checked and obs.drift_share >= obs.drift_share_threshold
        found.append(
            Finding(
                check="input_drift",
                severity="alert" if dataset else "warning",
                message=f"{len(drifted)} of {len(checked)} features drifted "
                f"({obs.drift_share:.0%}; dataset drift at {obs.drift_share_threshold:.0%}): "
                + ", ".join(drifted),
                subject=",".join(drifted),
            )
        )
    for f in obs.features:
        found.extend(_feature_findings(f, policy))
    return found


def _feature_findings(f: FeatureObservation, policy: MonitorConfig) -> list[Finding]:
    """One feature's alerts: more missing values, values off the schema, unseen categories."""
    rise = f.missing_rate - f.reference_missing_rate
    shown = ", ".join(repr(x) for x in f.unseen_examples[:5])
    checks = (
        (
            "missing_values",
            rise >= policy.missing_increase,
            f"{f.name}: {f.missing_rate:.1%} missing, {f.reference_missing_rate:.1%} in the "
            f"reference (+{rise:.1%} >= {policy.missing_increase:.1%})",
        ),
        (
            "out_of_schema",
            f.out_of_schema_rate >= policy.out_of_schema_rate,
            f"{f.name}: {f.out_of_schema_rate:.1%} of values break the schema "
            f"(range, categories or nulls; >= {policy.out_of_schema_rate:.1%})",
        ),
        (
            "unseen_categories",
            f.unseen_rate >= policy.unseen_category_rate,
            f"{f.name}: {f.unseen_rate:.1%} of values are categories the training data never "
            f"had (>= {policy.unseen_category_rate:.1%}): {shown}",
        ),
    )
    return [
        Finding(check=check, severity="alert", subject=f.name, message=message)
        for check, hit, message in checks
        if hit
    ]


def _performance_findings(
    obs: Observations, policy: MonitorConfig, inputs_drifted: bool
) -> list[Finding]:
    found: list[Finding] = []
    if obs.metric is None or obs.reference is None:
        return found
    floor = obs.reference - policy.performance_drop
    # Too few rows make an accuracy of noise: both comparisons need monitor.min_rows.
    if obs.realised is not None and obs.labelled >= policy.min_rows and obs.realised < floor:
        concept = not inputs_drifted
        found.append(
            Finding(
                check="concept_drift" if concept else "performance",
                severity="alert",
                subject=obs.metric,
                message=f"realised {obs.metric} {obs.realised:.3f} on {obs.labelled} labelled "
                f"rows is below the holdout's {obs.reference:.3f} - {policy.performance_drop:g}"
                + (
                    " while the inputs have not drifted: concept drift (the relation "
                    "between inputs and label changed); retrain on recent labelled data"
                    if concept
                    else ", with input drift"
                ),
            )
        )
    if obs.estimated is not None and obs.rows >= policy.min_rows and obs.estimated < floor:
        found.append(
            Finding(
                check="estimated_performance",
                severity="alert",
                subject=obs.metric,
                message=f"estimated {obs.metric} {obs.estimated:.3f} (from calibrated "
                f"probabilities, no labels) is below the holdout's {obs.reference:.3f} - "
                f"{policy.performance_drop:g}",
            )
        )
    return found


def _drift_findings(obs: Observations, policy: MonitorConfig) -> list[Finding]:
    """Input and prediction drift, or why there is no verdict on them (too little traffic)."""
    if obs.rows < policy.min_rows:
        return [
            Finding(
                check="traffic",
                severity="warning",
                message=f"{obs.rows} predicted rows in the period, fewer than monitor.min_rows "
                f"({policy.min_rows}): no verdict on drift",
            )
        ]
    found = _input_findings(obs, policy)
    found += [
        Finding(
            check="prediction_drift",
            severity="alert" if policy.prediction_drift else "warning",
            subject=p.column,
            message=f"the model's {p.column}s drifted from the holdout's: {p.detail}",
        )
        for p in obs.predictions
        if p.drifted
    ]
    return found


def _service_findings(obs: Observations, policy: MonitorConfig) -> list[Finding]:
    """Refused requests and latency against the policy."""
    found: list[Finding] = []
    total = obs.requests + obs.errors
    if total and obs.errors / total >= policy.error_rate:
        found.append(
            Finding(
                check="errors",
                severity="alert",
                message=f"{obs.errors} of {total} predict requests refused "
                f"({obs.errors / total:.1%} >= {policy.error_rate:.1%})",
            )
        )
    if (
        policy.latency_p99_ms is not None
        and obs.latency_p99_ms is not None
        and obs.latency_p99_ms > policy.latency_p99_ms
    ):
        found.append(
            Finding(
                check="latency",
                severity="alert",
                message=f"p99 latency {obs.latency_p99_ms:.1f} ms > {policy.latency_p99_ms:g} ms",
            )
        )
    return found


def _log_findings(obs: Observations) -> list[Finding]:
    """Unreadable lines, and rows of other model versions left out."""
    found: list[Finding] = []
    if obs.bad_lines:
        found.append(
            Finding(
                check="log",
                severity="warning",
                message=f"{obs.bad_lines} unreadable log line(s) skipped (truncated or partial "
                "writes)",
            )
        )
    found += [
        Finding(
            check="versions",
            severity="info",
            subject=version,
            message=f"{rows} row(s) from model version {version} left out: they are judged "
            "against their own bundle",
        )
        for version, rows in sorted(obs.other_versions.items())
    ]
    return found


def _skew_findings(obs: Observations) -> list[Finding]:
    """A feature whose served values are not the offline ones: an alert naming it."""
    found = []
    for f in obs.skew:
        if not f.failed:
            continue
        seen = f" (e.g. served {f.example[0]}, offline {f.example[1]})" if f.example else ""
        found.append(
            Finding(
                check="skew",
                severity="alert",
                subject=f.name,
                message=f"{f.name}: {f.differing} of {f.rows} rows served differ from the "
                f"offline values ({f.share:.2%}, limit {f.threshold_share:.2%}); "
                f"{f.distance_kind.replace('_', '-')} distance {f.distance:.4f} "
                f"(limit {f.threshold_distance:g}){seen}",
            )
        )
    return found


def decide(obs: Observations, policy: MonitorConfig) -> Verdict:
    """The verdict on one period of one model version."""
    inputs_drifted = any(f.drift.drifted for f in obs.features)
    found = [
        *_drift_findings(obs, policy),
        *_performance_findings(obs, policy, inputs_drifted),
        *_service_findings(obs, policy),
        *_log_findings(obs),
        *_skew_findings(obs),
    ]
    status: Status = "alert" if any(f.severity == "alert" for f in found) else "healthy"
    return Verdict(status=status, findings=tuple(found))
