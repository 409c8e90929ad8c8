"""POST /feedback: the true labels of earlier predictions, joined on the request id.

    {"request_id": "...", "labels": [y0, y1, ...]}     one label per row of that request
    {"request_id": "...", "label": y}                  a single-row request
    {"feedback": [{...}, {...}]}                       a batch of the above

answers 200 `{"accepted": n, "matched": m, "logged": bool}` (n items, m of them found among this
worker's recent predictions) or 422 naming the field: a label must be one of the model's classes
with the same JSON type (or a finite number for a regression model).

Every accepted item is appended to `feedback.jsonl` in the prediction-log directory as a
`FeedbackRecord` (core/records/feedback.py: `{"format_version", "request_id", "labels", "ts",
"model", "version"}`), which `mlgate monitor` reads back into the same type and joins with the
prediction log on the request id: that join sees every prediction, whichever worker made it. A
worker also keeps its own latest predictions (bounded by rows) and counts the feedback it can
match at once, so Prometheus shows online accuracy without waiting for the monitor:
`mlgate_feedback_total{outcome="correct|incorrect|unmatched"}` (rows; a regression model counts
`matched` rows) and `mlgate_feedback_abs_error` (regression).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from mlgate.core.records.feedback import FeedbackRecord
from mlgate.serve.errors import invalid

FEEDBACK_FILE = "feedback.jsonl"
MAX_ITEMS = 10_000
ABS_ERROR_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 1000.0)


@dataclass(frozen=True)
class FeedbackItem:
    """Labels for the rows of one earlier request."""

    request_id: str
    labels: list[Any]


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


class LabelCheck:
    """Is a JSON value a label of this model?"""

    def __init__(self, classes: Sequence[Any] | None) -> None:
        self.classes = None if classes is None else list(classes)
        self._allowed = None if classes is None else {(type(c), c) for c in classes}

    def __call__(self, value: Any, field: str) -> Any:
        if self._allowed is None:
            if type(value) not in (int, float) or not math.isfinite(value):
                raise invalid(
                    f"{field} must be a finite number, got {_describe(value)}", field=field
                )
            return value
        if (type(value), value) not in self._allowed:
            shown = ", ".join(json.dumps(c) for c in (self.classes or [])[:20])
            raise invalid(
                f"{field} must be one of the model's classes ({shown}), "
                f"got {json.dumps(value) if _jsonable(value) else _describe(value)}",
                field=field,
            )
        return value


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _item(raw: Any, field: str, check: LabelCheck) -> FeedbackItem:
    if type(raw) is not dict:
        raise invalid(f"{field} must be an object, got {_describe(raw)}", field=field)
    unknown = raw.keys() - {"request_id", "label", "labels"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise invalid(f"unknown key {key!r}; send request_id and label or labels", field=key)
    rid = raw.get("request_id")
    if type(rid) is not str or not rid or len(rid) > 128 or not rid.isprintable():
        raise invalid(
            "request_id must be the request id of a prediction (the X-Request-ID it answered)",
            field="request_id",
        )
    if ("label" in raw) == ("labels" in raw):
        raise invalid("send exactly one of label or labels", field="labels")
    if "label" in raw:
        return FeedbackItem(rid, [check(raw["label"], "label")])
    labels = raw["labels"]
    if type(labels) is not list or not labels:
        raise invalid(f"labels must be a non-empty list, got {_describe(labels)}", field="labels")
    return FeedbackItem(rid, [check(v, f"labels[{i}]") for i, v in enumerate(labels)])


def parse_feedback(payload: Any, check: LabelCheck) -> list[FeedbackItem]:
    """The items of a /feedback body, or a 422 naming the field at fault."""
    if type(payload) is not dict:
        raise invalid(f"the body must be a JSON object, got {_describe(payload)}", field="body")
    if "feedback" not in payload:
        return [_item(payload, "body", check)]
    if len(payload) != 1:
        raise invalid('send either one item or {"feedback": [items]}', field="feedback")
    items = payload["feedback"]
    if type(items) is not list or not items:
        raise invalid("feedback must be a non-empty list of items", field="feedback")
    if len(items) > MAX_ITEMS:
        raise invalid(f"feedback has {len(items)} items; at most {MAX_ITEMS}", field="feedback")
    return [_item(raw, f"feedback[{i}]", check) for i, raw in enumerate(items)]


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
    """Appends feedback records as JSON lines; rotates past `max_bytes`, keeps `keep` files.

    Several workers append to the same file (whole lines, O_APPEND); one that finds the file
    rotated or removed by another reopens it.
    """

    def __init__(self, directory: Path, *, max_bytes: int, keep: int) -> None:
        self.directory = directory
        self.path = directory / FEEDBACK_FILE
        self.max_bytes = max_bytes
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
        """Keep a request's predictions to score its feedback (called for every prediction)."""
        self.recent.add(request_id, predictions)

    def score(self, items: list[FeedbackItem]) -> int:
        """Count each item against the remembered prediction; returns the items matched."""
        for item in items:
            predicted = self.recent.get(item.request_id)
            if predicted is not None and len(predicted) != len(item.labels):
                raise invalid(
                    f"request {item.request_id} had {len(predicted)} row(s); "
                    f"got {len(item.labels)} label(s)",
                    field="labels",
                )
        matched = 0
        for item in items:
            predicted = self.recent.get(item.request_id)
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

    async def accept(self, payload: Any) -> dict[str, Any]:
        """Check, count and log one /feedback body; the answer's JSON."""
        items = parse_feedback(payload, self.check)
        matched = self.score(items)
        logged = False
        if self.log is not None:
            import anyio

            # A thread: a slow disk must not stall the event loop that answers predictions.
            await anyio.to_thread.run_sync(self.log.append, self.lines(items))
            logged = True
        return {"accepted": len(items), "matched": matched, "logged": logged}


def feedback_openapi(classes: Sequence[Any] | None) -> dict[str, Any]:
    """`openapi_extra` for POST /feedback."""
    label: dict[str, Any] = {"type": "number"} if classes is None else {"enum": list(classes)}
    item = {
        "type": "object",
        "properties": {
            "request_id": {"type": "string", "minLength": 1, "maxLength": 128},
            "label": label,
            "labels": {"type": "array", "items": label, "minItems": 1},
        },
        "required": ["request_id"],
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            item,
                            {
                                "type": "object",
                                "properties": {
                                    "feedback": {
                                        "type": "array",
                                        "items": item,
                                        "minItems": 1,
                                        "maxItems": MAX_ITEMS,
                                    }
                                },
                                "required": ["feedback"],
                                "additionalProperties": False,
                            },
                        ]
                    }
                }
            },
        },
        "responses": {
            "200": {"description": "Accepted: {accepted, matched, logged}"},
            "400": {"description": "Malformed JSON"},
            "413": {"description": "Body too large"},
            "415": {"description": "Content-Type is not application/json"},
            "422": {"description": "Refused feedback, with the field at fault"},
        },
    }
