"""The release and monitoring policies of mlgate.yaml (`canary:`, `monitor:`) and the
durations they are written in (`30s`, `5m`, `1h`, Flagger's spelling).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator, Field

from mlgate.core.frozen import Frozen
from mlgate.core.skew import SkewConfig

Duration = Annotated[str, Field(pattern=r"^\d+(\.\d+)?[smhdw]$")]


def duration_seconds(text: str) -> float:
    """Seconds in a duration such as `90s`, `30m`, `24h`, `7d`, `2w`."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    return float(text[:-1]) * units[text[-1]]


class MonitorConfig(Frozen):
    """`mlgate monitor`: which log, which period, and when the verdict is an alert."""

    logs: str = Field(
        default="logs", description="Prediction log directory (or file) of the served model."
    )
    since: Duration = Field(default="24h", description="Look back this far: 90m, 24h, 7d.")
    window: Duration = Field(default="1h", description="Time windows of the trend plots.")
    min_rows: int = Field(
        default=200, ge=1, description="Fewer predicted rows than this: no verdict on drift."
    )
    performance_drop: float = Field(
        default=0.05,
        gt=0.0,
        description="Alert when accuracy (realised from labels, or estimated without) is this "
        "much below the holdout's (R2 for regression).",
    )
    missing_increase: float = Field(
        default=0.1, gt=0.0, description="Alert when a feature's null share rises this much."
    )
    out_of_schema_rate: float = Field(
        default=0.01, gt=0.0, description="Alert when this share of a feature breaks the schema."
    )
    unseen_category_rate: float = Field(
        default=0.05, gt=0.0, description="Alert when this share of a category is unseen."
    )
    error_rate: float = Field(
        default=0.05, gt=0.0, description="Alert when this share of predict requests is refused."
    )
    latency_p99_ms: float | None = Field(
        default=None, gt=0.0, description="Alert when the 99th latency percentile is above."
    )
    prediction_drift: bool = Field(
        default=True, description="Prediction drift is an alert (false: a warning)."
    )
    skew: SkewConfig = Field(
        default_factory=SkewConfig,
        description="`mlgate monitor --skew FILE`: served against offline values of the same rows.",
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> object:
    """Seconds from a number or a duration as Flagger and Prometheus write it (`90s`, `1m`,
    `1m30s`, `500ms`); anything else is passed on for pydantic to reject with the key."""
    if isinstance(value, str):
        text = value.strip()
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a duration (e.g. 30s, 1m, 500ms)") from None
    return value


CheckName = Literal[
    "canary-up",
    "stable-up",
    "traffic",
    "error-rate",
    "latency",
    "latency-vs-incumbent",
    "prediction-divergence",
    "input-drift",
    "online-accuracy",
]
CHECKS: tuple[CheckName, ...] = get_args(CheckName)
"""Every check of a release window, in the order each window reports them."""

# Seconds, written as a number or as Flagger and Prometheus write durations.
# Finite: an infinite interval or window would never be checked again.
Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0.0, allow_inf_nan=False)]


class CanaryConfig(Frozen):
    """How `mlgate deploy` releases a candidate beside the incumbent and judges it.

    The schedule uses Flagger's analysis vocabulary and defaults: every `interval` the checks
    run; a passing canary steps its traffic weight by `step_weight` up to `max_weight`, then is
    promoted; A/B and shadow releases promote after `iterations` passing checks; `threshold`
    failed checks roll back. Flagger leaves `stepWeight` unset; mlgate steps by 20 (five steps).
    The checks: Flagger's two (error rate and p99 latency of the candidate), then what a model
    does, against the incumbent on the same window: prediction divergence, input drift, online
    accuracy from fed-back labels. Every window reports all of them (`CHECKS`), a check without
    data as skipped with the reason; `require` names those that must have run before a
    promotion. A release without traffic pauses (nothing is judged) for up to `max_pause`.
    """

    interval: Seconds = Field(default=60.0, description="Seconds between checks (or 30s, 1m).")
    threshold: int = Field(default=1, ge=1, description="Failed checks before rollback.")
    step_weight: int = Field(default=20, ge=1, le=100, description="Canary weight step (%).")
    max_weight: int = Field(default=100, ge=1, le=100, description="Weight to promote at (%).")
    iterations: int = Field(
        default=10, ge=1, description="A/B and shadow: passing checks before promotion."
    )
    ab_weight: int = Field(
        default=50, ge=1, le=99, description="A/B: share (%) of keys (users) sent to the candidate."
    )
    max_error_rate: float = Field(
        default=1.0, ge=0.0, le=100.0, description="Most 5xx answers (%) of the candidate."
    )
    max_p99_ms: float = Field(default=500.0, gt=0.0, description="Highest candidate p99 (ms).")
    max_p99_increase_ms: float = Field(
        default=100.0, ge=0.0, description="Most the candidate's p99 may exceed the incumbent's."
    )
    min_requests: int = Field(
        default=20, ge=1, description="Fewer candidate requests in a window fail the check."
    )
    divergence: Literal["jensenshannon", "psi"] = Field(
        default="jensenshannon",
        description="Distance between candidate and incumbent prediction distributions.",
    )
    max_divergence: float | None = Field(
        default=None, gt=0.0, description="Highest divergence (default 0.1, as the data gate)."
    )
    max_drift_share: float = Field(
        default=0.5, gt=0.0, le=1.0, description="Most features drifted in the candidate's inputs."
    )
    max_accuracy_drop: float = Field(
        default=0.05,
        ge=0.0,
        description="Online accuracy the candidate may lose vs the incumbent (regression: "
        "relative increase of the mean absolute error).",
    )
    min_labels: int = Field(
        default=50, ge=1, description="Fed-back rows per variant before accuracy is judged."
    )
    labels: bool = Field(
        default=False,
        description="Labels are fed back (POST /feedback) during a release: online accuracy "
        "joins the checks `require` names by default.",
    )
    require: tuple[CheckName, ...] | None = Field(
        default=None,
        description="Checks that must have run (passed or failed, not skipped) in some window "
        "before a promotion; a release that would promote without one ends not promoted, and "
        "records no rejection. Default: prediction-divergence, and online-accuracy when "
        "`labels` is true.",
    )
    max_pause: Seconds = Field(
        default=600.0,
        description="A release paused for want of traffic this long (or 10m) ends not "
        "promoted, recording no rejection (Flagger's progressDeadlineSeconds).",
    )

    def required(self) -> tuple[CheckName, ...]:
        """The checks that must have run before a promotion (`require`, or its default)."""
        if self.require is not None:
            return self.require
        default: tuple[CheckName, ...] = ("prediction-divergence",)
        return (*default, "online-accuracy") if self.labels else default
