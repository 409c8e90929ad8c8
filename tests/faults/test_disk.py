"""A full or read-only disk is infrastructure (exit 3, naming the path), and leaves nothing
partial: small tmpfs mounts (root only) under the bundle directory, the registry's artifact
store and the reports directory."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import mlgate
from tests.faults.test_runs import registry_runs

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@contextlib.contextmanager
def tmpfs(where: Path, size_kib: int, *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size_kib` mounted at `where` for the block (skips when mounting is denied)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k" + (",ro" if read_only else "")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def bundle_kib(served_template: Path) -> int:
    model = served_template / "models" / "model"
    return sum(p.stat().st_size for p in model.rglob("*") if p.is_file()) // 1024


def test_disk_full_while_writing_the_bundle_is_exit_3_and_nothing_partial(
    project: Path, env: dict[str, str], served_template: Path
) -> None:
    size = max(64, bundle_kib(served_template) // 2)
    with tmpfs(project / "models", size) as models:
        done = mlgate("run", cwd=project, env=env)
        assert done.code == 3, done.err
        assert "No space left on device" in done.err
        assert str(models) in done.err
        left = sorted(p.name for p in models.iterdir() if not p.name.startswith(".mlgate.lock"))
        assert left == []  # no bundle, no staging copy
    assert registry_runs(project) == []


def test_disk_full_while_registering_is_exit_3_and_the_registry_holds_nothing(
    project: Path, env: dict[str, str], served_template: Path
) -> None:
    size = max(64, bundle_kib(served_template) // 2)
    (project / "mlruns").mkdir()
    with tmpfs(project / "mlruns" / "artifacts", size) as artifacts:
        done = mlgate("run", cwd=project, env=env)
        assert done.code == 3, done.err
        assert "No space left on device" in done.err
        assert str(artifacts) in done.err
        # The partial upload was removed again, and so were the run and the version.
        assert [p for p in artifacts.rglob("*") if p.is_file()] == []
    assert all(status != "RUNNING" for _, status in registry_runs(project))
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    assert MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions() == []
    assert (project / "models" / "model" / "gate.json").is_file()  # the gated bundle stays


def test_read_only_reports_is_exit_3_naming_the_path(project: Path, env: dict[str, str]) -> None:
    with tmpfs(project / "reports", 64, read_only=True) as reports:
        done = mlgate("validate", cwd=project, env=env)
        assert done.code == 3, done.err
        assert str(reports) in done.err
        assert "Read-only file system" in done.err
