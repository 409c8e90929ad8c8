"""The file lock: one holder at a time, a busy lock refused or waited for, and waiting reported
through the module's logger rather than printed."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from mlgate.core.config import Config, Project
from mlgate.errors import InfraError, LockBusy
from mlgate.store.locking import file_lock, lock_path, project_lock

pytestmark = pytest.mark.unit


def _project(root: Path) -> Project:
    config = Config.model_validate({"name": "m", "data": {"path": "d.csv", "target": "y"}})
    return Project(root=root, config=config)


def test_a_held_lock_is_refused_at_once_or_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with file_lock(path):
        with pytest.raises(LockBusy, match=r"x\.lock is locked"), file_lock(path, blocking=False):
            pass
        start = time.monotonic()
        with pytest.raises(LockBusy), file_lock(path, timeout=0.2):
            pass
        assert time.monotonic() - start >= 0.2
    with file_lock(path, blocking=False) as held:  # released on leaving the block
        assert held == path
    assert path.exists()


def test_a_busy_project_lock_names_its_holder_without_waiting(tmp_path: Path) -> None:
    project = _project(tmp_path)
    with (
        project_lock(project, what="mlgate run"),
        pytest.raises(InfraError, match=r"locked by mlgate run \(pid"),
        project_lock(project, wait=False),
    ):
        pass


def test_waiting_for_the_project_lock_is_logged_not_printed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path)
    path = lock_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    # Only this test's handler: a CLI test in this process may have added the CLI's.
    logger = logging.getLogger("mlgate.store.locking")
    saved, level = logger.handlers[:], logger.level
    logger.handlers = [Collect()]
    logger.setLevel(logging.INFO)
    said: list[str] = []
    got = threading.Event()

    def waiter() -> None:
        with project_lock(project, say=said.append, what="mlgate gate"):
            got.set()

    try:
        with file_lock(path):
            thread = threading.Thread(target=waiter)
            thread.start()
            deadline = time.monotonic() + 30
            while not records and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not got.is_set()
        thread.join(timeout=30)
    finally:
        logger.handlers = saved
        logger.setLevel(level)
    assert got.is_set()
    assert said == [f"waiting for another mlgate process to finish (project lock {path})"]
    assert records[0] == said[0]
    assert records[1].startswith("got the project lock after ")
    assert capfd.readouterr().err == ""
