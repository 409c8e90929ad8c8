"""Load tabular data with errors that name the file, and fingerprint it for lineage.

A table is read whole into memory, and a compact file can stand for a much larger frame (a
CSV of empty fields is one byte a cell on disk and eight or more in memory; a gzip or Parquet
file more still). So before anything is parsed the file is measured in bounded memory,
against two limits: its bytes (on disk, and decompressed) and its cells (rows times columns).
`TableLimits` holds them; the environment raises them for data that needs more.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mlgate.errors import DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

_CHUNK = 1 << 20
CSV_SUFFIXES = frozenset({".csv", ".txt", ".gz"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})

# 1 GiB of file, on disk or decompressed.
MAX_TABLE_BYTES = 1 << 30
# About 1.6 GB as 8-byte values; reading a CSV peaks near twice the frame.
MAX_TABLE_CELLS = 200_000_000
BYTES_ENV = "MLGATE_MAX_TABLE_BYTES"
CELLS_ENV = "MLGATE_MAX_TABLE_CELLS"
# A header row is a list of names: past this it is not one.
MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class TableLimits:
    """The largest data file mlgate reads: `max_bytes` of file (on disk and decompressed) and
    `max_cells` rows times columns."""

    max_bytes: int = MAX_TABLE_BYTES
    max_cells: int = MAX_TABLE_CELLS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TableLimits:
        """The defaults, raised or lowered by MLGATE_MAX_TABLE_BYTES / MLGATE_MAX_TABLE_CELLS."""
        env = os.environ if environ is None else environ
        return cls(
            max_bytes=_env_int(env, BYTES_ENV, MAX_TABLE_BYTES),
            max_cells=_env_int(env, CELLS_ENV, MAX_TABLE_CELLS),
        )


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip().replace("_", "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise UsageError(
            f"{name}={env[name]!r}: expected a positive whole number",
            hint=f"unset it for the default, {default:,}",
        )
    return int(raw)


def _too_large(path: Path, what: str, limit: str, env: str) -> DataError:
    return DataError(
        f"data file {path} is too large: {what}, past the limit of {limit}",
        hint=f"sample or split the data, or raise the limit with {env}=N",
    )


def _count_csv(fh: BinaryIO | gzip.GzipFile, path: Path, columns: int, limits: TableLimits) -> None:
    """Stream the (decompressed) bytes: refuse past the byte or the cell limit."""
    total = lines = 0
    while chunk := fh.read(_CHUNK):
        total += len(chunk)
        lines += chunk.count(b"\n")
        if total > limits.max_bytes:
            size = f"more than {limits.max_bytes:,} bytes decompressed"
            raise _too_large(path, size, f"{limits.max_bytes:,} bytes", BYTES_ENV)
        # The header is a line too; a quoted newline counts as one more row: both err safe.
        if (lines - 1) * columns > limits.max_cells:
            what = f"more than {limits.max_cells:,} cells ({lines - 1:,}+ rows x {columns} columns)"
            raise _too_large(path, what, f"{limits.max_cells:,} cells", CELLS_ENV)


def check_size(path: Path, limits: TableLimits, columns: int | None = None) -> None:
    """Refuse a data file past `limits` without parsing it, in bounded memory. A CSV's
    `columns` are its header's (counted here when not given)."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _too_large(path, f"{size:,} bytes", f"{limits.max_bytes:,} bytes", BYTES_ENV)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        _check_parquet(path, limits)
        return
    ncols = len(csv_header(path)) if columns is None else columns
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as fh:
        _count_csv(fh, path, max(ncols, 1), limits)


def _check_parquet(path: Path, limits: TableLimits) -> None:
    """Parquet's footer says its rows, columns and uncompressed bytes: check them unread."""
    import pyarrow.parquet as pq  # heavy: loaded only when a Parquet file is read

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise DataError(
            f"cannot parse data file {path}: {type(exc).__name__}: {exc}",
            hint="the file must be a well-formed CSV with a header row, or Parquet",
        ) from None
    cells = meta.num_rows * meta.num_columns
    if cells > limits.max_cells:
        what = f"{cells:,} cells ({meta.num_rows:,} rows x {meta.num_columns} columns)"
        raise _too_large(path, what, f"{limits.max_cells:,} cells", CELLS_ENV)
    raw = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if raw > limits.max_bytes:
        what = f"{raw:,} bytes uncompressed"
        raise _too_large(path, what, f"{limits.max_bytes:,} bytes", BYTES_ENV)


def load_table(
    path: Path, limits: TableLimits | None = None, *, named_by: str = "data.path in mlgate.yaml"
) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame; a missing, unreadable or too large file
    (past `limits`, by default `TableLimits.from_env()`) is a DataError naming it, and a missing
    one says where its path came from (`named_by`)."""
    import pandas as pd  # heavy: loaded only when a table is read (`mlgate --help` stays fast)

    if not path.exists():
        raise DataError(f"data file not found: {path}", hint=f"check {named_by}")
    if not path.is_file():
        raise DataError(f"data path is not a file: {path}")
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES:
        raise DataError(
            f"unsupported data file type {suffix!r}: {path}", hint="use a .csv or .parquet file"
        )
    try:
        header = None
        if suffix in CSV_SUFFIXES:
            # CSV readers rename a repeated header (`a`, `a.1`) or refuse it: check the file's.
            from mlgate.core.infer import check_columns

            header = csv_header(path)
            check_columns(header, str(path))
        check_size(path, limits or TableLimits.from_env(), None if header is None else len(header))
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read data file {path}: {exc}") from None
    try:
        if suffix in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, engine="pyarrow")
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
    """The names in the header row of a CSV file (gzip-compressed or not), read from its first
    MAX_HEADER_BYTES: a longer header is a DataError."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as raw:
        head = raw.read(MAX_HEADER_BYTES + 1)
    end = head.find(b"\n")
    if end < 0 and len(head) > MAX_HEADER_BYTES:
        raise DataError(
            f"data file {path}: the header row is longer than {MAX_HEADER_BYTES:,} bytes",
            hint="the first line must name the columns",
        )
    # The whole head, not only its first line: a quoted name may hold a newline.
    text = head.decode("utf-8", errors="replace")
    try:
        return next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise DataError(f"data file {path}: cannot read the header row: {exc}") from None


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
