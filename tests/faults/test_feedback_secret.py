"""A feedback secret too short to sign request ids is refused when `mlgate serve` starts, with
exit 2 and the fix, before any worker starts (not exit 3 from a worker that failed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import mlgate

pytestmark = pytest.mark.faults


def test_a_short_feedback_secret_is_refused_at_start(
    bundle: Path, env: dict[str, str], tmp_path: Path
) -> None:
    done = mlgate(
        "serve",
        str(bundle),
        "--port",
        "0",
        cwd=tmp_path,
        env={**env, "MLGATE_FEEDBACK_SECRET": "short"},
    )
    assert done.code == 2, done.err[-2000:]
    assert "MLGATE_FEEDBACK_SECRET has 5 characters; it needs at least 16" in done.err
    assert "openssl rand" in done.err
