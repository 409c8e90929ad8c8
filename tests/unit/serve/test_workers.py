"""Readiness across workers: ready only when the expected number of live workers are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.serve.workers import WorkerReadiness

pytestmark = pytest.mark.unit


def test_a_single_worker_needs_no_directory() -> None:
    assert WorkerReadiness(None).all_ready()


def test_ready_when_every_live_worker_is(tmp_path: Path) -> None:
    readiness = WorkerReadiness(tmp_path, expected=2)
    assert not readiness.all_ready()
    readiness.mark_ready()
    assert not readiness.all_ready()  # one of two
    sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        readiness.mark_ready(sibling.pid)
        assert readiness.all_ready()
        readiness.mark_gone(sibling.pid)
        assert not readiness.all_ready()
        readiness.mark_ready(sibling.pid)
    finally:
        sibling.kill()
        sibling.wait()
    # A worker that died without withdrawing does not count.
    assert not readiness.all_ready()
