"""`mlgate deploy --target local` and `mlgate canary status|stop` refuse bad usage with exit 2
and a message naming the flag, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.cli import main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--strategy", "rolling"], "--strategy 'rolling' on --target local"),
        (["--strategy", "ab"], "--ab-key"),
        (["--strategy", "ab", "--ab-key", "user"], "--ab-key 'user'"),
        (["--engine", "lxc"], "--engine 'lxc'"),
        (["--strategy", "direct", "--incumbent", "x"], "--strategy direct replaces it"),
        ([], "no candidate"),
        (["--candidate", "x", "--interval", "soon"], "--interval"),
        (["--candidate", "x", "--step-weight", "0"], "--step-weight"),
        (["--candidate", "not/a/bundle/or/image"], "neither a bundle"),
    ],
)
def test_bad_local_deploys_exit_2_naming_the_fix(
    args: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["deploy", "--target", "local", "--config", str(tmp_path), "--state-dir",
         str(tmp_path / "state"), "--engine", "process", *args]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err
    assert "Traceback" not in err


def test_status_and_stop_with_nothing_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["canary", "status", "--state-dir", str(tmp_path), "--config", str(tmp_path)]) == 0
    assert "no local release runs here" in capsys.readouterr().out
    assert main(["canary", "stop", "--state-dir", str(tmp_path), "--config", str(tmp_path)]) == 0
    assert "nothing runs" in capsys.readouterr().out
