"""Every file mlgate writes for a team calls only what exists: each `mlgate ...` command line in
the workflows, dvc.yaml, the image's Dockerfile and the deploy manifests names a command of
this app and only flags that command has."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.app.image.context import dockerfile_text
from mlgate.cli import main

pytestmark = pytest.mark.integration

IMAGE = "ghcr.io/acme/churn@sha256:" + "a" * 64
SHELL_BREAK = {"&&", "||", ";", "|", ">", ">>", "2>", "<", "then", "fi", "do", "done", ")"}


def _strings(node: Any) -> Iterator[str | list[str]]:
    """Every string in a YAML document, and every list of strings (container commands)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        if node and all(isinstance(x, str) for x in node):
            yield node
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)


def _from_shell(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if not re.search(r"(^|\s|/bin/)mlgate\s", line):
            continue
        tokens = shlex.split(line, comments=True, posix=True)
        for i, tok in enumerate(tokens):
            if tok == "mlgate" or tok.endswith("/bin/mlgate"):
                words: list[str] = []
                for t in tokens[i + 1 :]:
                    if t in SHELL_BREAK:
                        break
                    if t.endswith(";"):  # `mlgate run --no-register;` ends the command
                        words.append(t[:-1])
                        break
                    words.append(t)
                yield words


def command_lines(path: Path) -> list[list[str]]:
    """The arguments of every `mlgate` invocation in a file mlgate wrote."""
    text = path.read_text(encoding="utf-8")
    found: list[list[str]] = []
    if path.suffix in {".yml", ".yaml"}:
        for doc in yaml.safe_load_all(text):
            for item in _strings(doc):
                if isinstance(item, list):
                    if item[0] == "mlgate":
                        found.append(item[1:])
                else:
                    found.extend(_from_shell(item))
    else:  # Dockerfile: exec-form JSON arrays, and shell lines
        for array in re.findall(r"^(?:ENTRYPOINT|CMD|RUN)\s+(\[.*\])\s*$", text, re.M):
            argv = json.loads(array)
            if argv and argv[0] == "mlgate":
                found.append(argv[1:])
        shell = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        found.extend(cmd for cmd in _from_shell(shell) if cmd)
    return found


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """What `init --demo` writes inside a git repository (workflows, DVC), what `deploy` writes
    for each strategy it accepts (the canary for Argo Rollouts and for Flagger), and the
    image's Dockerfile."""
    repo = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert main(["init", "--demo", str(repo), "--rows", "300"]) == 0
    files = [p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts]
    out = tmp_path_factory.mktemp("k8s")
    for strategy, rollouts in (("rolling", "argo"), ("canary", "argo"), ("canary", "flagger")):
        where = out / f"{strategy}-{rollouts}"
        code = main(["deploy", "--image", IMAGE, "--out", str(where), "--strategy", strategy,
                     "--rollouts", rollouts])  # fmt: skip
        assert code == 0
        files += sorted(where.glob("*.yaml"))
    dockerfile = tmp_path_factory.mktemp("image") / "Dockerfile"
    dockerfile.write_text(dockerfile_text())
    return [*files, dockerfile]


def test_the_files_hold_mlgate_commands(written: list[Path]) -> None:
    names = {p.name for p in written}
    assert {"ci-cd.yml", "monitor.yml", "dvc.yaml", "Dockerfile", "deployment.yaml"} <= names
    lines = [cmd for p in written if p.suffix in {".yml", ".yaml", ""} for cmd in command_lines(p)]
    commands = {cmd[0] for cmd in lines}
    assert {"run", "report", "build", "push", "deploy", "validate", "train", "gate"} <= commands
    assert {"serve", "canary", "monitor"} <= commands
    canary = {cmd[1] for cmd in lines if cmd[0] == "canary"}
    assert canary == {"analyze", "webhook"}


def test_every_generated_command_and_flag_exists(
    written: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    checked = 0
    for path in written:
        if path.suffix not in {".yml", ".yaml", ""}:
            continue
        for cmd in command_lines(path):
            capsys.readouterr()
            # --help is eager: it exits 0 only after the command was found and every option
            # in the line parsed; an unknown command or flag is a usage error (exit 2).
            code = main([*cmd, "--help"])
            err = capsys.readouterr().err
            assert code == 0, f"{path.name}: `mlgate {shlex.join(cmd)}`: {err}"
            checked += 1
    assert checked >= 10


def test_the_check_catches_a_missing_command_and_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = tmp_path / "wf.yml"
    wf.write_text(
        "jobs:\n  a:\n    steps:\n"
        "      - run: mlgate watch --since 24h\n"
        "      - run: |\n          mlgate run --no-such-flag && echo done\n"
    )
    lines = command_lines(wf)
    assert lines == [["watch", "--since", "24h"], ["run", "--no-such-flag"]]
    assert all(main([*cmd, "--help"]) == 2 for cmd in lines)
