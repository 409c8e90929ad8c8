"""The git lineage of a project: the repository's commit and branch, the CI runner's where the
checkout has no git metadata."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlgate.core.ci import NO_CI, CiEnv
from mlgate.store.lineage import git_info

pytestmark = pytest.mark.unit


def test_without_git_metadata_the_runner_names_the_commit(tmp_path: Path) -> None:
    info = git_info(tmp_path, CiEnv(sha="0123abc", ref_name="main"))
    assert (info.commit, info.branch, info.dirty) == ("0123abc", "main", None)
    assert git_info(tmp_path, NO_CI).commit is None


def test_the_repository_wins_over_the_runner(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q", "-b", "work")
    (tmp_path / "f").write_text("x\n")
    git("add", "f")
    git("commit", "-q", "-m", "one")
    info = git_info(tmp_path, CiEnv(sha="0123abc", ref_name="main"))
    assert info.commit == git("rev-parse", "HEAD")
    assert info.branch == "work"
    assert info.dirty is False
