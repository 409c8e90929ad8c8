"""Data versioning with a real git repo, real DVC and a local-directory remote: `dvc repro`
runs the mlgate stages, reruns only what changed, and push/pull restore the exact data."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlgate.adapters.dvc import init_dvc, is_dvc_tracked
from mlgate.app.scaffold import init_demo
from mlgate.store.bundle import load_bundle

pytestmark = pytest.mark.integration

STAGES = ("validate", "train", "gate")


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Git identity and a PATH on which `mlgate` (this venv's) is found by DVC stages."""
    values = {
        "GIT_AUTHOR_NAME": "mlgate-test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "mlgate-test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return dict(os.environ)


def _sh(cwd: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _dvc(cwd: Path, *args: str) -> str:
    return _sh(cwd, sys.executable, "-m", "dvc", *args)


def _dvc_md5(data: Path) -> str:
    """The hash DVC recorded for `data` in its .dvc file, in lineage's `md5:` form."""
    record = data.with_name(data.name + ".dvc").read_text()
    return "md5:" + record.split("md5: ")[1].split()[0]


def _ran(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}


def _change_one_row(path: Path) -> None:
    """Swap the tenure of the first row for the second row's: one row differs, no drift."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    header = rows[0]
    col = next(
        i
        for i, name in enumerate(header)
        if name not in {"customer_id", "churned"}
        and rows[1][i] != rows[2][i]
        and rows[1][i].replace(".", "", 1).isdigit()
    )
    rows[1][col] = rows[2][col]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue())


def test_dvc_pipeline_reruns_only_what_changed_and_round_trips_data(
    git_env: dict[str, str], tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    remote = tmp_path / "remote"
    repo.mkdir()
    _sh(repo, "git", "init", "-q")
    scaffolded = init_demo(repo, rows=2000)
    result = init_dvc(repo, str(remote), extra=scaffolded.files)
    sys.stderr.write(f"init_dvc took {result.seconds:.2f}s\n")
    assert result.committed
    assert result.remote == str(remote.resolve())
    data = repo / "data" / "churn.csv"
    assert is_dvc_tracked(data)
    tracked = _sh(repo, "git", "ls-files").split()
    assert "data/churn.csv.dvc" in tracked
    assert "dvc.yaml" in tracked
    assert "data/churn.csv" not in tracked
    assert _sh(repo, "git", "status", "--porcelain").strip() == ""
    # Idempotent: a second init changes nothing.
    assert not init_dvc(repo, str(remote)).committed

    # First repro runs every stage; the lineage fingerprint is DVC's md5.
    assert _ran(_dvc(repo, "repro")) == set(STAGES)
    bundle = load_bundle(repo / "models" / "model")
    assert bundle.meta.data.fingerprint == _dvc_md5(data)
    assert (repo / "reports" / "gate.json").is_file()
    assert (repo / "metrics.json").is_file()

    # Unchanged: nothing reruns (the gate re-sealing the bundle does not count as a change).
    out = _dvc(repo, "repro")
    assert _ran(out) == set()
    assert "Data and pipelines are up to date" in out

    # One row changed: validate, train and gate rerun, and DVC re-records the data.
    _change_one_row(data)
    assert not is_dvc_tracked(data)
    assert _ran(_dvc(repo, "repro")) == set(STAGES)
    assert is_dvc_tracked(data)
    assert load_bundle(repo / "models" / "model").meta.data.fingerprint == _dvc_md5(data)
    assert _ran(_dvc(repo, "repro")) == set()

    # Push, then a clean clone pulls byte-identical data.
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-q", "-m", "data change")
    _dvc(repo, "push")
    clone = tmp_path / "clone"
    _sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    assert not (clone / "data" / "churn.csv").exists()
    _dvc(clone, "pull")
    assert (clone / "data" / "churn.csv").read_bytes() == data.read_bytes()


def test_cli_init_in_a_git_repo_tracks_the_data_with_dvc(
    git_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgate.cli import main

    repo = tmp_path / "repo"
    repo.mkdir()
    _sh(repo, "git", "init", "-q")
    remote = tmp_path / "remote"
    assert main(["init", "--demo", str(repo), "--rows", "500", "--remote", str(remote)]) == 0
    out = capsys.readouterr().out
    # Where the data goes, that CI cannot reach a local directory, and how to push.
    assert f"data remote: {remote}" in out
    assert "CI cannot pull from it" in out
    assert "dvc remote add -d -f mlgate s3://" in out
    assert "dvc push" in out
    assert (repo / "data" / "churn.csv.dvc").is_file()
    assert (repo / "dvc.yaml").is_file()
    assert is_dvc_tracked(repo / "data" / "churn.csv")
    # init leaves committing to the user: nothing was committed.
    log = subprocess.run(["git", "log"], cwd=repo, capture_output=True, text=True, check=False)
    assert log.returncode != 0


def test_cli_init_outside_git_skips_dvc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlgate.cli import main

    assert main(["init", "--demo", str(tmp_path / "p"), "--rows", "500"]) == 0
    assert not (tmp_path / "p" / "dvc.yaml").exists()
    assert "DVC" not in capsys.readouterr().out
