"""Every command answers --help: help texts are plain text, whatever brackets they contain."""

from __future__ import annotations

import pytest
from typer.main import get_command

from mlgate.cli import app, main

pytestmark = pytest.mark.unit


def _commands() -> list[list[str]]:
    root = get_command(app)
    found: list[list[str]] = []
    for name, cmd in root.commands.items():  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        if sub:
            found.extend([name, child] for child in sub)
        else:
            found.append([name])
    return found


def test_every_command_is_listed() -> None:
    names = {" ".join(c) for c in _commands()}
    expected = {"init", "validate", "train", "gate", "run", "register", "promote", "rollback"}
    assert (
        expected | {"models", "report", "serve", "build", "push", "deploy", "schema infer"} <= names
    )


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_help_exits_0(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["rnu"], ["run", "--bogus"], ["schema", "bogus"]]
)
def test_help_and_usage_errors_import_nothing_heavy(argv: list[str]) -> None:
    """Answered before any data, model or validation library loads (pydantic included: Typer
    would import it to coerce a group's own --help flag)."""
    import subprocess
    import sys

    heavy = ("pandas", "sklearn", "mlflow", "numpy", "fastapi", "pydantic")
    probe = (
        "import sys\nfrom mlgate.cli import main\ncode = main(sys.argv[1:])\n"
        f"print(code, [m for m in {heavy!r} if m in sys.modules])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True
    )
    code, loaded = proc.stdout.strip().splitlines()[-1].split(" ", 1)
    assert code == ("0" if argv[0].startswith("--") else "2"), proc.stderr
    assert loaded == "[]"
