"""Parquet beside the JSON lines: reading normalised columns, and the cache of rotated files.

A rotated log file never changes again, so the monitor writes its columns once to
`.mlgate-columnar/<file>.<bundle version>.parquet` beside it (keyed by the file's size and
modification time, and by the bundle, whose features are the columns) and reads that on every
later run. The live file is always parsed. See logs.py for the columns.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlgate.app.monitor.logs import (
    CACHE_DIR,
    CACHE_FORMAT,
    LIVE_FILE,
    Chunk,
    Layout,
    ReadStats,
    read_jsonl,
)
from mlgate.errors import DataError

if TYPE_CHECKING:
    import numpy as np


def _to_table(chunk: Chunk) -> Any:
    arrays = {}
    for name, values in chunk.items():
        if values.dtype == object:
            arrays[name] = pa.array(values.tolist(), type=pa.string())
        else:
            arrays[name] = pa.array(values)
    return pa.table(arrays)


def _column(col: Any) -> np.ndarray:
    """A numpy column; strings as objects built from their dictionary (few distinct values:
    one Python string per value, not per row)."""

    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        values: np.ndarray = col.to_numpy(zero_copy_only=False)
        return values
    if col.null_count == len(col):
        return np.full(len(col), None, dtype=object)
    encoded = col.dictionary_encode()
    words = np.array([*encoded.dictionary.to_pylist(), None], dtype=object)
    codes = encoded.indices.fill_null(len(words) - 1).to_numpy(zero_copy_only=False)
    out: np.ndarray = words[codes]
    return out


def read_parquet(path: Path, layout: Layout, chunk_rows: int, ids: bool = True) -> Iterator[Chunk]:
    """Chunks of a Parquet file of normalised columns (missing feature columns are missing);
    request ids only when `ids` (they are unique strings: the costliest column to read)."""

    try:
        pf = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read Parquet log {path}: {exc}") from None
    present = set(pf.schema_arrow.names)
    # Unique strings are the costliest column to decode: request ids only to join labels.
    columns = [c for c in pf.schema_arrow.names if ids or c != "request_id"]
    # One thread: the monitor is measured, and often run, on one core beside the server.
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns, use_threads=False):
        n = batch.num_rows
        chunk: Chunk = {} if ids else {"request_id": np.full(n, None, dtype=object)}
        for name in batch.schema.names:
            chunk[name] = _column(batch.column(name))
        for spec in layout.features:
            key = f"f:{spec.name}"
            if key not in present:
                empty = (
                    np.full(n, None, dtype=object)
                    if spec.kind == "categorical"
                    else np.full(n, np.nan)
                )
                chunk[key] = empty
        for name in layout.keys:
            if f"k:{name}" not in present:
                chunk[f"k:{name}"] = np.full(n, None, dtype=object)
        yield chunk


def _cache_path(path: Path, tag: str) -> Path:
    return path.parent / CACHE_DIR / f"{path.name}.{tag}.parquet"


def _identity(path: Path) -> str:
    st = path.stat()
    return f"{CACHE_FORMAT}:{st.st_size}:{st.st_mtime_ns}"


def columnar_cache(
    path: Path, layout: Layout, tag: str, chunk_rows: int, stats: ReadStats
) -> Path | None:
    """The Parquet twin of a rotated (closed) JSON-lines file: reused when it matches the file,
    written otherwise. None when the directory is not writable (the JSON lines are read)."""

    target = _cache_path(path, tag)
    ident = _identity(path)
    if target.is_file():
        try:
            meta = pq.ParquetFile(target).metadata.metadata or {}
        except (OSError, ValueError, pa.ArrowInvalid):
            meta = {}
        if meta.get(b"mlgate.source") == ident.encode():
            bad = int(meta.get(b"mlgate.bad_lines", b"0"))
            if bad:
                stats.bad_lines[str(path)] = stats.bad_lines.get(str(path), 0) + bad
            stats.cached.append(str(path))
            return target
    try:
        target.parent.mkdir(exist_ok=True)
    except OSError:
        stats.notes.append(f"{path.parent} is not writable: no columnar cache, JSON lines read")
        return None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    local = ReadStats()
    writer = None
    try:
        for chunk in read_jsonl(path, layout, chunk_rows, local):
            table = _to_table(chunk)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            else:
                table = table.cast(writer.schema)
            writer.write_table(table)
        if writer is None:
            return None
        writer.add_key_value_metadata({"mlgate.source": ident, "mlgate.bad_lines": str(local.bad)})
        writer.close()
        writer = None
        tmp.replace(target)
    except OSError as exc:
        stats.notes.append(f"columnar cache of {path} not written: {exc}")
        return None
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    stats.lines += local.lines
    if local.bad:
        stats.bad_lines[str(path)] = stats.bad_lines.get(str(path), 0) + local.bad
    return target


def read_chunks(
    files: Iterable[Path],
    layout: Layout,
    *,
    chunk_rows: int,
    stats: ReadStats,
    cache_tag: str | None,
    ids: bool = True,
) -> Iterator[Chunk]:
    """Every chunk of every file; rotated JSON lines through the columnar cache when a tag is
    given (the bundle version: the cache's columns are that bundle's features); request ids
    from Parquet only when `ids` (to join labels)."""
    for path in files:
        stats.files.append(str(path))
        if path.suffix == ".parquet":
            yield from read_parquet(path, layout, chunk_rows, ids)
            continue
        cached = None
        if cache_tag is not None and path.name != LIVE_FILE:
            cached = columnar_cache(path, layout, cache_tag, chunk_rows, stats)
        if cached is not None:
            yield from read_parquet(cached, layout, chunk_rows, ids)
        else:
            yield from read_jsonl(path, layout, chunk_rows, stats)
