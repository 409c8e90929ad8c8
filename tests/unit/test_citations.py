"""Docstrings and comments cite only files that exist: a path under src/, tests/, docs/,
benchmarks/ or scripts/ named in the package's source is a file of this repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r"\b(?:src|tests|docs|benchmarks|scripts)/[\w./-]+\.(?:py|md|sh|ya?ml|toml)\b")


def cited_paths(text: str) -> set[str]:
    """Every repository path `text` names."""
    return set(CITED.findall(text))


def test_every_cited_file_exists() -> None:
    missing = [
        f"{path.relative_to(ROOT)} cites {cited}"
        for path in sorted((ROOT / "src" / "mlgate").rglob("*.py"))
        for cited in sorted(cited_paths(path.read_text()))
        if not (ROOT / cited).exists()
    ]
    assert not missing, "cited files that do not exist:\n" + "\n".join(missing)


def test_a_citation_is_found_in_prose() -> None:
    text = "measured (see benchmarks/RESULTS_limits.md) and tests/unit/serve/test_app.py."
    assert cited_paths(text) == {"benchmarks/RESULTS_limits.md", "tests/unit/serve/test_app.py"}
