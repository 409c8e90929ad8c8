"""The rollout controller as an executor, against fakes of what it drives: it routes what the
plan and `decide` say, in order, records every window, and ends promoted or rolled back."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from mlgate.adapters.nginx import AbKey, Route
from mlgate.app.rollout import state as rollout_state
from mlgate.app.rollout.controller import RolloutRequest, run_rollout
from mlgate.app.rollout.sources import ReleaseCheck
from mlgate.app.rollout.stop import stop_rollout
from mlgate.app.rollout.transitions import Outcome
from mlgate.core.canary import Progress
from mlgate.core.policy import CanaryConfig
from mlgate.core.vocab import ReleaseStrategy
from mlgate.errors import InfraError, UsageError
from tests.unit.app.rollout.fakes import (
    FakeObserver,
    FakeRegistry,
    Fakes,
    Window,
    as_registry,
    failing,
    healthy,
    source,
)

pytestmark = pytest.mark.unit

STABLE, CANDIDATE = "127.0.0.1:9000", "127.0.0.1:9001"
POLICY = CanaryConfig(
    interval=0.01, step_weight=50, ab_weight=30, threshold=1, iterations=2, min_requests=20
)
# The fakes' candidates are servers: no gate report mlgate could check, so an override.
FAKES = ReleaseCheck(override="fake servers carry no gate report")
GOOD: Window = (healthy(), healthy())
BAD: Window = (healthy(), failing())


def deploy(
    tmp_path: Path,
    fakes: Fakes,
    strategy: ReleaseStrategy = "canary",
    *,
    policy: CanaryConfig = POLICY,
    registry: FakeRegistry | None = None,
    version: int | None = None,
    ab_key: str | None = None,
) -> Outcome:
    return run_rollout(
        RolloutRequest(
            state_dir=tmp_path,
            strategy=strategy,
            candidate=source(CANDIDATE, version),
            policy=policy,
            incumbent=f"http://{STABLE}",
            ab_key=ab_key,
            check=FAKES,
        ),
        registry=as_registry(registry),
        ports=fakes.ports(),
    )


def test_a_healthy_canary_steps_its_weight_then_promotes(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([GOOD, GOOD]))
    registry = FakeRegistry()
    outcome = deploy(tmp_path, fakes, registry=registry, version=7)
    assert outcome.phase == "succeeded"
    # The plan: step_weight first, then up by step_weight; promotion routes all to it.
    assert fakes.splitter.routes == [
        Route(STABLE, CANDIDATE, "canary", 50),
        Route(STABLE, CANDIDATE, "canary", 100),
        Route(CANDIDATE),
    ]
    assert [p.weight for p in fakes.observer.progress] == [50, 100]
    assert fakes.splitter.targets_seen[0] == {"stable": STABLE, "canary": CANDIDATE}
    assert fakes.splitter.targets_seen[-1] == {"stable": CANDIDATE}
    assert fakes.processes.stopped == [STABLE]  # the incumbent drained and stopped
    assert fakes.processes.guards == [15.0]
    assert registry.calls[0][:3] == ("promote", "churn", 7)
    state = rollout_state.load(tmp_path)
    assert state.rollout is None
    assert state.stable is not None
    assert state.stable.address == CANDIDATE
    done = state.past[-1]
    assert [(w.weight, w.action) for w in done.history] == [(50, "continue"), (100, "promote")]
    assert done.routed_at is not None
    assert done.routed_at >= done.started_at
    report = tmp_path / "reports" / f"release-{done.id}.md"
    assert "| 100 | promote | - |" in report.read_text()


def test_a_failed_window_rolls_back_and_records_why(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([BAD]))
    registry = FakeRegistry()
    outcome = deploy(tmp_path, fakes, registry=registry, version=7)
    assert outcome.phase == "failed"
    assert fakes.splitter.routes[-1] == Route(STABLE)
    assert fakes.processes.stopped == [CANDIDATE]
    what, _, version, reason = registry.calls[0]
    assert (what, version) == ("reject", 7)
    assert "error-rate" in reason
    done = rollout_state.load(tmp_path).past[-1]
    assert done.phase == "failed"
    assert done.reverted_at is not None
    assert "error-rate" in done.history[0].failed_names()


def test_a_window_that_cannot_be_observed_counts_as_a_failed_check(tmp_path: Path) -> None:
    policy = POLICY.model_copy(update={"threshold": 2})
    fakes = Fakes(observer=FakeObserver([InfraError("prometheus down"), GOOD, BAD]))
    outcome = deploy(tmp_path, fakes, policy=policy)
    assert outcome.phase == "failed"
    # Held at 50% after the unobserved window, stepped after the good one, rolled back when
    # the second failure reached the threshold.
    assert [(p.weight, p.failed_checks) for p in fakes.observer.progress] == [
        (50, 0),
        (50, 1),
        (100, 1),
    ]
    history = rollout_state.load(tmp_path).past[-1].history
    assert history[0].checks[0].message == "no observations: prometheus down"


def test_a_candidate_process_that_died_is_down_whatever_prometheus_says(tmp_path: Path) -> None:
    fakes = Fakes()
    fakes.observer = FakeObserver([GOOD], hook=lambda _p: fakes.processes.dead.add(CANDIDATE))
    outcome = deploy(tmp_path, fakes)
    assert outcome.phase == "failed"
    assert "canary-up" in outcome.reason


@pytest.mark.parametrize(
    ("strategy", "ab_key", "first"),
    [
        ("ab", "header:X-User", Route(STABLE, CANDIDATE, "ab", 30, AbKey("header", "X-User"))),
        ("shadow", None, Route(STABLE, CANDIDATE, "shadow", 0)),
    ],
)
def test_ab_and_shadow_hold_their_split_for_their_iterations(
    tmp_path: Path, strategy: ReleaseStrategy, ab_key: str | None, first: Route
) -> None:
    fakes = Fakes(observer=FakeObserver([GOOD, GOOD]))
    outcome = deploy(tmp_path, fakes, strategy, ab_key=ab_key)
    assert outcome.phase == "succeeded"
    assert fakes.splitter.routes == [first, Route(CANDIDATE)]
    assert [p.iterations for p in fakes.observer.progress] == [0, 1]


def test_direct_with_nothing_running_starts_on_the_candidate(tmp_path: Path) -> None:
    fakes = Fakes()
    registry = FakeRegistry()
    outcome = deploy(tmp_path, fakes, "direct", registry=registry, version=3)
    assert outcome.reason == "released directly"
    assert outcome.incumbent is None
    assert fakes.splitter.started == [CANDIDATE]
    assert fakes.splitter.routes == []
    assert fakes.observer.progress == []
    assert registry.calls == [("promote", "churn", 3, "direct release")]


def test_direct_over_a_running_release_replaces_it_without_analysis(tmp_path: Path) -> None:
    fakes = Fakes()
    run_rollout(
        RolloutRequest(tmp_path, "direct", source(STABLE), POLICY, check=FAKES),
        registry=None,
        ports=fakes.ports(),
    )
    outcome = deploy(tmp_path, fakes, "direct")
    assert outcome.strategy == "direct"
    assert fakes.splitter.routes == [Route(CANDIDATE)]
    assert fakes.processes.stopped == [STABLE]
    assert fakes.observer.progress == []


def test_sigterm_rolls_the_rollout_back(tmp_path: Path) -> None:
    def terminate(_progress: Progress) -> None:
        signal.raise_signal(signal.SIGTERM)  # the controller's handler only sets its event

    policy = POLICY.model_copy(update={"step_weight": 20})
    fakes = Fakes(observer=FakeObserver([GOOD, GOOD], hook=terminate))
    outcome = deploy(tmp_path, fakes, policy=policy)
    assert outcome.phase == "failed"
    assert "SIGTERM" in outcome.reason
    assert len(fakes.observer.progress) == 1


def test_a_rollout_left_in_progress_resumes_where_it_stood(tmp_path: Path) -> None:
    def abandon(_progress: Progress) -> None:
        raise KeyboardInterrupt  # the controller ends without deciding (as kill -9 would)

    policy = POLICY.model_copy(update={"step_weight": 25})
    fakes = Fakes(observer=FakeObserver([GOOD, GOOD], hook=None))
    fakes.observer.hook = lambda p: abandon(p) if p.weight == 50 else None
    with pytest.raises(KeyboardInterrupt):
        deploy(tmp_path, fakes, policy=policy)
    left = rollout_state.load(tmp_path).rollout
    assert left is not None
    assert left.active
    assert left.weight == 50
    # Another candidate is refused while it is in progress.
    with pytest.raises(UsageError, match="left in progress"):
        run_rollout(
            RolloutRequest(tmp_path, "canary", source("127.0.0.1:9002"), policy, check=FAKES),
            registry=None,
            ports=fakes.ports(),
        )
    fakes.observer = FakeObserver([GOOD, GOOD, GOOD])
    outcome = deploy(tmp_path, fakes, policy=policy)
    assert outcome.phase == "succeeded"
    assert [p.weight for p in fakes.observer.progress] == [50, 75, 100]


def test_stop_rolls_back_then_stops_everything(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([KeyboardInterrupt()]))
    with pytest.raises(KeyboardInterrupt):
        deploy(tmp_path, fakes)
    done = stop_rollout(tmp_path, registry=None, ports=fakes.ports())
    assert done == [
        f"rolled back {CANDIDATE}",
        f"stopped http://{STABLE}",
        "stopped the splitter, its exporter and Prometheus",
    ]
    state = rollout_state.load(tmp_path)
    assert state.stable is None
    assert state.environment is None
    assert state.rollout is None
    assert fakes.splitter.stopped == 1
