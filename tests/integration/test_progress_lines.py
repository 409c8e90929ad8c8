"""`mlgate run` with its stdout a pipe, as in CI: each stage's start line arrives while the
process still runs (here, while it waits for a project lock this test holds), a heartbeat
arrives every MLGATE_HEARTBEAT_SECONDS during a long step, and under GITHUB_ACTIONS=true every
stage is a `::group::` closed by `::endgroup::` before the next opens.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.store.locking import project_lock
from mlgate.store.project import load_project

pytestmark = pytest.mark.integration

DEADLINE = 120.0  # seconds a line may take on a loaded machine before the test gives up


class Reader:
    """The lines of a pipe, as they arrive, from a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def close(self) -> None:
        """Wait for the process (killed if it still runs) and for the end of its output."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=DEADLINE)
        self._thread.join(timeout=DEADLINE)

    def until(self, needle: str) -> str:
        """Read up to the first line containing `needle`."""
        while True:
            line = self._lines.get(timeout=DEADLINE)
            assert line is not None, f"no line with {needle!r} before the end: {self.seen}"
            self.seen.append(line)
            if needle in line:
                return line

    def rest(self) -> list[str]:
        """Every line up to the end of the output."""
        while (line := self._lines.get(timeout=DEADLINE)) is not None:
            self.seen.append(line)
        return self.seen


def _env(github: bool, heartbeat: float = 0.2) -> dict[str, str]:
    # Python buffers a piped stdout unless told otherwise, as on a CI runner: every line must
    # be flushed by mlgate itself.
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "PYTHONUNBUFFERED")}
    env["MLGATE_HEARTBEAT_SECONDS"] = str(heartbeat)
    if github:
        env["GITHUB_ACTIONS"] = "true"
    return env


@pytest.fixture
def lean_demo(demo_project: Path) -> Path:
    path = demo_project / "mlgate.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("n_estimators: 100", "n_estimators: 20").replace("n_jobs: -1", "n_jobs: 1")
    )
    return demo_project


@contextlib.contextmanager
def behind_lock(project: Path, tmp_path: Path, heartbeat: float) -> Iterator[tuple[Reader, Path]]:
    """`mlgate run` under GitHub Actions, started while this test holds the project lock."""
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err, project_lock(load_project(project)) as lock:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlgate", "run", "--no-register", "--config", str(project)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=_env(github=True, heartbeat=heartbeat),
        )
        reader = Reader(proc)
        try:
            yield reader, lock
        finally:
            reader.close()


def test_stage_lines_arrive_while_the_run_is_still_going(lean_demo: Path, tmp_path: Path) -> None:
    # No heartbeat to fill a pipe's buffer: the few lines before the lock arrive only if each
    # was flushed as it was written.
    with behind_lock(lean_demo, tmp_path, heartbeat=3600) as (reader, lock):
        reader.until("::group::starting")
        reader.until("starting: done after ")
        reader.until("::group::waiting for")
        waiting = reader.until(f"(project lock {lock}) ...")
        # Blocked on the lock this test holds: it cannot have ended.
        assert reader.proc.poll() is None
    assert waiting.startswith("[")
    assert "] waiting for mlgate" in waiting


def test_a_long_wait_gets_a_heartbeat(lean_demo: Path, tmp_path: Path) -> None:
    with behind_lock(lean_demo, tmp_path, heartbeat=0.2) as (reader, _lock):
        reader.until("::group::waiting for")
        beats = [reader.until("still running"), reader.until("still running")]
        assert reader.proc.poll() is None
    assert all("waiting for" in beat for beat in beats)


def test_every_stage_is_a_group_in_order_and_the_run_ends(lean_demo: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlgate", "run", "--no-register", "--config", str(lean_demo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(github=True),
    )
    reader = Reader(proc)
    lines = reader.rest()
    reader.close()
    assert proc.returncode == 0, lines
    groups = [line.removeprefix("::group::") for line in lines if line.startswith("::group::")]
    assert [g.split(" in ")[0] for g in groups] == [
        "starting",
        "looking up the champion",
        "loading data",
        "validating data",
        "training",
        "evaluating and gating",
    ]
    # Groups never nest: each closes before the next opens, and its end line follows, unfolded.
    marks = [line for line in lines if line.startswith("::")]
    assert marks == [m for g in groups for m in (f"::group::{g}", "::endgroup::")]
    for group in groups:
        end = lines.index(f"::group::{group}")
        closing = lines.index("::endgroup::", end)
        assert f"{group}: done after " in lines[closing + 1]
    # The summary follows the last stage.
    assert lines.index("PASSED: churn") > lines.index("::endgroup::", lines.index(marks[-2]))


def test_without_github_actions_there_are_lines_and_no_groups(lean_demo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlgate", "validate", "--config", str(lean_demo)],
        capture_output=True,
        text=True,
        env=_env(github=False),
        timeout=DEADLINE,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "still running" not in line]
    assert lines[0] == "[    0.0s] validating data ..."
    assert "validating data: done after " in lines[1]
    assert not any(line.startswith("::") for line in lines)
