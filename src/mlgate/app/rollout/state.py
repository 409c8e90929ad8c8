"""The persisted state of a local release, and the lock that makes one controller its owner.

`release.json` in the state directory (written atomically at every step; its record is
`mlgate.core.records.rollout.RolloutState`) holds what runs
(environment, stable variant) and the rollout in progress (candidate, strategy, weight, failed
checks, iterations, every decision so far). A controller holds `controller.lock` (an flock,
released by the kernel however the process ends) for as long as it decides; a second deploy
that cannot take it is refused, and a restarted controller that can take it finds the rollout
where the last one left it.

`deciding` says whether anyone still decides a rollout in progress: its controller, or the
guard that rolls it back when no controller takes over. Each is recorded with its PID and
start time, so a PID that the kernel gave to another process since counts as gone.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mlgate.adapters import procs
from mlgate.core.records.rollout import RolloutRecord, RolloutState
from mlgate.errors import FormatError
from mlgate.store import atomic

STATE_FILE = "release.json"
LOCK_FILE = "controller.lock"
__all__ = [
    "ControllerLock",
    "Deciding",
    "RolloutRecord",
    "RolloutState",
    "deciding",
    "load",
    "save",
]


def load(state_dir: Path) -> RolloutState:
    """The state in `state_dir`, or an empty one when none was written yet; a state file of
    an older format is upgraded, one this mlgate cannot read is a FormatError naming it."""
    path = state_dir / STATE_FILE
    if not path.is_file():
        return RolloutState()
    try:
        return RolloutState.loads(path.read_bytes(), source=str(path))
    except FormatError as exc:
        raise FormatError(
            f"{path} is not a release state this mlgate can read: {exc.message}",
            hint=exc.hint or "stop what it started (see its PIDs) and remove the directory",
        ) from None


def save(state_dir: Path, state: RolloutState, now: float | None = None) -> RolloutState:
    """Write the state atomically (a reader sees the previous step or this one), the rollout
    stamped with `now` (default: the clock); returns what was written."""
    if state.rollout is not None:
        stamped = state.rollout.model_copy(update={"updated_at": now or time.time()})
        state = state.model_copy(update={"rollout": stamped})
    atomic.write_text(state_dir / STATE_FILE, state.dumps())
    return state


@dataclass(frozen=True)
class Deciding:
    """Who still decides a rollout: its controller and its guard, each alive or not."""

    controller: bool
    guard: bool

    @property
    def stalled(self) -> bool:
        """Neither runs: the rollout stays where it is until someone resumes or stops it."""
        return not (self.controller or self.guard)


def deciding(rollout: RolloutRecord) -> Deciding | None:
    """Whether the controller and the guard of a rollout in progress still run (the same PID
    and start time as recorded); None for a rollout that has ended."""
    if not rollout.active:
        return None
    return Deciding(controller=procs.alive(rollout.controller), guard=procs.alive(rollout.guard))


class ControllerLock:
    """The right to decide for the release in a state directory (flock, non-blocking)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._fh: IO[str] | None = None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock if nobody holds it (retrying for `wait` seconds: the guard takes it
        for an instant to test it); True when this process now holds it."""
        deadline = time.monotonic() + wait
        while not self._try():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _try(self) -> bool:
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def holder(self) -> int | None:
        """The PID that last took the lock (whether or not it still holds it)."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        """Give the lock up (also done by the kernel when the process ends)."""
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ControllerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
