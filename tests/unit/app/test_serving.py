"""`mlgate serve` refusals point the right way and leave nothing on disk: a `models:/` URI with
no project (nor MLFLOW_TRACKING_URI) names the missing mlgate.yaml, a project whose embedded
registry was never written says so, and a bundle path that is not there says what to give."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlgate.cli import main

pytestmark = pytest.mark.unit

CONFIGS = Path(__file__).parents[2] / "confs" / "valid"


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*"))


def test_a_registry_uri_outside_a_project_names_the_missing_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["serve", "models:/churn@champion"]) == 2
    err = capsys.readouterr().err
    assert f"no mlgate.yaml at {tmp_path / 'mlgate.yaml'}" in err
    assert "--config" in err
    assert "bundle directory" in err
    assert "not in the registry" not in err
    assert _files(tmp_path) == []  # no ./mlruns


def test_a_project_whose_registry_was_never_written_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copy(CONFIGS / "minimal.yaml", tmp_path / "mlgate.yaml")
    before = _files(tmp_path)
    assert main(["serve", "models:/churn@champion", "--config", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not exist yet" in err
    assert "mlgate register" in err
    assert _files(tmp_path) == before


def test_a_tracking_uri_to_no_database_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}")
    assert main(["serve", "models:/churn/3"]) == 2
    assert "does not exist yet" in capsys.readouterr().err
    assert _files(tmp_path) == []


def test_a_missing_bundle_directory_says_what_to_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "churn"]) == 2
    err = capsys.readouterr().err
    assert f"model bundle not found: {tmp_path / 'churn'}" in err
    assert "models:/NAME@ALIAS" in err
    assert _files(tmp_path) == []
