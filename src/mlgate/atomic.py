"""Write files so that a reader sees the old content or the new, never half of either.

Every file mlgate writes goes through here: it is written beside its target under a hidden
temporary name, then renamed over it (a rename is atomic on one filesystem), and the temporary
file is removed if writing fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns `path`."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
