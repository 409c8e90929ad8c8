"""Atomic writes: the target holds the old content or the new, and no temporary file lingers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.store import atomic

pytestmark = pytest.mark.unit


def test_write_text_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.txt"
    atomic.write_text(target, "one")
    atomic.write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["b.txt"]


def test_failed_write_keeps_the_old_content_and_no_debris(tmp_path: Path) -> None:
    target = tmp_path / "data.csv"
    target.write_text("old")

    def fail_midway() -> None:
        with atomic.replacing(target) as tmp:
            tmp.write_text("half of the new")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        fail_midway()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]
