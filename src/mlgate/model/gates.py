"""Quality gates: pure functions from metrics to a verdict, with MLflow `MetricThreshold` semantics.

Every gate is checked and every failure reported at once; nothing here reads files or models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mlgate.config import GateConfig

CheckKind = Literal["threshold", "min_absolute_change", "min_relative_change"]


class GateCheck(BaseModel):
    """One bound of one gate, and whether the challenger met it."""

    model_config = ConfigDict(frozen=True)

    metric: str
    kind: CheckKind
    value: float
    bound: float
    baseline: float | None = None
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


def _check_threshold(gate: GateConfig, value: float, threshold: float) -> GateCheck:
    hib = gate.higher_is_better
    ok = not math.isnan(value) and (value >= threshold if hib else value <= threshold)
    op = ">=" if hib else "<="
    msg = f"{gate.metric} = {_fmt(value)}, required {op} {_fmt(threshold)}"
    if not ok:
        msg += f" (threshold gate on {gate.metric} failed)"
    return GateCheck(
        metric=gate.metric,
        kind="threshold",
        value=value,
        bound=threshold,
        higher_is_better=hib,
        passed=ok,
        message=msg,
    )


def _improvement(value: float, baseline: float, higher_is_better: bool) -> float:
    return value - baseline if higher_is_better else baseline - value


def _check_change(
    gate: GateConfig, kind: CheckKind, value: float, baseline: float, bound: float
) -> GateCheck:
    hib = gate.higher_is_better
    gain = _improvement(value, baseline, hib)
    if kind == "min_relative_change":
        if baseline == 0:
            change = 0.0 if gain == 0 else math.copysign(math.inf, gain)
        else:
            change = gain / abs(baseline)
        label = f"relative improvement {change:+.2%}, required >= {bound:+.2%}"
    else:
        change = gain
        label = f"improvement {change:+.4g}, required >= {bound:+.4g}"
    ok = not (math.isnan(value) or math.isnan(baseline)) and change >= bound
    msg = f"{gate.metric} = {_fmt(value)} vs champion {_fmt(baseline)}: {label}"
    if not ok:
        msg += f" (challenger regressed on {gate.metric} beyond tolerance)"
    return GateCheck(
        metric=gate.metric,
        kind=kind,
        value=value,
        bound=bound,
        baseline=baseline,
        higher_is_better=hib,
        passed=ok,
        message=msg,
    )


def evaluate_gates(
    gates: Sequence[GateConfig],
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
) -> GateVerdict:
    """Check every gate of the challenger's metrics (and against the champion's, if any)."""
    checks: list[GateCheck] = []
    notes: list[str] = []
    relative = False
    for gate in gates:
        value = challenger.get(gate.metric, math.nan)
        if gate.threshold is not None:
            checks.append(_check_threshold(gate, value, gate.threshold))
        for kind, bound in (
            ("min_absolute_change", gate.min_absolute_change),
            ("min_relative_change", gate.min_relative_change),
        ):
            if bound is None:
                continue
            relative = True
            if champion is None:
                continue
            baseline = champion.get(gate.metric, math.nan)
            checks.append(_check_change(gate, kind, value, baseline, bound))  # type: ignore[arg-type]
    if relative and champion is None:
        notes.append("no champion to compare with: only absolute thresholds were applied")
    if not gates:
        notes.append("no gates configured: every model passes; add `gates:` to mlgate.yaml")
    return GateVerdict(
        passed=all(c.passed for c in checks), checks=tuple(checks), notes=tuple(notes)
    )
