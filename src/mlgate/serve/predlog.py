"""The prediction log: JSON lines for `mlgate monitor`, written off the request path.

A request only puts a record on a bounded queue (no serialisation, no I/O). One background
thread encodes and appends records to `predictions.jsonl` in the log directory, rotating it to
`predictions-<UTC time>.jsonl` past `max_bytes` and keeping the newest `keep` rotated files. When
the queue is full the record is dropped and counted: logging never blocks or fails a prediction.

The file is the operator's too: when it is deleted or moved away (logrotate, a cleanup job, the
directory removed) the writer notices before its next write and reopens `predictions.jsonl`
(recreating the directory). A write that fails still drops and counts every record it held,
and is logged once per `failure_log_interval` seconds with the number lost since, not once
per batch.

A record is a `PredictionRecord` (core/records/predlog.py: the fields, the format version),
encoded by that module's one serialiser; `mlgate monitor` reads the lines back into the same
type.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from mlgate.core.records.predlog import PredictionRecord, encode

log = logging.getLogger(__name__)

CURRENT = "predictions.jsonl"
_STOP = object()


class PredictionLog:
    """Bounded, non-blocking JSONL writer with size-based rotation."""

    def __init__(
        self,
        directory: Path,
        *,
        features: Sequence[str],
        capacity: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        keep: int = 20,
        on_drop: Callable[[int], None] | None = None,
        failure_log_interval: float = 60.0,
    ) -> None:
        self.directory = directory
        self.features = tuple(features)
        self.max_bytes = max_bytes
        self.keep = keep
        self.dropped = 0
        self.written = 0
        self._on_drop = on_drop
        self._lock = threading.Lock()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(
            target=self._writer, name="mlgate-prediction-log", daemon=True
        )
        self._fh: IO[bytes] | None = None
        self._size = 0
        self._failure_log_interval = failure_log_interval
        self._last_failure_log: float | None = None
        self._lost_since_log = 0

    def start(self) -> None:
        """Open the log file and start the writer thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._open()
        self._thread.start()

    def submit(self, record: PredictionRecord) -> bool:
        """Queue one record without waiting; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._drop(1)
            return False
        return True

    def _drop(self, n: int) -> None:
        with self._lock:
            self.dropped += n
        if self._on_drop is not None:
            self._on_drop(n)

    def close(self, timeout: float = 30.0) -> None:
        """Write every queued record, then stop the thread and close the file."""
        if not self._thread.is_alive():
            return
        # Blocking put: the stop marker must not be dropped, and the writer is draining.
        self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)

    # -- writer thread -------------------------------------------------------------------------

    def _open(self) -> None:
        path = self.directory / CURRENT
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("ab")
        self._size = os.fstat(self._fh.fileno()).st_size

    def _still_ours(self) -> bool:
        """True when predictions.jsonl is still the file this writer has open."""
        assert self._fh is not None
        try:
            on_disk = os.stat(self.directory / CURRENT)
        except OSError:
            return False
        mine = os.fstat(self._fh.fileno())
        return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)

    def _reopen(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
        self._fh = None
        self._open()

    def _rotate(self) -> None:
        assert self._fh is not None
        self._fh.close()
        self._fh = None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        (self.directory / CURRENT).replace(self.directory / f"predictions-{stamp}.jsonl")
        rotated = sorted(self.directory.glob("predictions-*.jsonl"))
        for old in rotated[: max(0, len(rotated) - self.keep)]:
            old.unlink(missing_ok=True)
        self._open()

    def _writer(self) -> None:
        while True:
            item = self._queue.get()
            stop = item is _STOP
            lines: list[bytes] = []
            # Drain what is queued into one write: fewer syscalls when traffic is heavy.
            while True:
                if not stop and isinstance(item, PredictionRecord):
                    try:
                        lines.append(encode(item, self.features))
                    except (TypeError, ValueError):
                        log.exception("prediction log record could not be encoded; dropped")
                        self._drop(1)
                if stop:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                stop = item is _STOP
            if lines:
                self._write(lines)
            if stop:
                if self._fh is not None:
                    with contextlib.suppress(OSError):
                        self._fh.close()
                return

    def _write(self, lines: list[bytes]) -> None:
        try:
            if self._fh is None or not self._still_ours():
                self._reopen()
            assert self._fh is not None
            data = b"".join(lines)
            self._fh.write(data)
            self._fh.flush()
            self.written += len(lines)
            self._size += len(data)
            if self._size >= self.max_bytes:
                self._rotate()
        except OSError as exc:
            # A full or broken disk must not stop serving; the monitor sees the gap, and the
            # drop counter says how big it is.
            self._drop(len(lines))
            self._failed(len(lines), exc)
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    self._fh.close()
                self._fh = None

    def _failed(self, lost: int, exc: OSError) -> None:
        """Log a write failure at most once per interval, with what was lost meanwhile."""
        self._lost_since_log += lost
        now = time.monotonic()
        last = self._last_failure_log
        if last is not None and now - last < self._failure_log_interval:
            return
        log.error(
            "cannot write the prediction log in %s: %s; %d record(s) lost since the last "
            "report (counted in mlgate_prediction_log_dropped); retrying with each batch",
            self.directory,
            exc.strerror or exc,
            self._lost_since_log,
        )
        self._last_failure_log = now
        self._lost_since_log = 0
