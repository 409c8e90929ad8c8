"""Write files so that a reader sees the old content or the new, never half of either.

Every file mlgate writes goes through here: it is written beside its target under a hidden,
unique temporary name (`.NAME.XXXX.tmp`), flushed to disk, then renamed over it (a rename is
atomic on one filesystem), and the temporary file is removed if writing fails. A process killed
mid-write leaves only such a temporary file, which `leftover_temps` finds.

A full disk, a read-only filesystem or a directory without write permission is not a bug in
mlgate nor a mistake in the input: `output_errors` turns those into InfraError (exit 3) naming
the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from mlgate.errors import InfraError

TEMP_SUFFIX = ".tmp"
# "This place cannot take the output": full, read-only, not ours, over quota, too large.
OUTPUT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}
)


@contextlib.contextmanager
def output_errors(where: Path) -> Iterator[None]:
    """Turn an OSError that means "cannot write here" into InfraError naming the path."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        path = exc.filename or where
        raise InfraError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint=f"free space on, or make writable, the filesystem holding {where}; "
            "nothing partial was left there",
        ) from exc


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is synced and renamed over `path`."""
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: its 0600 would outlive the rename; os.open applies the umask as a
        # plain write would (a bundle file must stay readable by the server's user).
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        try:
            yield tmp
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; returns `path`."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def leftover_temps(directory: Path) -> list[Path]:
    """Temporary files `replacing` left in `directory` when its process was killed."""
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX) and p.is_file()
    )
