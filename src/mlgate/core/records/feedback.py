"""The feedback log's record: the true labels of one earlier request, one JSON line each.

    {"format_version": 1, "request_id", "labels": [one per row], "ts", "model", "version"}

The server writes one per item of POST /feedback (`feedback.jsonl`); `mlgate monitor` joins
them with the prediction log on the request id, and reads labels files of the same records.
Feedback is not on the prediction path, so the record is a pydantic `Record`.

Version 0 is a line without `format_version`: what the server wrote before the log was
versioned (the same shape), or a labels file written by hand, which may label one row
(`{"request_id", "label", "row"}`) and carry other keys, which are dropped. Any other version
is refused with a `FormatError` naming it.
"""

from __future__ import annotations

import json
from typing import ClassVar

from pydantic import Field

from mlgate.core.records.base import LEGACY, Record
from mlgate.errors import FormatError


class FeedbackRecord(Record):
    """Labels for the rows of one request, from `row` on (`labels[i]` is row `row + i`)."""

    FORMAT: ClassVar[str] = "feedback log"
    VERSION: ClassVar[int] = 1
    READS: ClassVar[frozenset[int]] = frozenset({LEGACY})

    request_id: str
    labels: list[object] = Field(min_length=1)
    row: int = Field(default=0, ge=0)
    ts: float | None = None
    model: str | None = None
    version: str | None = None

    @classmethod
    def upgrade(cls, raw: dict[str, object], version: int) -> dict[str, object]:
        """A version-0 line: `label` is `labels` of one; keys this record does not have go."""
        if "labels" not in raw and "label" in raw:
            raw["labels"] = [raw.pop("label")]
        return {key: value for key, value in raw.items() if key in cls.model_fields}

    def line(self) -> str:
        """The record as one line of the log, newline included (defaults left out)."""
        return self.model_dump_json(exclude_defaults=True) + "\n"


def decode(line: str | bytes, source: str) -> FeedbackRecord | None:
    """The record of one line; None when the line is not one (damaged, or not a record).

    A line of a format version this mlgate does not read is a `FormatError` naming it."""
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    version = raw.get("format_version", LEGACY) if isinstance(raw, dict) else LEGACY
    if type(version) is int and version not in FeedbackRecord.READS | {FeedbackRecord.VERSION}:
        return FeedbackRecord.parse(raw, source)  # raises: names the version and those read
    try:
        return FeedbackRecord.parse(raw, source)
    except FormatError:
        return None
