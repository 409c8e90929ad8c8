"""The controller against fakes when a release cannot be judged: without traffic it pauses at
its first step, resumes when traffic comes, and after `max_pause` ends not promoted; a release
whose required check never ran ends not promoted. Neither records a rejection."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.adapters.nginx import Route
from mlgate.app.rollout import state as rollout_state
from mlgate.app.rollout.controller import RolloutRequest, run_rollout
from mlgate.app.rollout.sources import ReleaseCheck
from mlgate.app.rollout.transitions import Outcome
from mlgate.core.canary import VariantWindow
from mlgate.core.policy import CanaryConfig
from mlgate.core.rollout import PAUSED, standing
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
POLICY = CanaryConfig(interval=0.01, step_weight=50, threshold=1, min_requests=20, max_pause=0.03)
GOOD: Window = (healthy(), healthy())
NONE: Window = (VariantWindow(), VariantWindow())


class Registry(FakeRegistry):
    """A fake registry that also takes the override these external test servers need."""

    def record_override(
        self, name: str, version: int, *, reason: str, actor: str, overridden: str
    ) -> None:
        self.calls.append(("override", name, version, reason))


def deploy(tmp_path: Path, fakes: Fakes, registry: Registry, policy: CanaryConfig) -> Outcome:
    return run_rollout(
        RolloutRequest(
            state_dir=tmp_path,
            strategy="canary",
            candidate=source(CANDIDATE, 7),
            policy=policy,
            incumbent=f"http://{STABLE}",
            check=ReleaseCheck(override="external test servers"),
        ),
        registry=as_registry(registry),
        ports=fakes.ports(),
    )


def verdicts(registry: Registry) -> list[str]:
    """What the registry was told of the candidate, overrides aside."""
    return [what for what, *_ in registry.calls if what != "override"]


def standing_in(state_dir: Path) -> str:
    """What `mlgate canary status` says of the rollout in progress."""
    rollout = rollout_state.load(state_dir).rollout
    assert rollout is not None
    return standing(rollout)


def test_no_traffic_pauses_at_the_first_step_then_resumes_when_it_comes(tmp_path: Path) -> None:
    seen: list[str] = []
    fakes = Fakes()
    fakes.observer = FakeObserver(
        [NONE, NONE, GOOD, GOOD], hook=lambda _p: seen.append(standing_in(tmp_path))
    )
    registry = Registry()
    outcome = deploy(tmp_path, fakes, registry, POLICY.model_copy(update={"max_pause": 60}))
    assert outcome.ended_as == "promoted", outcome.reason
    # Paused twice at 50%, nothing counted against it; then stepped and promoted.
    assert [(p.weight, p.failed_checks, p.paused) for p in fakes.observer.progress] == [
        (50, 0, 0),
        (50, 0, 1),
        (50, 0, 2),
        (100, 0, 0),
    ]
    assert seen[1:3] == [PAUSED, PAUSED]
    done = rollout_state.load(tmp_path).past[-1]
    assert [w.reason.split(" at ")[0] for w in done.history[:2]] == [PAUSED, PAUSED]
    assert verdicts(registry) == ["promote"]


def test_a_release_without_traffic_ends_not_promoted_and_rejects_nothing(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([NONE, NONE, NONE, NONE]))
    registry = Registry()
    outcome = deploy(tmp_path, fakes, registry, POLICY)
    assert outcome.ended_as == "not promoted"
    assert outcome.phase == "failed"
    assert outcome.reason.startswith("not promoted: no traffic")
    assert "no rejection recorded" in (outcome.registry_note or "")
    assert verdicts(registry) == []
    # Traffic went back to the incumbent, the candidate stopped.
    assert fakes.splitter.routes[-1] == Route(STABLE)
    assert fakes.processes.stopped == [CANDIDATE]
    done = rollout_state.load(tmp_path).past[-1]
    assert standing(done) == "not promoted"
    assert len(done.history) == 3  # 3 x 0.01 s reached max_pause 0.03 s
    assert {len(w.checks) for w in done.history} == {9}


def test_a_required_check_that_never_ran_ends_not_promoted(tmp_path: Path) -> None:
    fakes = Fakes(observer=FakeObserver([GOOD, GOOD]))
    registry = Registry()
    outcome = deploy(tmp_path, fakes, registry, POLICY.model_copy(update={"labels": True}))
    assert outcome.ended_as == "not promoted"
    assert "required check online-accuracy (no labels fed back" in outcome.reason
    assert verdicts(registry) == []
    assert outcome.report is not None
    text = outcome.report.with_suffix(".md").read_text()
    assert ": not promoted" in text.splitlines()[0]
    assert "- required checks: prediction-divergence, online-accuracy" in text
    never = next(line for line in text.splitlines() if line.startswith("- checks never run: "))
    assert "online-accuracy (no labels fed back (POST /feedback))" in never
