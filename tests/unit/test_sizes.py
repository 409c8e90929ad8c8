"""Modules a reader can hold in their head: no module over 400 lines, no function body over 60.

A function's body is counted from its first statement after the docstring to its last line, so
long signatures (Typer commands) do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "mlgate"
MAX_MODULE_LINES = 400
MAX_BODY_LINES = 60

pytestmark = pytest.mark.unit


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = node.body
    first = body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    if docstring and len(body) > 1:
        first = body[1]
    end = node.end_lineno or node.lineno
    return end - first.lineno + 1


def test_no_module_is_over_the_limit() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules (lines): {long}"


def test_no_function_body_is_over_the_limit() -> None:
    long: dict[str, int] = {}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        for node in functions:
            if (n := body_lines(node)) > MAX_BODY_LINES:
                long[f"{path.relative_to(SRC)}:{node.lineno} {node.name}"] = n
    assert long == {}, f"split these functions (body lines): {long}"


def test_the_body_count_skips_the_docstring_and_the_signature() -> None:
    source = (
        'def f(\n    a: int,\n    b: int,\n) -> int:\n    """Doc."""\n    x = a\n    return x\n'
    )
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    assert body_lines(node) == 2
