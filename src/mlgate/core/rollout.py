"""A rollout's plan and decisions, apart from doing them: pure functions of the strategy, the
policy, one window's observations and what the rollout record says. The controller
(`mlgate.app.rollout.controller`) executes them, Argo Rollouts' and Flagger's manifests
follow the same schedule.

    decide           one window's checks (`mlgate.core.canary.evaluate`) and Flagger's
                     schedule -> Promote | Continue | Rollback | NotPromoted: a failed check
                     holds the weight and counts, `threshold` of them roll back; a passing
                     canary steps by step_weight up to max_weight and promotes there; A/B and
                     shadow promote after `iterations` passing windows. A window without
                     traffic to judge by pauses (the weight, counts and iterations stay);
                     `max_pause` of them end the release not promoted. A promotion needs every
                     check `require` names to have run in some window; without one the release
                     ends not promoted. Not promoted is not a rollback on a verdict: nothing
                     was shown wrong with the candidate, so no rejection is recorded
    decide_unobserved  a window with no observations counts as a failed check

    start_plan       what a deploy starts: the environment (on the incumbent, or on the
                     candidate for `direct`), and whether the candidate is then analysed
    initial_weight   the candidate's first share: step_weight (canary), ab_weight (A/B),
                     none (shadow: it gets a copy of every request)
    canary_weights   the weights a passing canary steps through, up to max_weight
    progress         the `Progress` a window is decided from
    apply            the rollout record after a `Continue`
    window_record    a decision as the history records it
    never_ran        the checks no window of a rollout judged, with why
    ended_as, standing  how a rollout ended (promoted, rolled back, not promoted), or where
                     it stands (paused: no traffic)
    guard_grace      how long a rollout may go undecided before its guard rolls it back
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from mlgate.core.canary import (
    Check,
    Observations,
    Progress,
    evaluate,
    failure_reason,
    skipped_reasons,
    unobserved,
)
from mlgate.core.policy import CHECKS, CanaryConfig
from mlgate.core.records.rollout import RolloutRecord, WindowRecord
from mlgate.core.vocab import AnalysedStrategy, ReleaseStrategy

GUARD_MIN_GRACE_S = 15.0
PAUSED = "paused: no traffic"
"""How the reason of a paused window begins (and what `standing` says of its rollout)."""
NOT_PROMOTED = "not promoted"
"""How the reason of a release that ended without promotion, and without a verdict, begins."""


@dataclass(frozen=True)
class Promote:
    """No check failed at the last step and every required one ran: the candidate becomes
    the incumbent."""

    checks: tuple[Check, ...]
    reason: str
    action: Literal["promote"] = "promote"

    @property
    def verb(self) -> str:
        return "promote"


@dataclass(frozen=True)
class Continue:
    """Go on at `weight` (stepped after a pass, held after a failure under the threshold,
    kept while `paused` for want of traffic)."""

    weight: int
    failed_checks: int
    iterations: int
    checks: tuple[Check, ...]
    reason: str
    action: Literal["continue"] = "continue"
    paused: bool = False

    @property
    def verb(self) -> str:
        return "pause" if self.paused else "continue"


@dataclass(frozen=True)
class Rollback:
    """`threshold` checks failed: traffic goes back to the incumbent, and the candidate's
    version records the rejection."""

    failed_checks: int
    checks: tuple[Check, ...]
    reason: str
    action: Literal["rollback"] = "rollback"
    reject: bool = True

    @property
    def verb(self) -> str:
        return "rollback"


@dataclass(frozen=True)
class NotPromoted:
    """The release ends without a verdict: a required check never ran, or no traffic came
    for `max_pause`. Traffic goes back to the incumbent; no rejection is recorded."""

    checks: tuple[Check, ...]
    reason: str
    action: Literal["rollback"] = "rollback"
    reject: bool = False

    @property
    def verb(self) -> str:
        return "end"


Decision = Promote | Continue | Rollback | NotPromoted


def decide(obs: Observations, policy: CanaryConfig) -> Decision:
    """The next step of the rollout, from one window's checks and Flagger's schedule."""
    checks = evaluate(obs, policy)
    progress = obs.progress
    if any(c.failed for c in checks):
        return _failed(checks, progress, policy)
    if next(c for c in checks if c.name == "traffic").status == "skipped":
        return _paused(checks, progress, policy)
    if progress.strategy == "canary":
        if progress.weight >= policy.max_weight:
            where = f"at {progress.weight}% (max_weight)"
            return _promote(checks, progress, policy, _tally(checks, where))
        weight = min(progress.weight + policy.step_weight, policy.max_weight)
        return Continue(
            weight,
            progress.failed_checks,
            progress.iterations + 1,
            checks,
            _tally(checks, f"at {progress.weight}%: stepping to {weight}%"),
        )
    iterations = progress.iterations + 1
    if iterations >= policy.iterations:
        where = f"in {iterations}/{policy.iterations} iterations"
        return _promote(checks, progress, policy, _tally(checks, where))
    return Continue(
        progress.weight,
        progress.failed_checks,
        iterations,
        checks,
        _tally(checks, f"in iteration {iterations}/{policy.iterations}"),
    )


def _tally(checks: tuple[Check, ...], where: str) -> str:
    """`7 of 9 checks passed WHERE; skipped: a (why), b (why)`: the count never moves."""
    passed = sum(c.status == "passed" for c in checks)
    skipped = skipped_reasons(checks)
    head = f"{passed} of {len(checks)} checks passed {where}"
    return head + (f"; skipped: {skipped}" if skipped else "")


def _promote(
    checks: tuple[Check, ...], progress: Progress, policy: CanaryConfig, reason: str
) -> Decision:
    ran = progress.ran | {c.name for c in checks if c.status != "skipped"}
    missing = [name for name in policy.required() if name not in ran]
    if not missing:
        return Promote(checks, reason)
    why = {c.name: c.message for c in checks}
    never = ", ".join(f"{name} ({why[name]})" for name in missing)
    return NotPromoted(
        checks,
        f"{NOT_PROMOTED}: required check{'s' if len(missing) > 1 else ''} {never} never ran "
        f"(canary.require); nothing was shown wrong with the candidate: {reason}",
    )


def _paused(checks: tuple[Check, ...], progress: Progress, policy: CanaryConfig) -> Decision:
    """No traffic to judge the candidate by: keep everything as it stands, up to max_pause."""
    paused = progress.paused + 1
    traffic = next(c for c in checks if c.name == "traffic").message
    if paused * policy.interval >= policy.max_pause:
        return NotPromoted(
            checks,
            f"{NOT_PROMOTED}: no traffic to judge the candidate by for {paused} window(s) "
            f"({paused * policy.interval:g}s, max_pause {policy.max_pause:g}s): {traffic}",
        )
    return Continue(
        progress.weight,
        progress.failed_checks,
        progress.iterations,
        checks,
        f"{PAUSED} at {progress.weight}% ({traffic}); window {paused}, it ends not promoted "
        f"after max_pause {policy.max_pause:g}s",
        paused=True,
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
    return _failed(unobserved(why), progress, policy)


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
    """Where the rollout stands, as `decide` reads it: the record, the windows paused in a
    row at its end, and the checks that ran in some window."""
    paused = 0
    for window in reversed(rollout.history):
        if not is_paused(window):
            break
        paused += 1
    ran = frozenset(c.name for w in rollout.history for c in w.checks if c.status != "skipped")
    return Progress(
        rollout.strategy, rollout.weight, rollout.failed_checks, rollout.iterations, paused, ran
    )


def is_paused(window: WindowRecord) -> bool:
    """The window paused the rollout for want of traffic."""
    return window.action == "continue" and window.reason.startswith(PAUSED)


def never_ran(rollout: RolloutRecord) -> dict[str, str]:
    """Each check no window judged (skipped in every one), with why it was last skipped."""
    out: dict[str, str] = {}
    for name in CHECKS:
        seen = [c for w in rollout.history for c in w.checks if c.name == name]
        if all(c.status == "skipped" for c in seen):
            out[name] = seen[-1].message if seen else "no window was analysed"
    return out


def ended_as(phase: str, reason: str | None) -> str:
    """How a release ended: promoted, rolled back (a verdict against the candidate), or not
    promoted (no verdict: nothing recorded against it)."""
    if phase == "succeeded":
        return "promoted"
    return NOT_PROMOTED if (reason or "").startswith(NOT_PROMOTED) else "rolled back"


def standing(rollout: RolloutRecord) -> str:
    """Where a rollout stands: `paused: no traffic` while its last window paused it, else
    its phase (or how it ended)."""
    if not rollout.active:
        return ended_as(rollout.phase, rollout.reason)
    if rollout.phase == "progressing" and rollout.history and is_paused(rollout.history[-1]):
        return PAUSED
    return rollout.phase


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
        checks=decision.checks,
    )


def guard_grace(interval: float) -> float:
    """How long a rollout may go undecided before its guard rolls it back: two intervals, and
    at least long enough for the same command to be started again."""
    return max(2.0 * interval, GUARD_MIN_GRACE_S)
