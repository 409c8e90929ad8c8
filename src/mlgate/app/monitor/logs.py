"""Read the prediction log in bounded chunks of normalised columns.

Sources: the server's JSON lines (`predictions.jsonl` and its rotated `predictions-*.jsonl`,
one `PredictionRecord` of core/records/predlog.py a line, read back through that type) and
Parquet files of the same normalised columns. JSON lines are slow to
parse whatever the engine (measured on 1,000,000 one-row records x 20 features, one core: about
7 s with DuckDB, 9 s with orjson, 13-17 s with Arrow's JSON reader, 100 s with polars; see
benchmarks/RESULTS_monitor.md), so the server keeps writing them (append-only, crash-safe, no
Arrow in the serving image) and the monitor turns each rotated file, which no longer changes,
into Parquet once (`columnar_cache`): later runs read the Parquet, about ten times faster.

A chunk is a dict of equal-length numpy columns:

    version, request_id, error          object (error: None, or the kind of a refused request)
    ts, latency_ms                      float64 (latency on the first row of a request only)
    row                                 int64, the row within its request (-1: refused request)
    prediction                          float64: the class index for a classifier, else the value
    p:<j>                               float64, probability of class j (NaN when not logged)
    f:<feature>                         float64 for numeric, boolean and integer features, and
                                        dates as seconds since 1970 (NaN = missing, or a date
                                        that does not parse); object (None = missing) for
                                        categories
    k:<key>                             object: an entity key (Layout.keys) as text, None when
                                        the row has none (for the skew join with a feature
                                        store's offline values)

Lines that are not records (a truncated last line, a partial write) are counted per file and
skipped; a line of a log format version this mlgate does not read stops the read with a
`FormatError` naming the file, the line and the version (lines without one are version 0, the
same records). Records of any model version are read, and kept apart by the `version` column.
Parquet and the columnar cache: columnar.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlgate.core.profile import datetime_seconds
from mlgate.core.records.predlog import PredictionRecord, decode
from mlgate.core.schema import ColumnSpec
from mlgate.errors import DataError

if TYPE_CHECKING:
    import numpy as np

Chunk = dict[str, "np.ndarray"]

LOG_GLOB = "predictions*.jsonl"
FEEDBACK_GLOB = "feedback*.jsonl"
LIVE_FILE = "predictions.jsonl"
CACHE_DIR = ".mlgate-columnar"
# Bumped when a chunk's columns change meaning (2: dates as seconds, not NaN; 3: lines read as
# typed records, so a value logged as NaN is read, not the line skipped), so older caches are
# rebuilt rather than read.
CACHE_FORMAT = "3"


@dataclass
class ReadStats:
    """What reading found besides the rows: files, bad lines, records outside the window."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    bad_lines: dict[str, int] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def bad(self) -> int:
        """Lines skipped as unreadable, over every file."""
        return sum(self.bad_lines.values())


@dataclass(frozen=True)
class Layout:
    """Which columns a chunk has: the bundle's features, its classes (None: regression) and
    the entity keys read beside them (none unless a skew join asks)."""

    features: tuple[ColumnSpec, ...]
    classes: tuple[Any, ...] | None
    keys: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def class_index(self) -> dict[Any, int]:
        index: dict[Any, int] = {}
        for i, c in enumerate(self.classes or ()):
            index[c] = i
            index.setdefault(str(c), i)
        return index


