"""One writer per project: the lock that serialises `mlgate run`, `train`, `gate`, `register`.

Two runs in one checkout would otherwise write the same bundle, reports and registry versions
in turn, and one could register a bundle the other trained. The lock is an OS file lock
(`filelock`, flock(2) underneath) on `.mlgate.lock` beside the bundle directory (`models/` by
default, which is git-ignored): the kernel releases it when its holder exits, however it
exits, so a killed run never leaves the project locked. Beside it, `.mlgate.lock.owner` says
who holds it, for the message a waiting run shows. `file_lock` is the same lock on any path.

Holding the lock makes it safe to remove what killed runs left behind (`clean_leftovers`): no
other mlgate process of this project can be writing at the same time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mlgate.core.config import Project
from mlgate.errors import InfraError, LockBusy
from mlgate.store import atomic
from mlgate.store.bundle import clean_leftovers as clean_bundle

LOCK_FILE = ".mlgate.lock"
OWNER_SUFFIX = ".owner"
SCRATCH_PREFIX = ".mlgate-scratch-"
Say = Callable[[str], None]

# Waiting for the lock is news for whoever started the command: the CLI shows this logger's
# records on stderr; a library caller configures it (or passes `say`).
log = logging.getLogger(__name__)


def lock_path(project: Project) -> Path:
    """Where the project's lock lives: beside the bundle directory."""
    return project.bundle_dir.parent / LOCK_FILE


def _owner(path: Path) -> str:
    try:
        text = (path.parent / (path.name + OWNER_SUFFIX)).read_text(encoding="utf-8").strip()
    except OSError:
        return "another mlgate process"
    return text or "another mlgate process"


@contextlib.contextmanager
def file_lock(path: Path, *, blocking: bool = True, timeout: float | None = None) -> Iterator[Path]:
    """Hold an exclusive OS lock on `path` (created if missing, left in place) for the block.

    `blocking=False` tries once; `timeout` waits at most that many seconds; either raises
    LockBusy when another process holds it. The kernel releases the lock when its holder
    exits, however it exits. Yields `path`.
    """
    # filelock comes with the pipeline extra; the serving image may not have it.
    from filelock import FileLock, Timeout

    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=-1 if timeout is None else timeout, blocking=blocking)
    except Timeout:
        raise LockBusy(f"{path} is locked by another process") from None
    try:
        yield path
    finally:
        lock.release()


@contextlib.contextmanager
def project_lock(
    project: Project, *, wait: bool = True, say: Say | None = None, what: str = "mlgate"
) -> Iterator[Path]:
    """Hold the project lock for the block; wait for it (saying so through `say` and the
    `mlgate.store.locking` logger) or, with `wait=False`, raise InfraError (exit 3) naming its
    holder. Yields the lock file's path."""
    path = lock_path(project)
    owner_file = path.parent / (path.name + OWNER_SUFFIX)
    with contextlib.ExitStack() as held:
        with atomic.output_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                held.enter_context(file_lock(path, blocking=False))
            except LockBusy:
                holder = _owner(path)
                if not wait:
                    raise InfraError(
                        f"the project is locked by {holder} ({path})",
                        hint="wait for it to finish, or run without --no-wait to queue behind it",
                    ) from None
                message = f"waiting for {holder} to finish (project lock {path})"
                if say is not None:
                    say(message)
                log.info("%s", message)
                start = time.monotonic()
                held.enter_context(file_lock(path))
                log.info("got the project lock after %.1fs", time.monotonic() - start)
        # The lock file stays (removing it would race with a waiter); the note of who held it
        # goes.
        held.callback(owner_file.unlink, missing_ok=True)
        with atomic.output_errors(path):
            owner = f"{what} (pid {os.getpid()} on {socket.gethostname()}, since {_now()})"
            atomic.write_text(owner_file, owner + "\n")
        yield path


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def scratch_dir(project: Project) -> Path:
    """A fresh private directory beside the bundle (for a champion download, for instance);
    removed by the caller, or by `clean_leftovers` after a crash."""

    parent = project.bundle_dir.parent
    with atomic.output_errors(parent):
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent))


def clean_leftovers(project: Project) -> list[Path]:
    """Remove what killed runs left: bundle staging copies, scratch directories, temporary
    files of interrupted writes. Call only while holding the project lock."""

    removed = clean_bundle(project.bundle_dir)
    parent = project.bundle_dir.parent
    if parent.is_dir():
        for path in sorted(parent.glob(SCRATCH_PREFIX + "*")):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    for directory in {parent, project.reports_dir, project.metrics_path.parent, project.root}:
        for tmp in atomic.leftover_temps(directory):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
