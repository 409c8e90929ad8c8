"""Shared fixtures for integration tests: a demo project, initialised once per session."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.app.scaffold import init_demo

DEMO_ROWS = 3000


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo project (config, data, schema, profile) that tests copy, never modify."""
    root = tmp_path_factory.mktemp("demo-template") / "demo"
    init_demo(root, rows=DEMO_ROWS)
    return root


@pytest.fixture
def demo_project(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo project."""
    dest = tmp_path / "demo"
    shutil.copytree(demo_template, dest)
    return dest


@pytest.fixture
def edit_config() -> Callable[[Path, str, str], None]:
    """Replace one snippet of mlgate.yaml (asserting it was there)."""

    def edit(root: Path, old: str, new: str) -> None:
        path = root / "mlgate.yaml"
        text = path.read_text()
        assert old in text, f"{old!r} not in mlgate.yaml"
        path.write_text(text.replace(old, new))

    return edit
