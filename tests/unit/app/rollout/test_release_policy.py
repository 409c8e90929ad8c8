"""The controller asks the release policy before it starts anything, records an override, and
records a stop someone asked for as "stopped by ACTOR", never as a rejection of the candidate;
against fakes of what it drives."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from mlgate.app.rollout import state as rollout_state
from mlgate.app.rollout.controller import RolloutRequest, run_rollout
from mlgate.app.rollout.sources import ReleaseCheck
from mlgate.app.rollout.stop import recover, stop_rollout
from mlgate.app.rollout.transitions import Outcome
from mlgate.core.canary import Progress
from mlgate.core.policy import CanaryConfig
from mlgate.core.vocab import ReleaseStrategy
from mlgate.errors import GateFailed
from tests.unit.app.rollout.fakes import (
    FakeObserver,
    FakeRegistry,
    Fakes,
    Window,
    as_registry,
    healthy,
    source,
)

pytestmark = pytest.mark.unit

STABLE, CANDIDATE = "127.0.0.1:9000", "127.0.0.1:9001"
POLICY = CanaryConfig(interval=0.01, step_weight=50, ab_weight=30, iterations=3, min_requests=20)
GOOD: Window = (healthy(), healthy())
OVERRIDE = ReleaseCheck(override="incident 42: the fix cannot wait for the gate")


def deploy(
    tmp_path: Path,
    fakes: Fakes,
    registry: FakeRegistry,
    check: ReleaseCheck = OVERRIDE,
    strategy: ReleaseStrategy = "canary",
) -> Outcome:
    return run_rollout(
        RolloutRequest(
            state_dir=tmp_path,
            strategy=strategy,
            candidate=source(CANDIDATE, 7),
            policy=POLICY,
            incumbent=f"http://{STABLE}",
            ab_key="header:X-User-ID" if strategy == "ab" else None,
            actor="alice",
            check=check,
        ),
        registry=as_registry(registry),
        ports=fakes.ports(),
    )


def report_of(outcome: Outcome) -> dict[str, object]:
    assert outcome.report is not None
    data: dict[str, object] = json.loads(outcome.report.read_text())
    return data


@pytest.mark.parametrize("strategy", ["canary", "direct"])
def test_a_candidate_the_policy_refuses_starts_nothing(
    tmp_path: Path, strategy: ReleaseStrategy
) -> None:
    fakes = Fakes(observer=FakeObserver([GOOD]))
    registry = FakeRegistry()
    with pytest.raises(GateFailed, match="mlgate cannot check its gate verdict") as refused:
        deploy(tmp_path, fakes, registry, ReleaseCheck(), strategy)
    assert "not a registered version" in refused.value.message
    assert "--override" in (refused.value.hint or "")
    assert fakes.processes.started == []
    assert fakes.splitter.started == []
    assert registry.calls == []
    assert registry.overrides == []


def test_an_override_is_recorded_on_the_version_the_state_and_the_report(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([GOOD, GOOD]))
    registry = FakeRegistry()
    outcome = deploy(tmp_path, fakes, registry)
    assert outcome.phase == "succeeded"
    assert registry.overrides == [("churn", 7, OVERRIDE.override)]
    admission = rollout_state.last_admission(tmp_path, f"http://{CANDIDATE}")
    assert admission is not None
    assert (admission.actor, admission.override) == ("alice", OVERRIDE.override)
    assert any("not a registered version" in r for r in admission.overridden)
    assert outcome.override is not None
    assert "by alice" in outcome.override
    entry = report_of(outcome)["override"]
    assert isinstance(entry, dict)
    assert (entry["by"], entry["reason"]) == ("alice", OVERRIDE.override)
    assert outcome.report is not None
    assert (
        f"override by alice: {OVERRIDE.override}" in outcome.report.with_suffix(".md").read_text()
    )


def test_sigterm_to_the_controller_is_a_stop_not_a_rejection(tmp_path: Path) -> None:
    def terminate(_progress: Progress) -> None:
        signal.raise_signal(signal.SIGTERM)  # the controller's handler only sets its event

    fakes = Fakes(observer=FakeObserver([GOOD, GOOD], hook=terminate))
    registry = FakeRegistry()
    outcome = deploy(tmp_path, fakes, registry, strategy="ab")
    assert outcome.phase == "failed"
    assert outcome.stopped
    assert outcome.ended_as == "stopped"
    assert outcome.reason.startswith("stopped by alice")
    assert [c[0] for c in registry.calls] == []  # no rejection recorded
    assert report_of(outcome)["outcome"] == "stopped"
    assert not (tmp_path / rollout_state.STOP_FILE).exists()


def test_canary_stop_during_an_ab_test_records_who_stopped_it_and_no_rejection(
    tmp_path: Path,
) -> None:
    fakes = Fakes(observer=FakeObserver([KeyboardInterrupt()]))
    registry = FakeRegistry()
    with pytest.raises(KeyboardInterrupt):
        deploy(tmp_path, fakes, registry, strategy="ab")
    ro = rollout_state.load(tmp_path).rollout
    assert ro is not None
    assert ro.active
    # What `mlgate canary stop --reason ...` records before it stops the rollout.
    rollout_state.request_stop(
        tmp_path,
        rollout_state.StopRequest(rollout=ro.id, actor="bob", at=time.time(), reason="wrong day"),
    )
    stop_rollout(tmp_path, registry=as_registry(registry), ports=fakes.ports())
    done = rollout_state.load(tmp_path).past[-1]
    assert done.reason == "stopped by bob: wrong day"
    assert registry.calls == []
    report = json.loads((tmp_path / "reports" / f"release-{done.id}.json").read_text())
    assert report["outcome"] == "stopped"
    assert not (tmp_path / rollout_state.STOP_FILE).exists()


def test_a_stop_request_for_another_rollout_does_not_count(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([KeyboardInterrupt()]))
    registry = FakeRegistry()
    with pytest.raises(KeyboardInterrupt):
        deploy(tmp_path, fakes, registry)
    stale = rollout_state.StopRequest(rollout="an-earlier-one", actor="bob", at=time.time())
    rollout_state.request_stop(tmp_path, stale)
    assert rollout_state.stop_request(tmp_path, "an-earlier-one") == stale
    ro = rollout_state.load(tmp_path).rollout
    assert ro is not None
    assert rollout_state.stop_request(tmp_path, ro.id) is None


def test_a_stop_from_the_api_records_who_stopped_it_and_no_rejection(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([KeyboardInterrupt()]))
    registry = FakeRegistry()
    with pytest.raises(KeyboardInterrupt):
        deploy(tmp_path, fakes, registry)
    # No stop request written first (that is what the command does): the stop records itself.
    stop_rollout(tmp_path, registry=as_registry(registry), ports=fakes.ports(), actor="carol")
    done = rollout_state.load(tmp_path).past[-1]
    assert done.reason == "stopped by carol"
    assert registry.calls == []


def test_the_guards_rollback_records_no_rejection(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([KeyboardInterrupt()]))
    registry = FakeRegistry()
    with pytest.raises(KeyboardInterrupt):
        deploy(tmp_path, fakes, registry)
    lock = rollout_state.ControllerLock(tmp_path)
    assert lock.acquire(wait=1.0)
    with lock:
        outcome = recover(
            tmp_path, lock, as_registry(registry), "its controller died", fakes.ports()
        )
    assert outcome.phase == "failed"
    assert "its controller died" in outcome.reason
    assert registry.calls == []
