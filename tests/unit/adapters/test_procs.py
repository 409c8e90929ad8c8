"""Processes by PID and start time: a process is ours while both match, and only then is it
signalled; waits end on a condition or a deadline, never a fixed sleep."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from mlgate.adapters import procs
from mlgate.errors import InfraError

pytestmark = pytest.mark.unit


def test_a_spawned_process_is_alive_until_stopped(tmp_path: Path) -> None:
    ref = procs.spawn(["sleep", "30"], what="sleeper", log=tmp_path / "s.log")
    assert procs.alive(ref)
    assert ref.log == str(tmp_path / "s.log")
    assert os.getsid(ref.pid) == ref.pid  # a session of its own: it outlives its starter
    procs.stop(ref, timeout=5)
    assert not procs.alive(ref)
    procs.stop(ref)  # stopping what is gone is a no-op


def test_a_reused_pid_is_not_ours(tmp_path: Path) -> None:
    ref = procs.spawn(["sleep", "30"], what="sleeper", log=tmp_path / "s.log")
    other = ref.model_copy(update={"started": ref.started + 1})
    assert not procs.alive(other)
    procs.stop(other, timeout=1)  # not signalled: another process' start time
    assert procs.alive(ref)
    procs.stop(ref, timeout=5)


def test_a_process_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    ref = procs.spawn([sys.executable, "-c", code], what="stubborn", log=tmp_path / "s.log")
    procs.wait_for(lambda: "up" in procs.tail(ref.log), timeout=30, what="started", ref=ref)
    procs.stop(ref, sig=signal.SIGTERM, timeout=0.2)
    assert not procs.alive(ref)


def test_a_command_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="cannot start missing"):
        procs.spawn(["/nonexistent/binary"], what="missing", log=tmp_path / "m.log")


def test_wait_for_ends_on_the_deadline_or_the_process_exiting(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="never: not done after 0s"):
        procs.wait_for(lambda: False, timeout=0.05, what="never")
    # It lives long enough to be recorded, then exits while it is waited for.
    ref = procs.spawn(
        ["sh", "-c", "echo bye; sleep 0.3"], what="short-lived", log=tmp_path / "b.log"
    )
    with pytest.raises(InfraError, match=r"short-lived \(pid \d+\) exited: bye"):
        procs.wait_for(lambda: False, timeout=30, what="waiting", ref=ref)


def test_ports_logs_and_argv(tmp_path: Path) -> None:
    port = procs.free_port()
    assert 0 < port < 65536
    assert not procs.http_ok(f"http://127.0.0.1:{port}/", timeout=1)
    assert procs.tail(None) == "(no log)"
    assert procs.tail(tmp_path / "none") == "(no log)"
    (tmp_path / "l.log").write_text("\n".join(str(i) for i in range(20)))
    assert procs.tail(tmp_path / "l.log", lines=2) == "18\n19"
    assert procs.python_module("mlgate", "serve") == [sys.executable, "-m", "mlgate", "serve"]
