"""Readiness across uvicorn workers: the server is ready when every worker has its model.

A request may reach any worker, and each one loads the model on its own; a worker that
answered /ready for itself would send traffic to siblings that still answer 503. With
`--workers N`, `mlgate serve` hands the workers a shared directory: a worker leaves a file
named after its pid there once its model is warm, and /ready is 200 only when N live workers
have done so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_READY_DIR = "MLGATE_SERVE_READY_DIR"
ENV_WORKERS = "MLGATE_SERVE_WORKERS"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class WorkerReadiness:
    """Where the workers record readiness, and how many must; no directory = one worker."""

    directory: Path | None
    expected: int = 1

    @classmethod
    def from_env(cls) -> WorkerReadiness:
        """The shared directory `mlgate serve` set up, if it runs several workers."""
        raw = os.environ.get(ENV_READY_DIR)
        if not raw:
            return cls(None)
        return cls(Path(raw), int(os.environ.get(ENV_WORKERS, "1")))

    def mark_ready(self, pid: int | None = None) -> None:
        """Record that this worker (or `pid`) has its model loaded and warm."""
        if self.directory is not None:
            (self.directory / str(pid or os.getpid())).touch()

    def mark_gone(self, pid: int | None = None) -> None:
        """Withdraw this worker (or `pid`): it is stopping."""
        if self.directory is not None:
            (self.directory / str(pid or os.getpid())).unlink(missing_ok=True)

    def all_ready(self) -> bool:
        """True when `expected` live workers are ready (always, for a single worker)."""
        if self.directory is None:
            return True
        live = sum(1 for f in self.directory.iterdir() if f.name.isdigit() and _alive(int(f.name)))
        return live >= self.expected
