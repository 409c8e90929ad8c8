"""How a release ends, against fakes: promote and rollback route, stop and tell the registry
in order; a registry that fails is said so; the outcome is built once, by keyword."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlgate.adapters.nginx import AbKey, Route
from mlgate.app.rollout import state as rollout_state
from mlgate.app.rollout.transitions import (
    KEEP_PAST,
    Outcome,
    finish,
    promote,
    registry_promote,
    rollback,
    route_for,
    teardown,
)
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import RolloutRecord, RolloutState
from mlgate.core.vocab import AnalysedStrategy
from tests.unit.app.rollout.fakes import FakeRegistry, Fakes, environment, variant

pytestmark = pytest.mark.unit

STABLE, CANDIDATE = (
    variant("127.0.0.1:9000", "churn v1", 1),
    variant("127.0.0.1:9001", "churn v2", 2),
)


def in_progress(strategy: AnalysedStrategy = "canary", weight: int = 40) -> RolloutState:
    now = time.time()
    rollout = RolloutRecord(
        id="r1", strategy=strategy, candidate=CANDIDATE, incumbent=STABLE.label,
        policy=CanaryConfig(), weight=weight, started_at=now, updated_at=now,
        ab_key="cookie:user" if strategy == "ab" else None,
    )  # fmt: skip
    return RolloutState(environment=environment(), stable=STABLE, rollout=rollout)


def test_promote_routes_all_then_stops_the_incumbent_then_moves_the_alias(tmp_path: Path) -> None:
    fakes, registry = Fakes(), FakeRegistry()
    run = fakes.run(tmp_path, in_progress(), registry)
    outcome = promote(run, CANDIDATE, "all passed")
    assert fakes.splitter.routes == [Route(CANDIDATE.address)]
    assert fakes.processes.stopped == [STABLE.address]
    assert registry.calls == [("promote", "churn", 2, "canary release: all passed")]
    assert outcome == Outcome(
        phase="succeeded", strategy="canary", candidate="churn v2", incumbent="churn v1",
        reason="all passed", url="http://127.0.0.1:8080", windows=0, report=outcome.report,
        registry_note="champion is now churn v2 in sqlite:///fake.db",
    )  # fmt: skip
    assert outcome.report is not None
    assert outcome.report.is_file()
    state = rollout_state.load(tmp_path)
    assert state.rollout is None
    assert state.stable == CANDIDATE
    assert state.past[-1].phase == "succeeded"


def test_rollback_reverts_then_stops_the_candidate_and_records_the_reason(tmp_path: Path) -> None:
    fakes, registry = Fakes(), FakeRegistry()
    outcome = rollback(fakes.run(tmp_path, in_progress(), registry), "too slow")
    assert fakes.splitter.routes == [Route(STABLE.address)]
    assert fakes.splitter.targets_seen == [{"stable": STABLE.address}]
    assert fakes.processes.stopped == [CANDIDATE.address]
    assert registry.calls == [("reject", "churn", 2, "canary release: too slow")]
    assert (outcome.phase, outcome.incumbent) == ("failed", "churn v1")
    done = rollout_state.load(tmp_path).past[-1]
    assert done.reverted_at is not None
    assert done.reason == "too slow"


def test_a_rollback_with_the_splitter_gone_still_stops_the_candidate(tmp_path: Path) -> None:
    fakes = Fakes()
    fakes.splitter.up = False
    outcome = rollback(fakes.run(tmp_path, in_progress(), None), "environment gone")
    assert fakes.splitter.routes == []
    assert fakes.processes.stopped == [CANDIDATE.address]
    assert outcome.registry_note == "churn v2 is not a registry version: nothing recorded"


def test_a_registry_that_fails_is_reported_not_raised(tmp_path: Path) -> None:
    fakes = Fakes()
    run = fakes.run(tmp_path, in_progress(), FakeRegistry(fail=True))
    note = registry_promote(run, CANDIDATE, "ok")
    assert note.failed
    assert "champion was NOT moved" in note.text
    outcome = rollback(run, "bad")
    assert outcome.registry_failed
    assert "NOT recorded" in (outcome.registry_note or "")


def test_the_outcome_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        Outcome("succeeded", "direct", "a", None, "r", "u", 0)  # type: ignore[call-arg]
    outcome = Outcome(
        phase="failed", strategy="ab", candidate="a", incumbent="b", reason="r", url="u",
        windows=3, report=Path("/r.json"),
    )  # fmt: skip
    assert outcome.to_dict()["report"] == "/r.json"
    assert set(outcome.to_dict()) == {
        "phase", "strategy", "candidate", "incumbent", "reason", "url", "windows", "report",
        "registry_note", "registry_failed", "ended_as", "stopped", "override",
    }  # fmt: skip


def test_routes_follow_the_strategy() -> None:
    assert route_for(in_progress("canary", 40).rollout or _none(), STABLE) == Route(
        STABLE.address, CANDIDATE.address, "canary", 40
    )
    assert route_for(in_progress("shadow", 0).rollout or _none(), STABLE).mode == "shadow"
    ab = route_for(in_progress("ab", 50).rollout or _none(), STABLE)
    assert (ab.mode, ab.weight, ab.ab_key) == ("ab", 50, AbKey("cookie", "user"))


def _none() -> RolloutRecord:
    raise AssertionError("no rollout")


def test_finish_keeps_the_last_rollouts(tmp_path: Path) -> None:
    state = in_progress()
    assert state.rollout is not None
    old = tuple(state.rollout.model_copy(update={"id": f"old{i}"}) for i in range(KEEP_PAST))
    fakes = Fakes()
    run = fakes.run(tmp_path, state.model_copy(update={"past": old}), None)
    finish(run, "failed", "canary", CANDIDATE, STABLE, "r", registry_promote(run, CANDIDATE, ""))
    past = rollout_state.load(tmp_path).past
    assert len(past) == KEEP_PAST
    assert past[0].id == "old1"
    assert past[-1].id == "r1"


def test_teardown_stops_what_a_previous_release_left(tmp_path: Path) -> None:
    fakes = Fakes()
    run = fakes.run(tmp_path, RolloutState(environment=environment(), stable=STABLE), None)
    teardown(run)
    assert fakes.processes.stopped == [STABLE.address]
    assert fakes.splitter.stopped == 1
    assert run.state.stable is None
    assert run.state.environment is None
