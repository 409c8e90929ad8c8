"""Processes a local release starts and stops: by PID, never by name.

A PID alone can be reused once its process is gone, so each one is recorded with its start
time (`mlgate.store.procfs`); a process is "ours" only while both match, and only then is
it signalled. Every process starts in a session of its own: stopping or killing the command
that started it (a controller) leaves it running for the next controller to find.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from mlgate.core.records.rollout import ProcRef
from mlgate.errors import InfraError
from mlgate.store import procfs

__all__ = ["ProcRef", "alive", "spawn", "stop", "wait_for"]


def start_time(pid: int) -> int | None:
    """The process' start time in clock ticks since boot, or None when it is gone."""
    return procfs.start_time(pid)


def alive(ref: ProcRef | None) -> bool:
    """True while the recorded process runs (same PID and start time, not a zombie)."""
    return ref is not None and start_time(ref.pid) == ref.started


def spawn(
    argv: Sequence[str], *, what: str, log: Path, env: dict[str, str] | None = None
) -> ProcRef:
    """Start `argv` in its own session, output appended to `log`; returns its reference.

    posix_spawn rather than subprocess.Popen: the process is meant to outlive its starter
    (a controller that exits), so no Popen object should claim it; a thread reaps it if it
    ends while its starter still runs.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        pid = os.posix_spawnp(
            argv[0],
            list(argv),
            dict(os.environ if env is None else env),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, fd, 1),
                (os.POSIX_SPAWN_DUP2, fd, 2),
            ],
            setsid=True,
        )
    except OSError as exc:
        raise InfraError(f"cannot start {what} ({argv[0]}): {exc}") from None
    finally:
        os.close(fd)
    threading.Thread(target=_reap, args=(pid,), name=f"reap-{pid}", daemon=True).start()
    started = start_time(pid)
    if started is None:
        raise InfraError(f"{what} exited at once: {tail(log)}")
    return ProcRef(pid=pid, started=started, what=what, log=str(log))


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop(ref: ProcRef | None, *, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    """Signal the process if it is still ours, wait for it to exit, SIGKILL after `timeout`."""
    if not alive(ref):
        return
    assert ref is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(ref.pid, sig)
    if wait_gone(ref, timeout):
        return
    if alive(ref):
        with contextlib.suppress(ProcessLookupError):
            os.kill(ref.pid, signal.SIGKILL)
    if not wait_gone(ref, 10.0):
        raise InfraError(f"{ref.what} (pid {ref.pid}) did not exit after SIGKILL")


def wait_gone(ref: ProcRef, timeout: float) -> bool:
    """Wait until the process has exited; False when it still runs after `timeout`."""
    deadline = time.monotonic() + timeout
    while alive(ref):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_for(
    check: Callable[[], bool], *, timeout: float, what: str, ref: ProcRef | None = None
) -> None:
    """Poll `check` until it holds; an InfraError after `timeout`, or as soon as `ref` dies."""
    deadline = time.monotonic() + timeout
    while not check():
        if ref is not None and not alive(ref):
            raise InfraError(f"{what}: {ref.what} (pid {ref.pid}) exited: {tail(ref.log)}")
        if time.monotonic() > deadline:
            detail = f": {tail(ref.log)}" if ref is not None else ""
            raise InfraError(f"{what}: not done after {timeout:.0f}s{detail}")
        time.sleep(0.05)


def tail(log: Path | str | None, lines: int = 12) -> str:
    """The last lines of a log file, for error messages."""
    if log is None:
        return "(no log)"
    try:
        text = Path(log).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def python_module(module: str, *args: str) -> list[str]:
    """argv running `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]
