"""POST /feedback: the true labels of earlier predictions, joined on the request id.

    {"request_id": "...", "labels": [y0, y1, ...]}     one label per row of that request
    {"request_id": "...", "label": y}                  a single-row request
    {"feedback": [{...}, {...}]}                       a batch of the above

answers 200 `{"accepted": n, "matched": m, "logged": bool}` (n items, m of them found among this
worker's recent predictions), or refuses the whole body:

    401  a bearer token is configured and the request does not carry it
    422  a field is malformed: a label must be one of the model's classes with the same JSON
         type (or a finite number for a regression model); at most `max_rows` labels an item
         (the rows a request may have), `MAX_LABELS` a body (feedbackbody.py)
    403  a request id this deployment did not issue, or not for that many rows: labels are
         taken only for the signed `x-request-id` of an answered prediction (wire.py)
    409  a request id that already has its labels (one label per row, once): per worker,
         for the latest `LABELLED_IDS` ids; `mlgate monitor` keeps the first in any case

Every accepted item is appended to `feedback.jsonl` in the prediction-log directory as a
`FeedbackRecord` (core/records/feedback.py: `{"format_version", "request_id", "labels", "ts",
"model", "version"}`), which `mlgate monitor` reads back into the same type and joins with the
prediction log on the request id: that join sees every prediction, whichever worker made it.
The feedback files have their own size budget (`FEEDBACK_BUDGET_BYTES` over the live file and
the rotated ones), apart from the prediction log's, so labels never crowd out predictions.
A worker also keeps its own latest predictions (bounded by rows) and counts the feedback it can
match at once, so Prometheus shows online accuracy without waiting for the monitor:
`mlgate_feedback_total{outcome="correct|incorrect|unmatched"}` (rows; a regression model counts
`matched` rows) and `mlgate_feedback_abs_error` (regression).
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import anyio
from prometheus_client import CollectorRegistry, Counter, Histogram

from mlgate.core.records.feedback import FeedbackRecord
from mlgate.core.records.predlog import unsigned_request_id
from mlgate.serve.errors import RequestError, invalid
from mlgate.serve.feedbackbody import FeedbackItem, LabelCheck, parse_feedback
from mlgate.serve.wire import shown

FEEDBACK_FILE = "feedback.jsonl"
LABELLED_IDS = 100_000
"""Request ids a worker remembers as labelled (to answer a second label 409)."""
FEEDBACK_BUDGET_BYTES = 64 * 1024 * 1024
"""The feedback files' size budget: live file and rotated ones together."""
ABS_ERROR_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 1000.0)


class RecentPredictions:
    """The latest predictions of this worker by request id, bounded by their total rows."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows
        self.rows = 0
        self._map: OrderedDict[str, list[Any]] = OrderedDict()

    def add(self, request_id: str, predictions: list[Any]) -> None:
        """Remember a request's predictions, forgetting the oldest past `max_rows`."""
        if self.max_rows <= 0:
            return
        old = self._map.pop(request_id, None)
        if old is not None:
            self.rows -= len(old)
        self._map[request_id] = predictions
        self.rows += len(predictions)
        while self.rows > self.max_rows and self._map:
            _, dropped = self._map.popitem(last=False)
            self.rows -= len(dropped)

    def get(self, request_id: str) -> list[Any] | None:
        """The predictions of `request_id`, if this worker still remembers them."""
        return self._map.get(request_id)


