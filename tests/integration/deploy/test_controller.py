"""The controller as a user runs it (`mlgate deploy --target local` in a process of its own):
killed mid-rollout, it resumes when started again, or its guard rolls the rollout back; traffic
is never left split with nobody deciding."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from mlgate.adapters import procs
from mlgate.app.rollout import state as release_state
from mlgate.app.rollout.controller import guard_grace
from tests.integration.deploy.conftest import (
    Bundles,
    Load,
    Registered,
    Running,
    fast_policy,
    wait_until,
)
from tests.integration.deploy.test_release import release

pytestmark = pytest.mark.integration

CANARY_POLICY = "\ncanary: {interval: 2s, threshold: 2, step_weight: 20, min_requests: 5}\n"


def project_copy(registered: Registered, tmp_path: Path) -> Path:
    """A private copy of the registered project, with a fast canary policy."""
    root = tmp_path / "project"
    shutil.copytree(registered.config.parent, root)
    config = root / "mlgate.yaml"
    config.write_text(config.read_text() + CANARY_POLICY)
    return config


def controller(
    config: Path, state_dir: Path, candidate: Path, log: Path
) -> subprocess.Popen[bytes]:
    argv = procs.python_module(
        "mlgate", "deploy", "--target", "local", "--strategy", "canary",
        "--config", str(config), "--state-dir", str(state_dir), "--port", "0",
        "--candidate", str(candidate), "--override", "a test of the release: bundles not gated",
    )  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def rollout_at(state_dir: Path, weight: int) -> bool:
    rollout = release_state.load(state_dir).rollout
    return rollout is not None and rollout.weight >= weight and len(rollout.history) >= 1


@pytest.fixture
def running(bundles: Bundles, state_dir: Path) -> str:
    """The stable bundle released directly; returns the release's URL."""
    return release(state_dir, str(bundles["stable"]), fast_policy(), strategy="direct").url


def kill_controller(state_dir: Path) -> int:
    rollout = release_state.load(state_dir).rollout
    assert rollout is not None
    assert rollout.controller is not None
    os.kill(rollout.controller.pid, signal.SIGKILL)
    return rollout.weight


def test_a_killed_controller_started_again_resumes_where_it_stopped(
    bundles: Bundles, registered: Registered, state_dir: Path, running: str, tmp_path: Path
) -> None:
    config = project_copy(registered, tmp_path)
    log = tmp_path / "controller.log"
    with Load(running, bundles.rows, bundles.labels) as load:
        load.wait_answers(20)
        first = controller(config, state_dir, bundles["good"], log)
        wait_until(lambda: rollout_at(state_dir, 40), 180, "the canary at 40%")
        weight = kill_controller(state_dir)
        killed_at = time.time()
        assert first.wait(timeout=30) == -signal.SIGKILL
        second = controller(config, state_dir, bundles["good"], log)
        assert second.wait(timeout=180) == 0, log.read_text()[-3000:]
        after = load.sent_after(time.time())
    state = release_state.load(state_dir)
    assert state.rollout is None
    done = state.past[-1]
    assert done.phase == "succeeded"
    steps = [(h.weight, h.action, h.reason[:80]) for h in done.history]
    # Resumed at the weight it had, not started over: the first window after the kill is at
    # that weight, and the weights only grew.
    weights = [h.weight for h in done.history]
    assert weights == sorted(weights), steps
    resumed = [h.weight for h in done.history if h.ts > killed_at]
    assert resumed[0] == weight, steps
    assert "resuming the canary release" in log.read_text()
    assert load.failed() == []
    assert {a.variant for a in after} == {"stable"}
    assert state.stable is not None
    assert state.stable.source == str(bundles["good"])


def test_a_killed_controller_nobody_restarts_is_rolled_back_by_its_guard(
    bundles: Bundles, registered: Registered, incumbent: Running, tmp_path: Path
) -> None:
    config = project_copy(registered, tmp_path)
    log = tmp_path / "controller.log"
    state_dir = incumbent.state_dir
    with Load(incumbent.url, bundles.rows, bundles.labels) as load:
        load.wait_answers(20)
        proc = controller(config, state_dir, bundles["good"], log)
        wait_until(lambda: rollout_at(state_dir, 20), 180, "the canary to get traffic")
        rollout = release_state.load(state_dir).rollout
        assert rollout is not None
        candidate = rollout.candidate
        killed_at = time.time()
        kill_controller(state_dir)
        proc.wait(timeout=30)
        grace = guard_grace(rollout.policy.interval)
        wait_until(lambda: release_state.load(state_dir).rollout is None, grace + 30, "the guard")
        after = load.sent_after(time.time())
    done = release_state.load(state_dir).past[-1]
    assert done.phase == "failed"
    assert "stopped deciding" in (done.reason or "")
    assert done.reverted_at is not None
    assert done.reverted_at - killed_at <= grace + 2.0
    assert not procs.alive(candidate.proc)
    assert {a.variant for a in after} == {"stable"}
    assert load.failed() == []
