"""The README's tour, run as written: `make demo` in a clean copy of the checkout, then every
line of the tour's code block, in order, in one bash session (so `. .venv/bin/activate`, `cd`,
`&`, `kill %1` and shell variables work as they do for a reader).

A line whose comment says `exit 1` must exit 1; every other line must exit 0. The only change
to the text is the local OCI registry's address: the README names `127.0.0.1:5000`, the test
runs its registry on a free port. As the README says for machines without Docker Hub,
`MLGATE_BASE_IMAGE` names the local base image. `mlgate` is not on the PATH the session starts
with: activating `.venv` is what puts it there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mlgate.adapters.container.engine import Engine
from tests.e2e.conftest import BASE_IMAGE, Registry

# `make test` runs e2e tests in one process, after the rest: they share podman's store.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_REGISTRY = "127.0.0.1:5000"
TOUR_TIMEOUT_S = 2400
MARK = "::tour::"


def code_block(heading: str) -> list[str]:
    """The lines of the first ```bash block after `heading` in the README."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, f"no bash block after {heading!r} in README.md"
    return match.group(1).splitlines()


def commands(lines: list[str]) -> list[str]:
    """Logical command lines: continuations (`\\` at the end) joined, blank lines dropped."""
    out: list[str] = []
    pending = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            out.append(full)
    return out


def expected_exit(command: str) -> int:
    """1 where the line's comment says the command exits 1, else 0."""
    comment = command.partition("  #")[2]
    return 1 if re.search(r"\bexit 1\b", comment) else 0


def script(steps: list[str]) -> str:
    """One bash session that runs each step and prints its exit code after a marker."""
    lines = [
        "set +e",
        # Whatever the tour left running in the background is stopped with the session.
        "trap 'kill $(jobs -p) 2>/dev/null' EXIT",
    ]
    for i, step in enumerate(steps):
        lines += [f"echo '{MARK}start {i}'", step, f'echo "{MARK}exit {i} $?"']
    return "\n".join(lines) + "\n"


def clean_copy(dest: Path) -> None:
    """The checkout's files as a clone has them (tracked and not ignored), mtimes kept so that
    `make` finds the shared `.venv` up to date; `.venv` itself is linked, not copied."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (name.decode() for name in listed)):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(ROOT / ".venv")


def test_the_readme_tour_runs_as_written(
    engine: Engine, registry: Registry, tmp_path: Path
) -> None:
    make_demo = commands(code_block("## Two commands"))[0].partition("  #")[0].strip()
    assert make_demo == "make demo"
    tour = [
        c.replace(README_REGISTRY, registry.address)
        for c in commands(code_block("## A short tour"))
    ]
    assert tour[0].startswith(". .venv/bin/activate")

    clone = tmp_path / "mlgate"
    clone.mkdir()
    clean_copy(clone)
    venv_bin = str(ROOT / ".venv" / "bin")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "MLGATE_", "VIRTUAL_ENV", "PYTEST_"))
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin
    )
    env["MLGATE_BASE_IMAGE"] = BASE_IMAGE
    assert shutil.which("mlgate", path=env["PATH"]) is None, "mlgate must come from .venv"

    steps = [make_demo, *tour]
    proc = subprocess.run(
        ["bash", "-c", script(steps)],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=TOUR_TIMEOUT_S,
    )
    output = proc.stdout + proc.stderr
    codes = {
        int(m.group(1)): int(m.group(2)) for m in re.finditer(rf"{MARK}exit (\d+) (\d+)", output)
    }
    for i, step in enumerate(steps):
        start = output.find(f"{MARK}start {i}\n")
        end = output.find(f"{MARK}exit {i} ")
        shown = output[start:end][-4000:] if start >= 0 else output[-4000:]
        assert i in codes, f"the tour stopped before `{step}`:\n{shown}"
        assert codes[i] == expected_exit(step), f"`{step}` exited {codes[i]}:\n{shown}"

    demo = clone / "demo"
    answers = json.loads((demo / "answers.json").read_text())
    assert len(answers["predictions"]) == 2000
    assert sorted(p.name for p in (demo / "k8s").iterdir())
    listed = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "mlgate"), "models", "--json"],
        cwd=demo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {v["version"]: v["aliases"] for v in json.loads(listed)}
    # The canary promoted the challenger (v2) over the champion the rollback left (v1).
    assert "champion" in versions[2], versions
