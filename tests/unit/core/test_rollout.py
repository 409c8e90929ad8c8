"""The rollout plan: what a deploy starts, the candidate's first share and its steps, and how
a decision is recorded; pure functions of the strategy, the policy and the record."""

from __future__ import annotations

import pytest

from mlgate.core.canary import Check, Observations, VariantWindow
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import RolloutRecord, VariantRef
from mlgate.core.rollout import (
    Continue,
    Promote,
    Rollback,
    StartPlan,
    apply,
    canary_weights,
    guard_grace,
    initial_weight,
    progress,
    start_plan,
    window_record,
    with_liveness,
)
from mlgate.core.vocab import AnalysedStrategy, ReleaseStrategy

pytestmark = pytest.mark.unit

POLICY = CanaryConfig(step_weight=30, max_weight=90, ab_weight=25)


@pytest.mark.parametrize(
    ("strategy", "up", "plan"),
    [
        ("direct", False, StartPlan("candidate", None)),
        ("direct", True, StartPlan(None, None)),
        ("canary", False, StartPlan("incumbent", "canary")),
        ("shadow", True, StartPlan(None, "shadow")),
    ],
)
def test_the_start_plan(strategy: ReleaseStrategy, up: bool, plan: StartPlan) -> None:
    assert start_plan(strategy, environment_up=up) == plan
    assert plan.done_at_start == (strategy == "direct" and not up)


@pytest.mark.parametrize(("strategy", "weight"), [("canary", 30), ("ab", 25), ("shadow", 0)])
def test_the_first_share(strategy: AnalysedStrategy, weight: int) -> None:
    assert initial_weight(strategy, POLICY) == weight


def test_canary_weights_end_at_max_weight() -> None:
    assert canary_weights(POLICY) == (30, 60, 90)
    assert canary_weights(CanaryConfig(step_weight=40, max_weight=100)) == (40, 80, 100)
    assert canary_weights(CanaryConfig(step_weight=100)) == (100,)


def rollout() -> RolloutRecord:
    candidate = VariantRef(
        source="x", label="x", kind="external", address="a:1", metrics_address="a:1"
    )
    return RolloutRecord(
        id="r", strategy="ab", candidate=candidate, incumbent="y", policy=POLICY, weight=25,
        failed_checks=1, iterations=3, started_at=0.0, updated_at=0.0,
    )  # fmt: skip


def test_progress_and_apply_follow_the_record() -> None:
    ro = rollout()
    now = progress(ro)
    assert (now.strategy, now.weight, now.failed_checks, now.iterations) == ("ab", 25, 1, 3)
    stepped = apply(ro, Continue(50, 0, 4, (), "stepped"))
    assert (stepped.weight, stepped.failed_checks, stepped.iterations) == (50, 0, 4)
    assert ro.weight == 25  # the record itself is never changed


def test_a_decision_as_the_history_records_it() -> None:
    checks = (Check("error-rate", "failed", "5xx", 9.0, 1.0),)
    held = window_record(Continue(20, 1, 0, checks, "held"), ts=5.0, weight=20)
    assert (held.action, held.next_weight, held.failed_checks, held.iterations) == (
        "continue", 20, 1, 0,
    )  # fmt: skip
    assert held.failed_names() == ["error-rate"]
    back = window_record(Rollback(2, checks, "bad"), ts=6.0, weight=20)
    assert (back.action, back.failed_checks, back.next_weight) == ("rollback", 2, None)
    done = window_record(Promote((), "ok"), ts=7.0, weight=100)
    assert (done.action, done.failed_checks, done.checks) == ("promote", None, ())


def test_a_dead_process_is_down_whatever_was_scraped() -> None:
    obs = Observations(stable=VariantWindow(), canary=VariantWindow())
    seen = with_liveness(obs, stable_running=True, canary_running=False)
    assert (seen.stable.up, seen.canary.up) == (True, False)
    gone = with_liveness(obs, stable_running=False, canary_running=True)
    assert (gone.stable.up, gone.canary.up) == (False, True)
    down = Observations(stable=VariantWindow(up=False), canary=VariantWindow())
    assert not with_liveness(down, stable_running=True, canary_running=True).stable.up


def test_the_guard_waits_two_intervals_and_at_least_its_minimum() -> None:
    assert guard_grace(1.0) == 15.0
    assert guard_grace(60.0) == 120.0
