"""Ending a local release from outside its controller: `mlgate canary stop` (roll back what
is in progress, then stop every process) and the guard's rollback of a rollout nobody decides.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters import procs
from mlgate.adapters.mlflow.types import current_actor
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
    """Roll back a rollout nobody decides (the guard's job); the caller holds the lock.

    Nothing was shown wrong with the candidate (its controller died), so no rejection is
    recorded against it: it may be released again."""
    state = load(state_dir)
    run = Run(state_dir, state, registry, quiet, threading.Event(), "mlgate guard",
              ports or Ports.local(state_dir))  # fmt: skip
    if state.rollout is None or not state.rollout.active:
        raise UsageError("no release in progress")
    return rollback(run, why, reject=False)


def stop_rollout(
    state_dir: Path,
    *,
    registry: Registry | None,
    say: Say = quiet,
    ports: Ports | None = None,
    actor: str | None = None,
) -> list[str]:
    """`mlgate canary stop`: roll back a rollout in progress, recorded as "stopped by ACTOR"
    (default: the current user) and never as a rejection, then stop every process."""
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
                  actor or current_actor(), ports)  # fmt: skip
        state = run.state
        if state.rollout is not None and state.rollout.active and state.environment is not None:
            rollback(run, "", manual=True)  # recorded as "stopped by ACTOR"
            stopped.append(f"rolled back {run.state.past[-1].candidate.label}")
        if run.state.stable is not None:
            ports.processes.stop(run.state.stable)
            stopped.append(f"stopped {run.state.stable.label}")
        if run.state.environment is not None:
            ports.splitter.stop(run.state.environment)
            stopped.append("stopped the splitter, its exporter and Prometheus")
        run.update(stable=None, environment=None)
    return stopped
