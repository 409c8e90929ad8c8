"""YAML that expands past any memory (billion laughs, in `model.params` or at the top level) or
nests past any stack is refused with exit 2, naming the file and the line, before anything is
expanded. Each command runs as a real process under an address-space limit, so a regression
fails the test with a MemoryError instead of eating the machine's memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults

# The CLI itself, with pandas, pydantic and the rest imported, stays well under this; a
# billion-laughs document expanded needs tens of gigabytes.
ADDRESS_SPACE = 1 << 30
CLI = (
    "import resource, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE})); "
    "from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"
)
HEAD = ["name: bomb", "data: {path: data.csv, target: y}"]


def laughs(indent: str) -> list[str]:
    """Nine levels of nine aliases each: 9**10 strings once expanded."""
    lines = [f"{indent}l0: &l0 [" + ", ".join(['"lol"'] * 9) + "]"]
    lines += [f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return lines


def run_limited(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`mlgate ARGS` under ADDRESS_SPACE."""
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_refused(proc: subprocess.CompletedProcess[str], path: Path, line: int) -> None:
    assert proc.returncode == 2, proc.stderr
    assert f"{path}, line {line}: a YAML alias (*l0) is not allowed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_billion_laughs_in_model_params_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "mlgate.yaml"
    lines = [*HEAD, "model:", "  estimator: sklearn.linear_model.LogisticRegression", "  params:"]
    lines += laughs("    ")
    config.write_text("\n".join(lines) + "\n")
    # The first alias is on the line after l0's: line 7.
    assert_refused(run_limited("validate", "--config", str(config), cwd=tmp_path), config, 7)


def test_billion_laughs_at_the_top_level_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "mlgate.yaml"
    config.write_text("\n".join([*HEAD, *laughs("")]) + "\n")
    assert_refused(run_limited("config", "--config", str(config), cwd=tmp_path), config, 4)


def test_billion_laughs_in_the_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mlgate.yaml").write_text("\n".join(HEAD) + "\n")
    (tmp_path / "data.csv").write_text("x,y\n1,0\n2,1\n")
    schema = tmp_path / "schema.yaml"
    schema.write_text("\n".join(["columns: []", "extra:", *laughs("  ")]) + "\n")
    proc = run_limited("validate", "--config", str(tmp_path / "mlgate.yaml"), cwd=tmp_path)
    assert_refused(proc, schema, 4)


def test_nesting_past_the_stack_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "mlgate.yaml"
    config.write_text("\n".join(HEAD) + "\nmodel: {params: {deep: " + "[" * 100_000 + "\n")
    proc = run_limited("config", "--config", str(config), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"{config}, line 3: nested more than 64 levels deep" in proc.stderr
