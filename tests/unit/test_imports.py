"""Imports at module top, unless a comment says why; and the processes that must stay light
import only what they need.

An import inside a function hides the module graph from the reader and from the import
contracts, so it needs a reason, written where it is: a comment on the import's line or just
above its block, or, for a module that defers several for one reason, a top-level comment
starting `# Deferred imports:` that gives it. The reasons are checked below where they can be:
the CLI's start-up, the release controller's and the model server's footprints.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "mlgate"
MARKER = "# Deferred imports:"


def _commented(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or above the run of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    k = lineno - 2
    while k >= 0:
        text = lines[k].strip()
        if text.startswith("#"):
            return True
        if text.startswith(("from ", "import ")) or text.endswith((",", "(")) or text == ")":
            k -= 1
            continue
        return False
    return False


def _unexplained(path: Path, root: Path = SRC.parent) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    if any(line.startswith(MARKER) for line in lines):
        return []
    out = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import | ast.ImportFrom) and not _commented(lines, node.lineno):
                out.append(f"{path.relative_to(root)}:{node.lineno}: {lines[node.lineno - 1]}")
    return out


def test_every_import_inside_a_function_says_why() -> None:
    unexplained = [line for path in sorted(SRC.rglob("*.py")) for line in _unexplained(path)]
    assert not unexplained, (
        "imports inside functions without a comment saying why (move them to the top, or "
        f"say why with a comment or a top-level '{MARKER} ...'):\n" + "\n".join(unexplained)
    )


def test_the_checker_sees_an_unexplained_import(tmp_path: Path) -> None:
    bare = tmp_path / "bare.py"
    bare.write_text("def f():\n    import json\n    return json\n")
    explained = tmp_path / "explained.py"
    explained.write_text("def f():\n    # cold path\n    import json\n    return json\n")
    marked = tmp_path / "marked.py"
    marked.write_text(f"{MARKER} every call is cold.\ndef f():\n    import json\n")
    assert len(_unexplained(bare, tmp_path)) == 1
    assert _unexplained(explained, tmp_path) == []
    assert _unexplained(marked, tmp_path) == []


HEAVY = ("numpy", "pandas", "scipy", "sklearn", "pyarrow", "mlflow", "skops", "onnxruntime")


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        # Long-lived, small processes of a release: decisions over numbers and HTTP.
        ("mlgate.app.rollout.controller", ()),
        ("mlgate.app.rollout.guard", ()),
        ("mlgate.app.rollout.exporter", ()),
        # The model server loads its runtime with the bundle, and never pandas or scipy (the
        # train extra, which the serving image does not install).
        ("mlgate.serve.app", ()),
        ("mlgate.serve.server", ()),
    ],
)
def test_light_processes_import_nothing_heavy(module: str, allowed: tuple[str, ...]) -> None:
    probe = f"import sys, {module}; print([m for m in {HEAVY!r} if m in sys.modules])"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = [m for m in ast.literal_eval(proc.stdout.strip()) if m not in allowed]
    assert loaded == [], f"importing {module} loads {loaded}"
