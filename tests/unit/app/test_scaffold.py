"""`init_project` against fakes of its two outside systems (DVC in git, the CI workflow
files): what it asks of each, and what it says when the data cannot be versioned. The real
adapters keep their own tests (tests/unit/adapters, tests/integration/registry/test_dvc.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlgate.adapters.dvc import DvcInit
from mlgate.app.scaffold import InitRequest, InitResult, init_project
from mlgate.core.config import CONFIG_FILE
from mlgate.errors import UsageError

pytestmark = pytest.mark.unit

ROWS = 300


@dataclass
class FakeVersioning:
    """DVC in git as `init` uses it: `repo` is the repository root, or None for no repository."""

    repo: Path | None
    ignored: bool = False
    calls: list[tuple[str, Path, str | None, bool]] = field(default_factory=list)

    def git_toplevel(self, root: Path) -> Path:
        if self.repo is None:
            raise UsageError(f"{root} is not inside a git repository")
        return self.repo

    def git_ignored(self, path: Path) -> bool:
        return self.ignored

    def init_dvc(self, project_root: Path, remote: str | None = None, *, commit: bool) -> DvcInit:
        self.calls.append(("init_dvc", project_root, remote, commit))
        return DvcInit(
            root=project_root,
            remote=remote or "fake-remote",
            data_dvc_file=project_root / "data" / "churn.csv.dvc",
            files=(),
            committed=commit,
            seconds=0.0,
        )


@dataclass
class FakeWorkflows:
    """The CI files, recorded instead of written."""

    written: list[tuple[Path, bool]] = field(default_factory=list)

    def write_workflows(
        self, root: Path, *, force: bool = False, feast_repo: str | None = None
    ) -> list[Path]:
        self.written.append((root, force))
        return [root / ".github" / "workflows" / "ci-cd.yml"]


def _init(
    root: Path,
    versioning: FakeVersioning,
    *,
    remote: str | None = None,
    dvc: bool = True,
    force: bool = False,
) -> tuple[InitResult, FakeWorkflows]:
    workflows = FakeWorkflows()
    request = InitRequest(root=root, demo=True, rows=ROWS, remote=remote, dvc=dvc, force=force)
    return init_project(request, versioning=versioning, workflows=workflows), workflows


def test_inside_git_the_data_is_tracked_and_nothing_is_committed(tmp_path: Path) -> None:
    versioning = FakeVersioning(repo=tmp_path)
    result, workflows = _init(tmp_path / "proj", versioning, remote="/srv/dvc")
    assert versioning.calls == [("init_dvc", tmp_path / "proj", "/srv/dvc", False)]
    assert result.dvc is not None
    assert result.dvc.remote == "/srv/dvc"
    assert workflows.written == [(tmp_path / "proj", False)]
    assert (tmp_path / "proj" / CONFIG_FILE).is_file()


def test_outside_git_the_project_is_written_without_dvc(tmp_path: Path) -> None:
    versioning = FakeVersioning(repo=None)
    result, _ = _init(tmp_path / "proj", versioning)
    assert versioning.calls == []
    assert result.dvc is None


def test_outside_git_a_remote_is_refused_since_it_cannot_be_used(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not inside a git repository"):
        _init(tmp_path / "proj", FakeVersioning(repo=None), remote="/srv/dvc")


def test_an_ignored_directory_is_not_tracked_and_the_note_says_why(tmp_path: Path) -> None:
    versioning = FakeVersioning(repo=tmp_path, ignored=True)
    result, _ = _init(tmp_path / "proj", versioning)
    assert versioning.calls == []
    assert any("ignored by git" in note for note in result.notes)
    with pytest.raises(UsageError, match="ignored by git"):
        _init(tmp_path / "other", versioning, remote="/srv/dvc")


def test_no_dvc_asks_nothing_of_git_and_refuses_a_remote(tmp_path: Path) -> None:
    versioning = FakeVersioning(repo=tmp_path)
    result, workflows = _init(tmp_path / "proj", versioning, dvc=False)
    assert versioning.calls == []
    assert result.dvc is None
    assert len(workflows.written) == 1
    with pytest.raises(UsageError, match="--remote needs DVC"):
        _init(tmp_path / "proj2", versioning, dvc=False, remote="/srv/dvc")


def test_force_reaches_the_workflow_files(tmp_path: Path) -> None:
    _init(tmp_path / "proj", FakeVersioning(repo=None))
    _, workflows = _init(tmp_path / "proj", FakeVersioning(repo=None), force=True)
    assert workflows.written == [(tmp_path / "proj", True)]
