"""Load tabular data with errors that name the file, and fingerprint it for lineage."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

_CHUNK = 1 << 20


def load_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame; a missing or unreadable file is a DataError."""
    import pandas as pd

    if not path.exists():
        raise DataError(f"data file not found: {path}", hint="check data.path in mlgate.yaml")
    if not path.is_file():
        raise DataError(f"data path is not a file: {path}")
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt", ".gz"}:
        # CSV readers rename a repeated header (`a`, `a.1`) or refuse it: check the file's.
        from mlgate.core.infer import check_columns

        try:
            check_columns(csv_header(path), str(path))
        except OSError as exc:
            raise DataError(f"cannot read data file {path}: {exc}") from None
    try:
        if suffix in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
        elif suffix in {".csv", ".txt", ".gz"}:
            frame = pd.read_csv(path, engine="pyarrow")
        else:
            raise DataError(
                f"unsupported data file type {suffix!r}: {path}",
                hint="use a .csv or .parquet file",
            )
    except DataError:
        raise
    except PermissionError as exc:
        raise DataError(f"cannot read data file {path}: {exc.strerror}") from None
    except Exception as exc:  # pandas/pyarrow raise many types for malformed files
        raise DataError(
            f"cannot parse data file {path}: {type(exc).__name__}: {exc}",
            hint="the file must be a well-formed CSV with a header row, or Parquet",
        ) from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"data file {path} has no rows or no columns ({frame.shape})")
    return frame


def csv_header(path: Path) -> list[str]:
    """The names in the header row of a CSV file (gzip-compressed or not)."""
    import csv
    import gzip
    import io

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with (
        opener(path, "rb") as raw,
        io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as text,
    ):
        return next(csv.reader(text), [])


def fingerprint(path: Path) -> str:
    """Content hash of a data file: `md5:<hex>`, the same digest DVC records for the file."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"cannot read data file {path}: {exc.strerror}") from None
    return "md5:" + digest.hexdigest()
