"""Messages point the right way: the hint names where the wrong value came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.cli import main

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("messages") / "p"
    assert main(["init", "--demo", str(root), "--no-dvc", "--rows", "300"]) == 0
    return root


def test_a_wrong_data_option_is_named_as_the_option(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = main(["validate", "--config", str(project), "--data", str(project / "typo.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert "typo.csv" in err
    assert "--data" in err
    assert "data.path in mlgate.yaml" not in err


def test_a_wrong_data_path_in_the_config_is_named_as_the_key(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "data" / "churn.csv").rename(project / "data" / "moved.csv")
    try:
        capsys.readouterr()
        assert main(["validate", "--config", str(project)]) == 2
        assert "check data.path in mlgate.yaml" in capsys.readouterr().err
    finally:
        (project / "data" / "moved.csv").rename(project / "data" / "churn.csv")


def test_init_demo_on_a_project_says_how_to_use_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (project / "mlgate.yaml").read_bytes()
    capsys.readouterr()
    assert main(["init", "--demo", str(project), "--no-dvc"]) == 2
    err = capsys.readouterr().err
    assert f"`cd {project}`" in err
    assert "--force" in err
    assert (project / "mlgate.yaml").read_bytes() == before
