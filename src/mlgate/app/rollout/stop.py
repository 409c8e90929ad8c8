"""Ending a local release from outside its controller: `mlgate canary stop` (roll back what
is in progress, then stop every process) and the guard's rollback of a rollout nobody decides.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters import procs
from mlgate.app.rollout.ports import Ports
from mlgate.app.rollout.state import ControllerLock, load
from mlgate.app.rollout.transitions import Outcome, Run, Say, quiet, rollback
from mlgate.errors import InfraError, UsageError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import Registry


def recover(
    state_dir: Path,
    lock: ControllerLock,
    registry: Registry | None,
    why: str,
    ports: Ports | None = None,
) -> Outcome:
    """Roll back a rollout nobody decides (the guard's job); the caller holds the lock."""
    state = load(state_dir)
    run = Run(state_dir, state, registry, quiet, threading.Event(), "mlgate guard",
              ports or Ports.local(state_dir))  # fmt: skip
    if state.rollout is None or not state.rollout.active:
        raise UsageError("no release in progress")
    return rollback(run, why)


def stop_rollout(
    state_dir: Path, *, registry: Registry | None, say: Say = quiet, ports: Ports | None = None
) -> list[str]:
    """`mlgate canary stop`: roll back a rollout in progress, then stop every process."""
    ports = ports or Ports.local(state_dir)
    lock = ControllerLock(state_dir)
    ro = load(state_dir).rollout
    if not lock.acquire(wait=2.0):
        if ro is not None and ro.controller is not None and ports.processes.alive(ro.controller):
            say(f"asking the controller (pid {ro.controller.pid}) to roll back")
            procs.stop(ro.controller, timeout=120)
        if not lock.acquire(wait=30.0):
            raise InfraError(f"the controller of {state_dir} did not let go of its lock")
    stopped: list[str] = []
    with lock:
        run = Run(state_dir, load(state_dir), registry, say, threading.Event(),
                  "mlgate canary stop", ports)  # fmt: skip
        state = run.state
        if state.rollout is not None and state.rollout.active and state.environment is not None:
            rollback(run, "stopped by `mlgate canary stop`")
            stopped.append(f"rolled back {run.state.past[-1].candidate.label}")
        if run.state.stable is not None:
            ports.processes.stop(run.state.stable)
            stopped.append(f"stopped {run.state.stable.label}")
        if run.state.environment is not None:
            ports.splitter.stop(run.state.environment)
            stopped.append("stopped the splitter, its exporter and Prometheus")
        run.update(stable=None, environment=None)
    return stopped
