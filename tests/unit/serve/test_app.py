"""Where the feedback keys come from: the environment, else a secret made at start (one per
process, or one shared by the workers of a server)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from mlgate.serve.app import (
    ENV_FEEDBACK_SECRET,
    ENV_FEEDBACK_TOKEN,
    SHARED_SECRET_FILE,
    feedback_keys,
    shared_secret,
)
from mlgate.serve.settings import ServeSettings
from mlgate.serve.workers import ENV_READY_DIR

pytestmark = pytest.mark.unit

SETTINGS = ServeSettings()


def test_the_environment_gives_the_secret_and_the_token() -> None:
    keys = feedback_keys(SETTINGS, {ENV_FEEDBACK_SECRET: "s" * 16, ENV_FEEDBACK_TOKEN: "t"})
    assert (keys.secret, keys.token) == (b"s" * 16, "t")
    assert "s" * 16 not in repr(keys)
    with pytest.raises(ValueError, match="at least 16 characters"):
        feedback_keys(SETTINGS, {ENV_FEEDBACK_SECRET: "short"})


def test_without_a_secret_each_process_makes_its_own() -> None:
    one, two = feedback_keys(SETTINGS, {}), feedback_keys(SETTINGS, {ENV_FEEDBACK_TOKEN: ""})
    assert one.secret != two.secret
    assert len(one.secret) == 32
    assert two.token is None


def _secret_of(directory: str, out: multiprocessing.Queue[bytes]) -> None:
    out.put(feedback_keys(SETTINGS, {ENV_READY_DIR: directory}).secret)


def test_workers_share_the_secret_the_first_of_them_made(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[bytes] = context.Queue()
    procs = [context.Process(target=_secret_of, args=(str(tmp_path), out)) for _ in range(2)]
    for p in procs:
        p.start()
    secrets = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert secrets == {(tmp_path / SHARED_SECRET_FILE).read_bytes()}
    assert (tmp_path / SHARED_SECRET_FILE).stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == [SHARED_SECRET_FILE]
    assert shared_secret(tmp_path) in secrets
