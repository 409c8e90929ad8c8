"""What a release window says it could not judge: every window reports the same checks, a
release without traffic pauses (and ends not promoted after `max_pause`), and a promotion
needs the checks `require` names to have run; neither way of not promoting rejects."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from mlgate.core.canary import Feedback, Observations, Progress, VariantWindow, evaluate
from mlgate.core.policy import CHECKS, CanaryConfig
from mlgate.core.records.rollout import CheckRecord, RolloutRecord, VariantRef, WindowRecord
from mlgate.core.rollout import (
    PAUSED,
    Continue,
    NotPromoted,
    Promote,
    Rollback,
    decide,
    decide_unobserved,
    ended_as,
    never_ran,
    progress,
    standing,
    window_record,
)
from tests.unit.core.test_canary import observations, policies, window

pytestmark = pytest.mark.unit

POLICY = CanaryConfig(interval=60, threshold=2, step_weight=25, min_requests=20, max_pause=180)


def at(weight: int, stable: VariantWindow, canary: VariantWindow, **more: object) -> Observations:
    return Observations(stable, canary, Progress(weight=weight, **more))  # type: ignore[arg-type]


def idle(requests: float = 0) -> VariantWindow:
    """A variant that is up and answered `requests` requests, with no predictions to compare."""
    return VariantWindow(requests=requests)


@settings(max_examples=200, deadline=None)
@given(observations(), policies)
def test_every_window_reports_every_check_in_one_order(
    o: Observations, policy: CanaryConfig
) -> None:
    assert tuple(c.name for c in evaluate(o, policy)) == CHECKS


def test_a_window_without_latency_still_reports_both_latency_checks() -> None:
    slowless = window(latency_ms=float("nan"))
    checks = {c.name: c for c in evaluate(at(25, window(), slowless), POLICY)}
    assert len(checks) == len(CHECKS) == 9
    assert checks["latency"].status == checks["latency-vs-incumbent"].status == "skipped"


def test_a_window_nothing_was_observed_in_fails_and_skips_every_check() -> None:
    d = decide_unobserved(Progress(weight=25), POLICY, "prometheus down")
    assert isinstance(d, Continue)
    assert [c.name for c in d.checks] == ["analysis", *CHECKS]
    assert [c.status for c in d.checks[1:]] == ["skipped"] * len(CHECKS)


def test_no_traffic_pauses_the_release_where_it_stands() -> None:
    d = decide(at(25, idle(), idle(), failed_checks=1, iterations=2), POLICY)
    assert isinstance(d, Continue)
    assert (d.weight, d.failed_checks, d.iterations, d.paused, d.verb) == (25, 1, 2, True, "pause")
    assert d.reason.startswith(PAUSED)
    assert "no /predict request reached the release" in d.reason
    assert not any(c.failed for c in d.checks)


def test_too_little_traffic_for_the_candidates_share_pauses_too() -> None:
    # 40 requests, 25% of them the candidate's: about 10, under min_requests 20.
    d = decide(at(25, idle(30), idle(10)), POLICY)
    assert isinstance(d, Continue)
    assert d.paused
    assert "candidate's share (25%, about 10)" in d.reason


def test_traffic_that_should_reach_the_candidate_and_does_not_fails() -> None:
    # 400 requests at 25%: about 100 should have reached the candidate; it answered 5.
    d = decide(at(25, window(requests=395), idle(5), failed_checks=1), POLICY)
    assert isinstance(d, Rollback)
    assert d.reject
    assert "traffic" in d.reason


def test_in_shadow_the_candidate_gets_a_copy_of_every_request() -> None:
    quiet = decide(at(0, idle(10), idle(0), strategy="shadow"), POLICY)
    assert isinstance(quiet, Continue)
    assert quiet.paused
    deaf = decide(at(0, window(), idle(0), strategy="shadow"), POLICY)
    assert isinstance(deaf, Continue)
    assert not deaf.paused
    assert deaf.failed_checks == 1


def test_a_pause_longer_than_max_pause_ends_not_promoted() -> None:
    held = decide(at(25, idle(), idle(), paused=1), POLICY)
    assert isinstance(held, Continue)
    assert held.paused
    ended = decide(at(25, idle(), idle(), paused=2), POLICY)  # the third window: 180 s
    assert isinstance(ended, NotPromoted)
    assert not ended.reject
    assert ended.action == "rollback"
    assert ended.reason.startswith("not promoted: no traffic")
    assert "max_pause 180s" in ended.reason


def test_the_default_requirement_follows_labels() -> None:
    assert CanaryConfig().required() == ("prediction-divergence",)
    assert CanaryConfig(labels=True).required() == ("prediction-divergence", "online-accuracy")
    assert CanaryConfig(labels=True, require=("latency",)).required() == ("latency",)
    assert CanaryConfig(require=()).required() == ()


def test_require_names_only_checks_that_exist() -> None:
    with pytest.raises(ValidationError) as exc:
        CanaryConfig.model_validate({"require": ["online-acuracy"]})
    assert exc.value.errors()[0]["loc"][:1] == ("require",)
    assert "online-accuracy" in str(exc.value)


def few_predictions() -> VariantWindow:
    """Plenty of requests, too few predictions to compare (prediction-divergence skipped)."""
    return replace(window(), predictions={"0": 5.0, "1": 5.0})


def test_a_promotion_without_a_required_check_having_run_is_not_one() -> None:
    o = at(100, few_predictions(), few_predictions())
    d = decide(o, POLICY)
    assert isinstance(d, NotPromoted)
    assert not d.reject
    assert d.reason.startswith("not promoted: required check prediction-divergence (too few")
    assert "never ran" in d.reason
    # It ran in an earlier window: the promotion goes ahead.
    ran = replace(o, progress=replace(o.progress, ran=frozenset({"prediction-divergence"})))
    assert isinstance(decide(ran, POLICY), Promote)
    # Nothing required: promoted on what could be judged.
    assert isinstance(decide(o, POLICY.model_copy(update={"require": ()})), Promote)


def test_labels_expected_make_online_accuracy_required() -> None:
    policy = POLICY.model_copy(update={"labels": True})
    unlabelled = decide(at(100, window(), window()), policy)
    assert isinstance(unlabelled, NotPromoted)
    assert "required check online-accuracy (no labels fed back" in unlabelled.reason
    # Servers that count feedback and have none yet: still no labels fed back.
    counted = window(feedback=Feedback())
    none = decide(at(100, counted, counted), policy)
    assert isinstance(none, NotPromoted)
    assert "online-accuracy (no labels fed back" in none.reason
    fed = window(feedback=Feedback(correct=90, incorrect=10))
    assert isinstance(decide(at(100, fed, fed), policy), Promote)


def test_a_promotion_says_how_many_checks_passed_and_which_were_skipped() -> None:
    d = decide(at(100, window(), window()), POLICY)
    assert isinstance(d, Promote)
    assert d.reason.startswith("7 of 9 checks passed at 100% (max_weight); skipped: ")
    assert "input-drift (the candidate reports no input drift)" in d.reason
    assert "online-accuracy (no labels fed back (POST /feedback))" in d.reason
    step = decide(at(25, window(), window()), POLICY)
    assert isinstance(step, Continue)
    assert step.reason.startswith("7 of 9 checks passed at 25%: stepping to 50%")


def record(*windows: WindowRecord) -> RolloutRecord:
    candidate = VariantRef(source="c", label="c", kind="external", address="a:1",
                           metrics_address="a:1")  # fmt: skip
    return RolloutRecord(id="r", strategy="canary", candidate=candidate, incumbent="s",
                         policy=POLICY, weight=25, started_at=0.0, updated_at=0.0,
                         history=windows)  # fmt: skip


def test_progress_counts_the_pause_at_the_end_and_what_ran() -> None:
    judged = window_record(decide(at(25, window(), window()), POLICY), ts=1.0, weight=25)
    paused = window_record(decide(at(50, idle(), idle()), POLICY), ts=2.0, weight=50)
    now = progress(record(paused, judged, paused, paused))
    assert now.paused == 2
    assert "prediction-divergence" in now.ran
    assert "online-accuracy" not in now.ran
    assert progress(record(paused, judged)).paused == 0
    assert standing(record(judged, paused)) == PAUSED
    assert standing(record(paused, judged)) == "progressing"


def test_never_ran_names_each_check_no_window_judged_with_why() -> None:
    judged = window_record(decide(at(25, window(), window()), POLICY), ts=1.0, weight=25)
    assert never_ran(record(judged)) == {
        "input-drift": "the candidate reports no input drift",
        "online-accuracy": "no labels fed back (POST /feedback)",
    }
    assert set(never_ran(record())) == set(CHECKS)
    bad = CheckRecord(name="online-accuracy", status="failed", message="worse")
    failed = judged.model_copy(update={"checks": (*judged.checks[:-1], bad)})
    assert "online-accuracy" not in never_ran(record(failed))


def test_how_a_release_ended() -> None:
    assert ended_as("succeeded", "7 of 9 checks passed") == "promoted"
    assert ended_as("failed", "2 failed check(s): error-rate") == "rolled back"
    assert ended_as("failed", "not promoted: required check x never ran") == "not promoted"
    done = record().model_copy(update={"phase": "failed", "reason": "not promoted: no traffic"})
    assert standing(done) == "not promoted"
