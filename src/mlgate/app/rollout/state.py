"""The persisted state of a local release, and the lock that makes one controller its owner.

`release.json` in the state directory (written atomically at every step) holds what runs
(environment, stable variant) and the rollout in progress (candidate, strategy, weight, failed
checks, iterations, every decision so far). A controller holds `controller.lock` (an flock,
released by the kernel however the process ends) for as long as it decides; a second deploy
that cannot take it is refused, and a restarted controller that can take it finds the rollout
where the last one left it.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlgate.adapters.procs import ProcRef
from mlgate.app.rollout.local import EnvironmentRef
from mlgate.app.rollout.variants import VariantRef
from mlgate.core.config import CanaryConfig
from mlgate.errors import UsageError
from mlgate.store import atomic

STATE_FILE = "release.json"
LOCK_FILE = "controller.lock"
Strategy = Literal["direct", "canary", "ab", "shadow"]
Phase = Literal["progressing", "promoting", "rolling-back", "succeeded", "failed"]
ACTIVE: frozenset[str] = frozenset({"progressing", "promoting", "rolling-back"})


class Rollout(BaseModel):
    """One candidate's release: where it stands and every decision taken."""

    model_config = ConfigDict(extra="forbid")

    id: str
    strategy: Strategy
    phase: Phase = "progressing"
    candidate: VariantRef
    incumbent: str
    policy: CanaryConfig
    ab_key: str | None = None
    weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    started_at: float = Field(default_factory=time.time)
    # When the candidate first got traffic (or its copy), when a rollback took it away again,
    # and when the rollout ended.
    routed_at: float | None = None
    reverted_at: float | None = None
    ended_at: float | None = None
    updated_at: float = Field(default_factory=time.time)
    controller: ProcRef | None = None
    guard: ProcRef | None = None
    history: list[dict[str, Any]] = Field(default_factory=list)
    reason: str | None = None
    registry_note: str | None = None

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE


class ReleaseState(BaseModel):
    """Everything `mlgate deploy --target local` keeps between commands."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    config: str | None = None
    environment: EnvironmentRef | None = None
    stable: VariantRef | None = None
    rollout: Rollout | None = None
    # Finished rollouts, newest last (the last few are kept).
    past: list[Rollout] = Field(default_factory=list)


def load(state_dir: Path) -> ReleaseState:
    """The state in `state_dir`, or an empty one when none was written yet."""
    path = state_dir / STATE_FILE
    if not path.is_file():
        return ReleaseState()
    try:
        return ReleaseState.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a release state this mlgate can read: {exc}",
            hint="stop what it started (see its PIDs) and remove the directory",
        ) from None


def save(state_dir: Path, state: ReleaseState) -> None:
    """Write the state atomically (a reader sees the previous step or this one)."""
    if state.rollout is not None:
        state.rollout.updated_at = time.time()
    atomic.write_text(state_dir / STATE_FILE, state.model_dump_json(indent=2))


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
