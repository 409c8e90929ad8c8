"""The guard of one rollout: rolls it back when nobody has decided it for a grace period.

    python -m mlgate.app.rollout.guard STATE_DIR --grace SECONDS

A controller holds the state directory's lock while it decides; the kernel releases the lock
however the controller ends (kill -9 included). The guard tests the lock a few times a
second: while it can take it and the rollout is still in progress, the clock runs; a
controller that starts again (the same `mlgate deploy`) takes the lock and the clock stops.
After `grace` seconds with no controller, the guard keeps the lock and rolls back, recording
the reason like any rollback. It exits when the rollout has ended, whoever ended it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mlgate.app.rollout.state import ControllerLock, load
from mlgate.errors import MlgateError

# Deferred imports: the guard is a process of its own that waits; the rollback and the registry
# client load only when it must roll back.


def watch(state_dir: Path, grace: float, poll: float = 0.25) -> str:
    """Watch until the rollout ends; returns what happened, for the guard's log."""
    lock = ControllerLock(state_dir)
    free_since: float | None = None
    while True:
        rollout = load(state_dir).rollout
        if rollout is None or not rollout.active:
            return "the rollout ended"
        if lock.acquire():
            now = time.monotonic()
            free_since = free_since if free_since is not None else now
            if now - free_since >= grace:
                try:
                    return _roll_back(state_dir, lock, grace)
                finally:
                    lock.release()
            lock.release()
        else:
            free_since = None
        time.sleep(poll)


def _roll_back(state_dir: Path, lock: ControllerLock, grace: float) -> str:
    from mlgate.app.rollout.stop import recover

    state = load(state_dir)
    rollout = state.rollout
    if rollout is None or not rollout.active:
        return "the rollout ended"
    pid = rollout.controller.pid if rollout.controller else "?"
    why = (
        f"its controller (pid {pid}) stopped deciding at {rollout.weight}% and none took over "
        f"within {grace:g}s"
    )
    registry = None
    if state.config:
        from mlgate.adapters.mlflow import open_registry

        try:
            registry = open_registry(Path(state.config))
        except MlgateError as exc:
            sys.stderr.write(f"guard: no registry to record the rollback in: {exc}\n")
    outcome = recover(state_dir, lock, registry, why)
    return f"rolled back: {outcome.reason} ({outcome.registry_note})"


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mlgate.app.rollout.guard`."""
    parser = argparse.ArgumentParser(prog="python -m mlgate.app.rollout.guard")
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("--grace", type=float, required=True)
    args = parser.parse_args(argv)
    try:
        message = watch(args.state_dir, args.grace)
    except MlgateError as exc:
        sys.stderr.write(f"guard: {exc}\n")
        return 3
    sys.stdout.write(f"guard: {message}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
