"""With `--json`, an error is a JSON object on stdout (kind, type, message, hint, exit code) as
well as text on stderr, so a script that parses stdout learns why the command failed; a
command that already wrote its JSON document (a failed gate's result) adds no second one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.cli import main
from tests.unit.app.fakes import REACHABLE_GATE, UNREACHABLE_GATE, cheap_demo, edit

pytestmark = pytest.mark.unit


def test_an_input_error_is_json_on_stdout_and_text_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "mlgate.yaml"
    code = main(["validate", "--config", str(missing), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    error = json.loads(out)["error"]
    assert error["kind"] == "input"
    assert error["exit_code"] == 2
    assert error["type"] == "ConfigError"
    assert str(missing) in error["message"]
    assert str(missing) in err


def test_without_json_stdout_stays_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--config", str(tmp_path / "mlgate.yaml")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "error:" in err


def test_an_unreachable_registry_is_an_infrastructure_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["init", "--demo", str(tmp_path / "p"), "--no-dvc", "--rows", "300"])
    capsys.readouterr()
    # A port nothing listens on: the registry cannot be reached.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    code = main(["models", "--config", str(tmp_path / "p" / "mlgate.yaml"), "--json"])
    out, _ = capsys.readouterr()
    assert code == 3
    error = json.loads(out)["error"]
    assert (error["kind"], error["exit_code"]) == ("infrastructure", 3)
    assert error["hint"]


def test_a_failed_gate_after_its_json_result_adds_no_second_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = cheap_demo(tmp_path / "p")
    edit(project.root, REACHABLE_GATE, UNREACHABLE_GATE)
    code = main(["run", "--config", str(project.root / "mlgate.yaml"), "--no-register", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    result = json.loads(out)  # one document: the run's result, not an error object after it
    assert result["passed"] is False
    assert "gate failed" in err


def test_a_credential_a_message_quotes_is_never_shown(capsys: pytest.CaptureFixture[str]) -> None:
    from mlgate.cli import _report, _report_json

    text = "cannot reach http://ci:hunter2secret@10.0.0.5:5000/api"
    _report("error", text)
    _report_json("infrastructure", "InfraError", text, f"check {text}", 3)
    out, err = capsys.readouterr()
    assert "hunter2secret" not in out + err
    assert "ci:***@10.0.0.5:5000" in err
    assert json.loads(out)["error"]["hint"] == "check cannot reach http://ci:***@10.0.0.5:5000/api"
