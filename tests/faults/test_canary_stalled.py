"""`mlgate canary status` tells a rollout someone decides from one nobody does: with its
controller (a real process holding the controller lock) and its guard (the real guard process)
alive, it is progressing; with the controller killed (SIGKILL) the guard still watches; with
both killed it is stalled, and the status says how to stop or resume it. A PID recorded with
another start time (the kernel reuses PIDs) counts as gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.app.rollout.state import ControllerLock, RolloutState, save
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import ProcRef, RolloutRecord
from mlgate.store import procfs
from tests.faults.conftest import mlgate, wait_until
from tests.unit.app.rollout.fakes import environment, variant

pytestmark = pytest.mark.faults

HOLD_LOCK = (
    "import sys, time; from pathlib import Path; "
    "from mlgate.app.rollout.state import ControllerLock; "
    "assert ControllerLock(Path(sys.argv[1])).acquire(); print('ready', flush=True); "
    "time.sleep(600)"
)
CANDIDATE = variant("127.0.0.1:9001", "churn v2", 2).model_copy(
    update={"source": "models:/churn@challenger"}
)


def ref(proc: subprocess.Popen[str], what: str) -> ProcRef:
    started = procfs.start_time(proc.pid)
    assert started is not None
    return ProcRef(pid=proc.pid, started=started, what=what)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reaps it and closes its pipes


def lock_free(state_dir: Path) -> bool:
    """The controller lock can be taken (taken for an instant, and given back)."""
    lock = ControllerLock(state_dir)
    try:
        return lock.acquire()
    finally:
        lock.release()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            kill(proc)


def start_release(state_dir: Path, started: list[subprocess.Popen[str]]) -> RolloutRecord:
    """A canary at 40% whose controller holds the lock and whose guard watches it."""
    controller = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(state_dir)], stdout=subprocess.PIPE, text=True
    )
    started.append(controller)
    assert controller.stdout is not None
    assert controller.stdout.readline().strip() == "ready"
    now = time.time()
    rollout = RolloutRecord(
        id="r1", strategy="canary", candidate=CANDIDATE, incumbent="churn v1",
        policy=CanaryConfig(), weight=40, started_at=now, updated_at=now,
        controller=ref(controller, "release controller"),
    )  # fmt: skip
    stable = variant("127.0.0.1:9000", "churn v1", 1)
    save(state_dir, RolloutState(environment=environment(), stable=stable, rollout=rollout))
    guard = subprocess.Popen(
        [sys.executable, "-m", "mlgate.app.rollout.guard", str(state_dir), "--grace", "3600"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(guard)
    rollout = rollout.model_copy(update={"guard": ref(guard, "release guard")})
    save(state_dir, RolloutState(environment=environment(), stable=stable, rollout=rollout))
    return rollout


def status(state_dir: Path, *extra: str) -> str:
    done = mlgate("canary", "status", "--state-dir", str(state_dir), *extra, cwd=state_dir)
    assert done.code == 0, done.err
    return done.out


def test_status_says_stalled_when_controller_and_guard_are_killed(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    state_dir = tmp_path / "release"
    state_dir.mkdir()
    start_release(state_dir, processes)
    controller, guard = processes
    out = status(state_dir)
    assert "canary release of churn v2: progressing, weight 40%" in out
    assert "stalled:" not in out
    assert "no controller" not in out

    kill(controller)
    # The kernel released the lock with the process: the guard's grace clock now runs.
    wait_until(lambda: lock_free(state_dir), 30, "the controller lock freed")
    out = " ".join(status(state_dir).split())
    resume = "mlgate deploy --target local --strategy canary --candidate models:/churn@challenger"
    assert f"no controller is deciding: its guard rolls the release back unless `{resume}" in out
    assert "stalled:" not in out
    assert guard.poll() is None

    kill(guard)
    out = " ".join(status(state_dir).split())  # rich wraps long lines
    assert "canary release of churn v2: progressing, weight 40%" in out
    assert (
        "stalled: nobody is deciding (the release controller and its guard are not running); "
        f"run `mlgate canary stop --state-dir {state_dir}` to roll it back, or resume it with "
        f"`{resume} --state-dir {state_dir}`"
    ) in out
    data = json.loads(status(state_dir, "--json"))
    assert data["stalled"] is True
    assert data["deciding"] == {"controller": False, "guard": False}


def test_a_reused_pid_counts_as_gone(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    state_dir = tmp_path / "release"
    state_dir.mkdir()
    rollout = start_release(state_dir, processes)
    assert json.loads(status(state_dir, "--json"))["stalled"] is False
    # Both PIDs run, but not the processes recorded: another start time is another process.
    assert rollout.controller is not None
    assert rollout.guard is not None
    others = {
        "controller": rollout.controller.model_copy(update={"started": 1}),
        "guard": rollout.guard.model_copy(update={"pid": os.getpid()}),
    }
    stable = variant("127.0.0.1:9000", "churn v1", 1)
    moved = rollout.model_copy(update=others)
    save(state_dir, RolloutState(environment=environment(), stable=stable, rollout=moved))
    assert json.loads(status(state_dir, "--json"))["stalled"] is True
