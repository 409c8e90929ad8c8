"""The prediction log: JSON lines for `mlgate monitor`, written off the request path.

A request only puts a record on a bounded queue (no serialisation, no I/O). One background
thread encodes and appends records to `predictions.jsonl` in the log directory, rotating it to
`predictions-<UTC time>.jsonl` past `max_bytes` and keeping the newest `keep` rotated files. When
the queue is full the record is dropped and counted: logging never blocks or fails a prediction.

A record: {"ts", "request_id", "model", "version", "runtime", "latency_ms", "instances":
[{feature: value}], "predictions": [...], "probabilities": [[...]] (when asked)}.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

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
        self._fh: IO[str] | None = None
        self._size = 0

    def start(self) -> None:
        """Open the log file and start the writer thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._open()
        self._thread.start()

    def submit(self, record: dict[str, Any]) -> bool:
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
        self._fh = path.open("a", encoding="utf-8")
        self._size = path.stat().st_size

    def _rotate(self) -> None:
        assert self._fh is not None
        self._fh.close()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        (self.directory / CURRENT).replace(self.directory / f"predictions-{stamp}.jsonl")
        rotated = sorted(self.directory.glob("predictions-*.jsonl"))
        for old in rotated[: max(0, len(rotated) - self.keep)]:
            old.unlink(missing_ok=True)
        self._open()

    def _encode(self, record: dict[str, Any]) -> str:
        rows = record.get("instances")
        if rows and isinstance(rows[0], list):
            record["instances"] = [dict(zip(self.features, r, strict=True)) for r in rows]
        return json.dumps(record, default=str, allow_nan=True) + "\n"

    def _writer(self) -> None:
        assert self._fh is not None
        while True:
            item = self._queue.get()
            stop = item is _STOP
            lines: list[str] = []
            # Drain what is queued into one write: fewer syscalls when traffic is heavy.
            while True:
                if not stop and isinstance(item, dict):
                    try:
                        lines.append(self._encode(item))
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
                self._fh.close()
                return

    def _write(self, lines: list[str]) -> None:
        assert self._fh is not None
        try:
            data = "".join(lines)
            self._fh.write(data)
            self._fh.flush()
            self.written += len(lines)
            self._size += len(data.encode("utf-8")) if not data.isascii() else len(data)
            if self._size >= self.max_bytes:
                self._rotate()
        except OSError:
            # A full or broken disk must not stop serving; the monitor sees the gap.
            log.exception("cannot write the prediction log; %d record(s) lost", len(lines))
            self._drop(len(lines))
