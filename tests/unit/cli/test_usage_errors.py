"""Usage errors never look like bugs: for every command, an unknown option, a missing argument
and a value of the wrong type exit 2 with a usage message and no traceback; an unknown command
exits 2 and names the nearest one; only a genuine internal failure exits 70 with its traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from mlgate import __version__
from mlgate.cli import app, main

pytestmark = pytest.mark.unit


def _leaves() -> list[tuple[list[str], Any]]:
    """Every runnable command: its words (`schema infer`) and its click command object."""
    found: list[tuple[list[str], Any]] = []

    def walk(words: list[str], cmd: Any) -> None:
        children = getattr(cmd, "commands", None)
        if children:
            for name, child in children.items():
                walk([*words, name], child)
        else:
            found.append((words, cmd))

    walk([], get_command(app))
    return found


LEAVES = _leaves()
IDS = [" ".join(words) for words, _ in LEAVES]


def _required_args(cmd: Any) -> list[str]:
    """Placeholder values for the required arguments, so only the error under test remains."""
    return ["x" for p in cmd.params if p.param_type_name == "argument" and p.required]


def _required_options(cmd: Any) -> list[str]:
    out: list[str] = []
    for p in cmd.params:
        if p.param_type_name == "option" and p.required:
            out += [p.opts[0], "x"]
    return out


def _assert_usage_error(code: int, err: str, words: list[str], *, usage: bool = True) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert "bug in mlgate" not in err
    assert err.count("Error:") == 1, err
    if usage:
        assert f"Usage: mlgate {' '.join(words)}" in err


def test_every_command_is_covered() -> None:
    names = set(IDS)
    assert {"init", "validate", "train", "gate", "run", "register", "promote"} <= names
    assert {"rollback", "models", "report", "serve", "build", "push", "deploy"} <= names
    assert {"schema infer", "config", "demo-data", "monitor"} <= names
    assert {"canary analyze", "canary webhook", "canary status", "canary stop"} <= names


@pytest.mark.parametrize(("words", "cmd"), LEAVES, ids=IDS)
def test_unknown_option_exits_2(
    words: list[str], cmd: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*words, *_required_args(cmd), *_required_options(cmd), "--bogus"])
    err = capsys.readouterr().err
    _assert_usage_error(code, err, words)
    assert "--bogus" in err


# The commands that have something required (the others run on their defaults).
NEEDY = [(words, cmd) for words, cmd in LEAVES if any(p.required for p in cmd.params)]


def test_the_commands_with_required_parameters() -> None:
    assert {" ".join(w) for w, _ in NEEDY} == {"demo-data", "push", "serve", "canary analyze"}


@pytest.mark.parametrize(("words", "cmd"), NEEDY, ids=[" ".join(w) for w, _ in NEEDY])
def test_missing_argument_exits_2(
    words: list[str], cmd: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    required = [p for p in cmd.params if p.required]
    # Leave the first required parameter out, give the rest.
    first = required[0]
    args = [] if first.param_type_name == "argument" else _required_args(cmd)
    code = main([*words, *args])
    err = capsys.readouterr().err
    _assert_usage_error(code, err, words)
    assert "Missing" in err


# A value of the wrong type for each command: a number where it takes one, otherwise a value
# given to a flag that takes none. A new command must add its line here.
WRONG_TYPE: dict[str, list[str]] = {
    "init": ["--rows", "abc"],
    "config": ["--schema=abc"],
    "demo-data": ["x.csv", "--rows", "abc"],
    "schema infer": ["--config", "mlgate.yaml", "--config"],
    "validate": ["--json=abc"],
    "train": ["--json=abc"],
    "gate": ["--registry=abc"],
    "run": ["--register=abc"],
    "register": ["--json=abc"],
    "promote": ["abc"],
    "rollback": ["--json=abc"],
    "models": ["--json=abc"],
    "report": ["--out"],
    "build": ["--no-smoke=abc"],
    "push": ["img", "--json=abc"],
    "deploy": ["--image", "x", "--out", "x", "--replicas", "abc"],
    "serve": ["x", "--port", "abc"],
    "canary analyze": ["--stable", "x", "--canary", "y", "--min-requests", "abc"],
    "canary webhook": ["--port", "abc"],
    "canary status": ["--json=abc"],
    "canary stop": ["--state-dir"],
    "monitor": ["--chunk-rows", "abc"],
}


def test_every_command_has_a_wrong_type_case() -> None:
    assert set(WRONG_TYPE) == set(IDS)


@pytest.mark.parametrize(("words", "cmd"), LEAVES, ids=IDS)
def test_value_of_the_wrong_type_exits_2(
    words: list[str], cmd: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    args = WRONG_TYPE[" ".join(words)]
    code = main([*words, *args])
    # Typer's parser reports a value given to a flag (or a flag missing its value) without
    # the usage line; every other usage error carries it.
    flag_misuse = args[-1].startswith("--")
    _assert_usage_error(code, capsys.readouterr().err, words, usage=not flag_misuse)


def test_unknown_command_suggests_the_nearest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rnu"]) == 2
    err = capsys.readouterr().err
    assert "No such command 'rnu'" in err
    assert "'run'" in err
    assert "Traceback" not in err


def test_unknown_subcommand_of_a_group(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "infre"]) == 2
    assert "'infer'" in capsys.readouterr().err


def test_near_miss_option_names_the_right_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--confg", "x"]) == 2
    assert "--config" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mlgate {__version__}"


def test_no_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([])
    captured = capsys.readouterr()
    assert code in (0, 2)  # click exits 2 after help when a group gets no command
    assert "Usage: mlgate" in captured.out + captured.err


def test_an_internal_failure_is_a_bug_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgate.app import pipeline

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(pipeline, "validate_file", broken)
    monkeypatch.setattr("mlgate.store.project.load_project", lambda _path: object())
    assert main(["validate"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "RuntimeError: injected failure" in err
    assert "bug in mlgate" in err


@pytest.mark.parametrize("role", ["customer_id", "customer_id=key", "=id", "y=target"])
def test_a_malformed_role_override_exits_2_naming_it(
    role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("customer_id,x,y\nc1,1,0\nc2,2,1\n")
    code = main(
        [
            "init",
            "--no-dvc",
            "--data",
            str(csv),
            "--target",
            "y",
            "--role",
            role,
            str(tmp_path / "p"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"--role {role!r}" in err
    assert "feature, id, text" in err
    assert not (tmp_path / "p" / "mlgate.yaml").exists()
