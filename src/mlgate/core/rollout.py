"""A rollout's plan and decisions, apart from doing them: pure functions of the strategy, the
policy, one window's observations and what the rollout record says. The controller
(`mlgate.app.rollout.controller`) executes them, Argo Rollouts' and Flagger's manifests
follow the same schedule.

    decide           one window's checks (`mlgate.core.canary.evaluate`) and Flagger's
                     schedule -> Promote | Continue | Rollback: a failed check holds the weight
                     and counts, `threshold` of them roll back; a passing canary steps by
                     step_weight up to max_weight and promotes there; A/B and shadow promote
                     after `iterations` passing windows
    decide_unobserved  a window with no observations counts as a failed check

    start_plan       what a deploy starts: the environment (on the incumbent, or on the
                     candidate for `direct`), and whether the candidate is then analysed
    initial_weight   the candidate's first share: step_weight (canary), ab_weight (A/B),
                     none (shadow: it gets a copy of every request)
    canary_weights   the weights a passing canary steps through, up to max_weight
    progress         the `Progress` a window is decided from
    apply            the rollout record after a `Continue`
    window_record    a decision as the history records it
    guard_grace      how long a rollout may go undecided before its guard rolls it back
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from mlgate.core.canary import Check, Observations, Progress, evaluate, failure_reason
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import CheckRecord, RolloutRecord, WindowRecord
from mlgate.core.vocab import AnalysedStrategy, ReleaseStrategy

GUARD_MIN_GRACE_S = 15.0


@dataclass(frozen=True)
class Promote:
    """Every check passed at the last step: the candidate becomes the incumbent."""

    checks: tuple[Check, ...]
    reason: str
    action: Literal["promote"] = "promote"


@dataclass(frozen=True)
class Continue:
    """Go on at `weight` (stepped after a pass, held after a failure under the threshold)."""

    weight: int
    failed_checks: int
    iterations: int
    checks: tuple[Check, ...]
    reason: str
    action: Literal["continue"] = "continue"


@dataclass(frozen=True)
class Rollback:
    """`threshold` checks failed: traffic goes back to the incumbent."""

    failed_checks: int
    checks: tuple[Check, ...]
    reason: str
    action: Literal["rollback"] = "rollback"


Decision = Promote | Continue | Rollback


def decide(obs: Observations, policy: CanaryConfig) -> Decision:
    """The next step of the rollout, from one window's checks and Flagger's schedule."""
    checks = evaluate(obs, policy)
    progress = obs.progress
    if any(c.failed for c in checks):
        return _failed(checks, progress, policy)
    passed = sum(c.status == "passed" for c in checks)
    if progress.strategy == "canary":
        if progress.weight >= policy.max_weight:
            return Promote(checks, f"all {passed} checks passed at {progress.weight}% (max_weight)")
        weight = min(progress.weight + policy.step_weight, policy.max_weight)
        return Continue(
            weight,
            progress.failed_checks,
            progress.iterations + 1,
            checks,
            f"all {passed} checks passed at {progress.weight}%: stepping to {weight}%",
        )
    iterations = progress.iterations + 1
    if iterations >= policy.iterations:
        return Promote(
            checks, f"all {passed} checks passed, {iterations}/{policy.iterations} iterations"
        )
    return Continue(
        progress.weight,
        progress.failed_checks,
        iterations,
        checks,
        f"all {passed} checks passed: iteration {iterations}/{policy.iterations}",
    )


def _failed(checks: tuple[Check, ...], progress: Progress, policy: CanaryConfig) -> Decision:
    failed = progress.failed_checks + 1
    reason = failure_reason(checks)
    if failed >= policy.threshold:
        return Rollback(failed, checks, f"{failed} failed check(s): {reason}")
    return Continue(
        progress.weight,
        failed,
        progress.iterations,
        checks,
        f"held at {progress.weight}% ({failed}/{policy.threshold} failed): {reason}",
    )


def decide_unobserved(progress: Progress, policy: CanaryConfig, why: str) -> Decision:
    """A window nothing could be observed in (metrics unreachable) counts as a failed check,
    as a Flagger metric query that errors does."""
    return _failed((Check("analysis", "failed", f"no observations: {why}"),), progress, policy)


@dataclass(frozen=True)
class StartPlan:
    """What a deploy does before the first window.

    `environment` is None when the splitter runs already; else the variant it starts with
    (the candidate for a direct release, the incumbent otherwise). `analysed` is None for a
    direct release: the candidate takes all traffic without a window.
    """

    environment: Literal["candidate", "incumbent"] | None
    analysed: AnalysedStrategy | None

    @property
    def done_at_start(self) -> bool:
        """The environment starts on the candidate itself: the release is over once it runs."""
        return self.environment == "candidate"


def start_plan(strategy: ReleaseStrategy, *, environment_up: bool) -> StartPlan:
    """The plan of a deploy of `strategy`, with or without a running environment."""
    analysed: AnalysedStrategy | None = None if strategy == "direct" else strategy
    if environment_up:
        return StartPlan(None, analysed)
    return StartPlan("candidate" if analysed is None else "incumbent", analysed)


def initial_weight(strategy: AnalysedStrategy, policy: CanaryConfig) -> int:
    """The candidate's share of traffic (canary) or of keys (A/B) when it is first routed."""
    if strategy == "canary":
        return policy.step_weight
    if strategy == "ab":
        return policy.ab_weight
    return 0


def canary_weights(policy: CanaryConfig) -> tuple[int, ...]:
    """Every weight a passing canary holds, from step_weight up to max_weight."""
    weights = list(range(policy.step_weight, policy.max_weight, policy.step_weight))
    return (*weights, policy.max_weight)


def progress(rollout: RolloutRecord) -> Progress:
    """Where the rollout stands, as `decide` reads it."""
    return Progress(rollout.strategy, rollout.weight, rollout.failed_checks, rollout.iterations)


def with_liveness(obs: Observations, *, stable_running: bool, canary_running: bool) -> Observations:
    """What the controller sees itself counts too: a process that died is down at once,
    whatever the last scrape said."""
    return replace(
        obs,
        stable=replace(obs.stable, up=obs.stable.up and stable_running),
        canary=replace(obs.canary, up=obs.canary.up and canary_running),
    )


def apply(rollout: RolloutRecord, decision: Continue) -> RolloutRecord:
    """The rollout after a window that neither promoted nor rolled back."""
    return rollout.model_copy(
        update={
            "weight": decision.weight,
            "failed_checks": decision.failed_checks,
            "iterations": decision.iterations,
        }
    )


def window_record(decision: Decision, *, ts: float, weight: int) -> WindowRecord:
    """The history entry of one window's decision, taken at `weight`."""
    next_weight = failed = iterations = None
    if isinstance(decision, Continue):
        next_weight, failed, iterations = (
            decision.weight,
            decision.failed_checks,
            decision.iterations,
        )
    elif isinstance(decision, Rollback):
        failed = decision.failed_checks
    return WindowRecord(
        ts=ts,
        weight=weight,
        action=decision.action,
        reason=decision.reason,
        next_weight=next_weight,
        failed_checks=failed,
        iterations=iterations,
        checks=tuple(
            CheckRecord(
                name=c.name,
                status=c.status,
                message=c.message,
                observed=c.observed,
                threshold=c.threshold,
            )
            for c in decision.checks
        ),
    )


def guard_grace(interval: float) -> float:
    """How long a rollout may go undecided before its guard rolls it back: two intervals, and
    at least long enough for the same command to be started again."""
    return max(2.0 * interval, GUARD_MIN_GRACE_S)
