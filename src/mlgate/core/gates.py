"""Quality gates: pure functions from metrics to a verdict, with MLflow `MetricThreshold` semantics.

Every gate is checked and every failure reported at once; nothing here reads files or models.

`threshold` is an absolute bound. `min_gain_over_baseline` compares with the best trivial model
(a Dummy estimator) on the same holdout. `min_absolute_change` / `min_relative_change` compare
with the champion on the same holdout; when a paired-bootstrap interval of the improvement is
given, the check fails only when the whole interval lies below the bound (the challenger is
worse than the tolerance with that confidence), so holdout noise passes. Without an interval
(`evaluation.bootstrap_resamples: 0`) the point estimates are compared, as MLflow does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mlgate.core.config import GateConfig

CheckKind = Literal[
    "threshold", "min_gain_over_baseline", "min_absolute_change", "min_relative_change"
]
ChangeKind = Literal["min_absolute_change", "min_relative_change"]


class GateCheck(BaseModel):
    """One bound of one gate, and whether the challenger met it."""

    model_config = ConfigDict(frozen=True)

    metric: str
    kind: CheckKind
    value: float
    bound: float
    baseline: float | None = None
    interval: tuple[float, float] | None = None
    higher_is_better: bool
    passed: bool
    message: str


class GateVerdict(BaseModel):
    """All gate checks; `passed` only when every one passed."""

    model_config = ConfigDict(frozen=True)

    passed: bool
    checks: tuple[GateCheck, ...]
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[GateCheck, ...]:
        """The checks that did not pass."""
        return tuple(c for c in self.checks if not c.passed)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _gate_check(
    gate: GateConfig, passed: bool, message: str, why: str, **compared: object
) -> GateCheck:
    """The check of one bound of `gate` (`compared`: the GateCheck fields saying which bound and
    what was compared): `message`, with `why` it failed when it did not pass."""
    return GateCheck(
        metric=gate.metric,
        higher_is_better=gate.higher_is_better,
        passed=passed,
        message=message if passed else f"{message} ({why})",
        **compared,
    )


def _check_threshold(gate: GateConfig, value: float, threshold: float) -> GateCheck:
    hib = gate.higher_is_better
    ok = not math.isnan(value) and (value >= threshold if hib else value <= threshold)
    op = ">=" if hib else "<="
    msg = f"{gate.metric} = {_fmt(value)}, required {op} {_fmt(threshold)}"
    why = f"threshold gate on {gate.metric} failed"
    return _gate_check(gate, ok, msg, why, kind="threshold", value=value, bound=threshold)


def _improvement(value: float, baseline: float, higher_is_better: bool) -> float:
    return value - baseline if higher_is_better else baseline - value


def _check_baseline(gate: GateConfig, value: float, baseline: float, margin: float) -> GateCheck:
    hib = gate.higher_is_better
    gain = _improvement(value, baseline, hib)
    ok = not (math.isnan(value) or math.isnan(baseline)) and gain >= margin
    msg = (
        f"{gate.metric} = {_fmt(value)} vs trivial baseline {_fmt(baseline)}: "
        f"gain {gain:+.4g}, required >= {margin:+.4g}"
    )
    why = "the model does not beat a constant prediction by the margin"
    return _gate_check(
        gate,
        ok,
        msg,
        why,
        kind="min_gain_over_baseline",
        value=value,
        bound=margin,
        baseline=baseline,
    )


def _check_change(
    gate: GateConfig,
    kind: ChangeKind,
    value: float,
    baseline: float,
    bound: float,
    interval: tuple[float, float] | None = None,
    confidence: float = 0.95,
) -> GateCheck:
    hib = gate.higher_is_better
    gain = _improvement(value, baseline, hib)
    relative = kind == "min_relative_change"
    if relative:
        if baseline == 0:
            change = 0.0 if gain == 0 else math.copysign(math.inf, gain)
        else:
            change = gain / abs(baseline)

        def show(x: float) -> str:
            return f"{x:+.2%}"

        label = f"relative improvement {show(change)}"
    else:
        change = gain

        def show(x: float) -> str:
            return f"{x:+.4g}"

        label = f"improvement {show(change)}"
    valid = not (math.isnan(value) or math.isnan(baseline))
    if interval is not None:
        low, high = interval
        ok = valid and high >= bound
        label += (
            f" ({confidence:.0%} interval {show(low)} to {show(high)}), required >= "
            f"{show(bound)}; fails only when the whole interval is below"
        )
    else:
        ok = valid and change >= bound
        label += f", required >= {show(bound)}"
    msg = f"{gate.metric} = {_fmt(value)} vs champion {_fmt(baseline)}: {label}"
    why = f"challenger regressed on {gate.metric} beyond tolerance"
    return _gate_check(
        gate,
        ok,
        msg,
        why,
        kind=kind,
        value=value,
        bound=bound,
        baseline=baseline,
        interval=interval,
    )


def evaluate_gates(
    gates: Sequence[GateConfig],
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    *,
    baseline: Mapping[str, float] | None = None,
    intervals: Mapping[tuple[str, str], tuple[float, float]] | None = None,
    confidence: float = 0.95,
) -> GateVerdict:
    """Check every gate of the challenger's metrics: absolute, against the trivial `baseline`
    and against the champion's (with the bootstrap `intervals` of the improvement, keyed by
    (metric, kind), where given)."""
    checks: list[GateCheck] = []
    notes: list[str] = []
    relative = False
    for gate in gates:
        value = challenger.get(gate.metric, math.nan)
        if gate.threshold is not None:
            checks.append(_check_threshold(gate, value, gate.threshold))
        if gate.min_gain_over_baseline is not None:
            base = (baseline or {}).get(gate.metric, math.nan)
            checks.append(_check_baseline(gate, value, base, gate.min_gain_over_baseline))
        changes: tuple[tuple[ChangeKind, float | None], ...] = (
            ("min_absolute_change", gate.min_absolute_change),
            ("min_relative_change", gate.min_relative_change),
        )
        for kind, bound in changes:
            if bound is None:
                continue
            relative = True
            if champion is None:
                continue
            old = champion.get(gate.metric, math.nan)
            interval = (intervals or {}).get((gate.metric, kind))
            checks.append(_check_change(gate, kind, value, old, bound, interval, confidence))
    if relative and champion is None:
        notes.append(
            "no champion to compare with: only the absolute and baseline gates were applied"
        )
    if not gates:
        notes.append("no gates configured: every model passes; add `gates:` to mlgate.yaml")
    return GateVerdict(
        passed=all(c.passed for c in checks), checks=tuple(checks), notes=tuple(notes)
    )