class FeedbackLog:
    """Appends feedback records as JSON lines; rotates past `max_bytes`, keeps `keep` files,
    and never holds more than `budget` bytes over them all (files rotate sooner to keep it).

    Several workers append to the same file (whole lines, O_APPEND); one that finds the file
    rotated or removed by another reopens it.
    """

    def __init__(
        self, directory: Path, *, max_bytes: int, keep: int, budget: int = FEEDBACK_BUDGET_BYTES
    ) -> None:
        self.directory = directory
        self.path = directory / FEEDBACK_FILE
        self.max_bytes = min(max_bytes, max(1024, budget // (keep + 1)))
        self.keep = keep
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None

    def _handle(self) -> IO[str]:
        fh = self._fh
        if fh is not None:
            try:
                if os.stat(self.path).st_ino == os.fstat(fh.fileno()).st_ino:
                    return fh
            except FileNotFoundError:
                pass
            fh.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")
        return self._fh

    def append(self, lines: list[str]) -> None:
        """Write lines (each ending in a newline) and flush; OSError propagates."""
        with self._lock:
            fh = self._handle()
            fh.write("".join(lines))
            fh.flush()
            if fh.tell() >= self.max_bytes:
                self._rotate()

    def _rotate(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self.path.replace(self.directory / f"feedback-{stamp}.jsonl")
        rotated = sorted(self.directory.glob("feedback-*.jsonl"))
        for old in rotated[: max(0, len(rotated) - self.keep)]:
            old.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


class Feedback:
    """The /feedback endpoint's state: label check, recent predictions, counters, the log."""

    def __init__(
        self,
        *,
        model: str,
        version: str,
        classes: Sequence[Any] | None,
        registry: CollectorRegistry,
        log: FeedbackLog | None,
        memory_rows: int,
    ) -> None:
        self.model = model
        self.version = version
        self.classifier = classes is not None
        self.check = LabelCheck(classes)
        self.recent = RecentPredictions(memory_rows)
        self.log = log
        self.outcomes = Counter(
            "mlgate_feedback",
            "Labelled rows received on /feedback, by outcome against this worker's prediction.",
            ["outcome"],
            registry=registry,
        )
        self.abs_error = Histogram(
            "mlgate_feedback_abs_error",
            "Absolute error of predictions that received a label (regression).",
            buckets=ABS_ERROR_BUCKETS,
            registry=registry,
        )
        for outcome in ("correct", "incorrect", "unmatched") if self.classifier else ("matched",):
            self.outcomes.labels(outcome)
        if not self.classifier:
            self.outcomes.labels("unmatched")

    def remember(self, request_id: str, predictions: list[Any]) -> None:
        """Keep a request's predictions to score its feedback (called for every prediction),
        under the id the request was given: a release's shadow logs the request under its own
        signature, and scores the label the incumbent's answer id carries."""
        self.recent.add(unsigned_request_id(request_id), predictions)

    def score(self, items: list[FeedbackItem]) -> int:
        """Count each item against the remembered prediction; returns the items matched."""
        for item in items:
            predicted = self.recent.get(unsigned_request_id(item.request_id))
            if predicted is not None and len(predicted) != len(item.labels):
                raise invalid(
                    f"request {shown(item.request_id)} had {len(predicted)} row(s); "
                    f"got {len(item.labels)} label(s)",
                    field="labels",
                )
        matched = 0
        for item in items:
            predicted = self.recent.get(unsigned_request_id(item.request_id))
            if predicted is None:
                self.outcomes.labels("unmatched").inc(len(item.labels))
                continue
            matched += 1
            if self.classifier:
                right = sum(1 for p, y in zip(predicted, item.labels, strict=True) if p == y)
                self.outcomes.labels("correct").inc(right)
                self.outcomes.labels("incorrect").inc(len(item.labels) - right)
            else:
                self.outcomes.labels("matched").inc(len(item.labels))
                for p, y in zip(predicted, item.labels, strict=True):
                    self.abs_error.observe(abs(float(p) - float(y)))
        return matched

    def lines(self, items: list[FeedbackItem]) -> list[str]:
        """The log lines of accepted items."""
        now = time.time()
        return [
            FeedbackRecord(
                request_id=item.request_id,
                labels=item.labels,
                ts=now,
                model=self.model,
                version=self.version,
            ).line()
            for item in items
        ]

    async def accept(self, items: list[FeedbackItem]) -> dict[str, Any]:
        """Count and log checked items; the answer's JSON."""
        matched = self.score(items)
        logged = False
        if self.log is not None:
            # A thread: a slow disk must not stall the event loop that answers predictions.
            await anyio.to_thread.run_sync(self.log.append, self.lines(items))
            logged = True
        return {"accepted": len(items), "matched": matched, "logged": logged}


class FeedbackGate:
    """Who may label which request, and how often, in front of `Feedback`.

    `issued(request_id, rows)` tells the ids this deployment signed (wire.RequestIds);
    `token`, when set, is the bearer token every request must carry."""

    def __init__(
        self,
        feedback: Feedback,
        issued: Callable[[str, int], bool],
        *,
        token: str | None,
        max_rows: int,
        remember: int = LABELLED_IDS,
    ) -> None:
        self.feedback = feedback
        self._issued = issued
        self._token = None if token is None else f"Bearer {token}".encode()
        self.max_rows = max_rows
        self._remember = remember
        self._labelled: OrderedDict[str, None] = OrderedDict()

    def authorize(self, header: str | None) -> None:
        """A 401 unless the request carries the configured bearer token (if one is)."""
        if self._token is None:
            return
        given = (header or "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, self._token):
            raise RequestError(
                401,
                "unauthorized",
                "POST /feedback needs the deployment's token: send Authorization: Bearer TOKEN",
                field="authorization",
                headers={"www-authenticate": "Bearer"},
            )

    def _claim(self, items: list[FeedbackItem]) -> None:
        """Refuse ids not issued here (403) or labelled already (409); then mark them."""
        seen: set[str] = set()
        for item in items:
            rid, n = item.request_id, len(item.labels)
            if not self._issued(rid, n):
                raise RequestError(
                    403,
                    "unknown_request_id",
                    f"{item.field}: request_id {shown(rid)} is not the id of a prediction this "
                    f"server answered with {n} row(s): send the X-Request-ID of its answer and "
                    "one label per row",
                    field="request_id",
                )
            if rid in self._labelled or rid in seen:
                raise RequestError(
                    409,
                    "already_labelled",
                    f"{item.field}: request {shown(rid)} has its labels already; a request is "
                    "labelled once",
                    field="request_id",
                )
            seen.add(rid)
        for rid in seen:
            self._labelled[rid] = None
        while len(self._labelled) > self._remember:
            self._labelled.popitem(last=False)

    async def accept(self, payload: Any) -> dict[str, Any]:
        """Check, count and log one /feedback body (authorized already); the answer's JSON."""
        items = parse_feedback(payload, self.feedback.check, self.max_rows)
        # Claimed before the log write awaits: a concurrent copy of this body is a 409.
        self._claim(items)
        try:
            return await self.feedback.accept(items)
        except BaseException:
            for item in items:  # not logged: the client may send it again
                self._labelled.pop(item.request_id, None)
            raise