def discover(paths: Sequence[Path], since: float | None) -> list[Path]:
    """The log files under `paths` (files or directories), oldest first; files last written
    before `since` are left out (a rotated file is never written again)."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(p.glob(LOG_GLOB)))
            found.extend(sorted(p.glob("*.parquet")))
        elif p.is_file():
            found.append(p)
        else:
            raise DataError(f"prediction log not found: {p}", hint="pass a log file or directory")
    if since is not None:
        found = [f for f in found if f.stat().st_mtime >= since]

    def order(f: Path) -> tuple[int, str]:
        # Rotated files carry their UTC time in the name; the live file is the newest.
        return (1 if f.name == LIVE_FILE else 0, f.name)

    return sorted(dict.fromkeys(found), key=order)


# --- JSON lines -------------------------------------------------------------------------------


class _Buffer:
    """Rows of one version waiting to become a chunk."""

    def __init__(self) -> None:
        self.ts: list[float] = []
        self.rid: list[str] = []
        self.row: list[int] = []
        self.latency: list[float] = []
        self.error: list[str | None] = []
        self.instances: list[Any] = []
        self.prediction: list[Any] = []
        self.proba: list[Any] = []

    def __len__(self) -> int:
        return len(self.ts)


def _numeric(values: Sequence[Any]) -> np.ndarray:

    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            if isinstance(v, bool | int | float):
                out[i] = float(v)
        return out


def _dates(values: Sequence[Any], fmt: str | None) -> np.ndarray:
    """Date strings as seconds since 1970, parsed as the reference profile parsed them."""

    return datetime_seconds(pd.Series(values, dtype=object), fmt).to_numpy(dtype=np.float64)


def _category(values: Sequence[Any]) -> np.ndarray:

    if all(type(v) is str or v is None for v in values):
        return np.array(values, dtype=object)
    fixed: list[Any] = []
    for v in values:
        if v is None or type(v) is str:
            fixed.append(v)
        elif isinstance(v, float) and math.isnan(v):
            fixed.append(None)
        elif isinstance(v, float) and v.is_integer():
            fixed.append(str(int(v)))
        else:
            fixed.append(str(v))
    return np.array(fixed, dtype=object)


def feature_column(spec: ColumnSpec, values: Sequence[Any]) -> np.ndarray:
    """One feature's values (as JSON gave them) as a chunk's `f:` column holds them."""
    if spec.kind == "categorical":
        return _category(values)
    if spec.kind == "datetime":
        return _dates(values, spec.format)
    return _numeric(values)


def key_column(values: Sequence[Any]) -> np.ndarray:
    """An entity key's values as a chunk's `k:` column holds them: text (7, 7.0 and "7"
    alike), None when missing."""
    out = np.full(len(values), None, dtype=object)
    for i, v in enumerate(values):
        if isinstance(v, float) and v.is_integer():
            out[i] = str(int(v))
        elif v is not None:
            out[i] = str(v)
    return out


def _rows_as_tuples(instances: list[Any], names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    getter = itemgetter(*names)
    try:
        got = [getter(d) for d in instances]
    except (KeyError, TypeError, IndexError):
        # Some row lacks a name (or is not an object): each row on its own, already tuples.
        slow: list[tuple[Any, ...]] = []
        for d in instances:
            if isinstance(d, dict):
                slow.append(tuple(d.get(n) for n in names))
            elif isinstance(d, list) and len(d) == len(names):
                slow.append(tuple(d))
            else:
                slow.append((None,) * len(names))
        return slow
    if len(names) == 1:
        return [(g,) for g in got]
    return got


def _flush(version: str, buf: _Buffer, layout: Layout) -> Chunk:
    n = len(buf)
    chunk: Chunk = {
        "version": np.array([version] * n, dtype=object),
        "ts": np.array(buf.ts, dtype=np.float64),
        "request_id": np.array(buf.rid, dtype=object),
        "row": np.array(buf.row, dtype=np.int64),
        "latency_ms": np.array(buf.latency, dtype=np.float64),
        "error": np.array(buf.error, dtype=object),
    }
    names = layout.names
    tuples = _rows_as_tuples(buf.instances, names)
    columns = list(zip(*tuples, strict=True)) if tuples else [()] * len(names)
    for spec, col in zip(layout.features, columns, strict=True):
        chunk[f"f:{spec.name}"] = feature_column(spec, col)
    if layout.keys:
        keys = _rows_as_tuples(buf.instances, layout.keys)
        key_columns = list(zip(*keys, strict=True)) if keys else [()] * len(layout.keys)
        for key, col in zip(layout.keys, key_columns, strict=True):
            chunk[f"k:{key}"] = key_column(col)
    if layout.classes is None:
        chunk["prediction"] = _numeric(buf.prediction)
    else:
        index = layout.class_index()
        chunk["prediction"] = np.array(
            [index.get(p, -1) if p is not None else np.nan for p in buf.prediction],
            dtype=np.float64,
        )
        k = len(layout.classes)
        proba = np.full((n, k), np.nan)
        for i, p in enumerate(buf.proba):
            if p is not None and len(p) == k:
                proba[i] = p  # a null (a non-finite probability) becomes NaN
        for j in range(k):
            chunk[f"p:{j}"] = proba[:, j]
    return chunk


def read_jsonl(
    path: Path,
    layout: Layout,
    chunk_rows: int,
    stats: ReadStats,
) -> Iterator[Chunk]:
    """Chunks of one JSON-lines prediction log, every record kept (no time filter)."""
    buffers: dict[str, _Buffer] = {}
    bad = 0
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot read prediction log {path}: {exc.strerror}") from None
    with fh:
        for number, line in enumerate(fh, start=1):
            stats.lines += 1
            if not line.strip():
                continue
            rec = decode(line, f"{path}, line {number}")
            if rec is None:
                bad += 1
                continue
            version = _accept(rec, buffers)
            buf = buffers[version]
            if len(buf) >= chunk_rows:
                yield _flush(version, buf, layout)
                buffers[version] = _Buffer()
    for version, buf in buffers.items():
        if len(buf):
            yield _flush(version, buf, layout)
    if bad:
        stats.bad_lines[str(path)] = stats.bad_lines.get(str(path), 0) + bad


def _accept(rec: PredictionRecord, buffers: dict[str, _Buffer]) -> str:
    """Append one record's rows to its model version's buffer; returns that version."""
    version = str(rec.version)
    buf = buffers.setdefault(version, _Buffer())
    latency = math.nan if rec.latency_ms is None else rec.latency_ms
    if rec.error is not None:
        buf.ts.append(rec.ts)
        buf.rid.append(rec.request_id)
        buf.row.append(-1)
        buf.latency.append(latency)
        buf.error.append(rec.error.kind or "error")
        buf.instances.append({})
        buf.prediction.append(None)
        buf.proba.append(None)
        return version
    # A record's type holds its shape: rows and predictions, one each, at least one.
    instances = rec.instances or ()
    preds = rec.predictions or ()
    n = len(preds)
    proba = rec.probabilities
    buf.ts.extend([rec.ts] * n)
    buf.rid.extend([rec.request_id] * n)
    buf.row.extend(range(n))
    buf.latency.append(latency)
    buf.latency.extend([math.nan] * (n - 1))
    buf.error.extend([None] * n)
    buf.instances.extend(instances)
    buf.prediction.extend(preds)
    buf.proba.extend(proba if proba is not None and len(proba) == n else [None] * n)
    return version
