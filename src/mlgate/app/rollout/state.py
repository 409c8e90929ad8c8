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

Two more records sit beside it. `admission.json` (`ReleaseAdmission`) says how the last release
started here passed the release policy (`mlgate.core.release_policy`): by right, or by whose
override, why, and what it set aside; the release report repeats it. `stop.json`
(`StopRequest`) says who asked `mlgate canary stop` to end which rollout, and why: the rollback
that follows (by the controller it signals, by the stop itself, or by the guard) is that stop,
never a rejection of the candidate.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, ClassVar, TypeVar

from mlgate.adapters import procs
from mlgate.core.records.base import Record
from mlgate.core.records.rollout import RolloutRecord, RolloutState
from mlgate.errors import FormatError
from mlgate.store import atomic

R = TypeVar("R", bound=Record)
STATE_FILE = "release.json"
LOCK_FILE = "controller.lock"
ADMISSION_FILE = "admission.json"
STOP_FILE = "stop.json"
__all__ = [
    "ControllerLock",
    "Deciding",
    "ReleaseAdmission",
    "RolloutRecord",
    "RolloutState",
    "StopRequest",
    "clear_stop",
    "deciding",
    "last_admission",
    "load",
    "request_stop",
    "save",
    "save_admission",
    "stop_request",
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


class ReleaseAdmission(Record):
    """How a release's candidate passed the release policy: by right (`override` None), or
    past its refusal (`overridden`) by `actor`'s override, for `override`'s reason."""

    FORMAT: ClassVar[str] = ADMISSION_FILE
    VERSION: ClassVar[int] = 1

    candidate: str
    label: str
    strategy: str
    actor: str
    at: float
    override: str | None = None
    overridden: tuple[str, ...] = ()

    def describe(self) -> str | None:
        """The override as the report and the outcome say it; None when there was none."""
        if self.override is None:
            return None
        return f"released past {'; '.join(self.overridden)} by {self.actor}: {self.override}"


class StopRequest(Record):
    """Who asked to stop which rollout, and why."""

    FORMAT: ClassVar[str] = STOP_FILE
    VERSION: ClassVar[int] = 1

    rollout: str
    actor: str
    at: float
    reason: str | None = None

    def describe(self) -> str:
        """`stopped by ACTOR` (with the reason), as the state and the report record it."""
        return f"stopped by {self.actor}" + (f": {self.reason}" if self.reason else "")


def save_admission(state_dir: Path, admission: ReleaseAdmission) -> None:
    """Record how the release starting now passed the policy (the caller holds the lock)."""
    atomic.write_text(state_dir / ADMISSION_FILE, admission.dumps())


def last_admission(state_dir: Path, candidate: str) -> ReleaseAdmission | None:
    """The admission of the last release started here, when it was of `candidate`."""
    found = _read(state_dir / ADMISSION_FILE, ReleaseAdmission)
    return found if found is not None and found.candidate == candidate else None


def request_stop(state_dir: Path, request: StopRequest) -> None:
    """Record that `request.actor` asks the rollout `request.rollout` to stop."""
    atomic.write_text(state_dir / STOP_FILE, request.dumps())


def stop_request(state_dir: Path, rollout: str) -> StopRequest | None:
    """The request to stop the rollout `rollout`, when one was made (a request for another
    rollout is stale: it does not count)."""
    found = _read(state_dir / STOP_FILE, StopRequest)
    return found if found is not None and found.rollout == rollout else None


def clear_stop(state_dir: Path, rollout: str | None = None) -> None:
    """Forget the stop request (only the one for `rollout`, when given)."""
    path = state_dir / STOP_FILE
    if rollout is None or stop_request(state_dir, rollout) is not None:
        path.unlink(missing_ok=True)


def _read(path: Path, kind: type[R]) -> R | None:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    return kind.loads(text, source=str(path))


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
