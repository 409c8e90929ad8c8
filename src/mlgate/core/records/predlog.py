"""The prediction log's record: one JSON line of `predictions.jsonl` per request.

    answered  {"format_version": 1, "ts", "request_id", "model", "version", "runtime",
               "latency_ms", "instances": [{feature: value}], "predictions": [...],
               "probabilities": [[...]] (when computed)}
    refused   {"format_version": 1, "ts", "request_id", "model", "version", "latency_ms",
               "error": {"status", "kind", "field"}}

The server builds one record per request on its hot path, so the record is a frozen dataclass
(a pydantic model per request costs several microseconds more) with one serialiser, `encode`.
The monitor reads lines back into the same type with `decode` (a pydantic TypeAdapter).

Lines without `format_version` were written before the log was versioned, in the same shape:
they are version 0 and read as they are. A line of any other version is refused with a
`FormatError` naming it: its meaning may have changed, so no reader guesses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, cast

from pydantic import ConfigDict, TypeAdapter, ValidationError

from mlgate.core.records.base import LEGACY
from mlgate.errors import FormatError

VERSION = 1
READS = frozenset({LEGACY, VERSION})
FORMAT = "prediction log"
# An answered prediction's id is the client's id signed: `<id>.<nonce><mac>`, 32 hex digits
# after the dot (serve/wire.py `RequestIds`). Each server signs with its own nonce, so the
# variants of a release log one request under different ids and are compared on the id before.
SIGNED_TAG_CHARS = 32
_HEX = frozenset("0123456789abcdef")


def unsigned_request_id(request_id: str) -> str:
    """The id a request was given, without the server's signature (as it is when unsigned)."""
    base, dot, tag = request_id.rpartition(".")
    if dot and len(tag) == SIGNED_TAG_CHARS and set(tag) <= _HEX:
        return base
    return request_id


def _stdlib(data: dict[str, object]) -> bytes:
    return json.dumps(data, default=str).encode()


try:  # orjson encodes several times faster; the stdlib is the fallback
    import orjson

    def _dumps(data: dict[str, object]) -> bytes:
        try:
            return orjson.dumps(data)
        except TypeError:  # past orjson's range (an integer over 64 bits, say)
            return _stdlib(data)

except ImportError:  # pragma: no cover - depends on the install

    def _dumps(data: dict[str, object]) -> bytes:
        return _stdlib(data)


# Lines come from mlgate's own writer: strict types (no "1.5" read as a number), unknown keys
# ignored so a reader never trips on what it does not use.
_CONFIG = ConfigDict(strict=True, extra="ignore")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request was refused: its HTTP status, the error kind, the field at fault."""

    __pydantic_config__: ClassVar[ConfigDict] = _CONFIG

    status: int
    kind: str
    field: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PredictionRecord:
    """One request: its rows and predictions when answered, its refusal otherwise.

    `instances` holds the rows as the server received them (lists in feature order, or
    objects); `encode` writes every row as an object keyed by feature.
    """

    __pydantic_config__: ClassVar[ConfigDict] = _CONFIG

    ts: float
    request_id: str
    model: str | None = None
    version: str | None = None
    runtime: str | None = None
    latency_ms: float | None = None
    instances: Sequence[object] | None = None
    predictions: Sequence[object] | None = None
    probabilities: Sequence[Sequence[float | None]] | None = None
    error: Refusal | None = None
    format_version: int = VERSION

    def __post_init__(self) -> None:
        if self.error is not None:
            return
        if self.instances is None or self.predictions is None:
            raise ValueError("a record has instances and predictions, or an error")
        if not self.instances or len(self.instances) != len(self.predictions):
            raise ValueError("a record has one prediction per row, and at least one row")


_ADAPTER: TypeAdapter[PredictionRecord] = TypeAdapter(PredictionRecord)


def _mapping(record: PredictionRecord, features: Sequence[str]) -> dict[str, object]:
    data: dict[str, object] = {
        "format_version": record.format_version,
        "ts": record.ts,
        "request_id": record.request_id,
        "model": record.model,
        "version": record.version,
    }
    if record.runtime is not None:
        data["runtime"] = record.runtime
    data["latency_ms"] = record.latency_ms
    if record.error is not None:
        error = record.error
        data["error"] = {"status": error.status, "kind": error.kind, "field": error.field}
        return data
    rows = record.instances or ()
    if rows and type(rows[0]) is list:
        # The server parses a request's rows into one shape: all lists, or all objects.
        lists = cast("Sequence[Sequence[object]]", rows)
        rows = [dict(zip(features, r, strict=True)) for r in lists]
    data["instances"] = rows
    data["predictions"] = record.predictions
    if record.probabilities is not None:
        data["probabilities"] = record.probabilities
    return data


def encode(record: PredictionRecord, features: Sequence[str]) -> bytes:
    """The record's line (newline included); rows given as lists are keyed by `features`.

    orjson writes a non-finite number as null, the stdlib as NaN: the reader takes either
    as a missing value."""
    return _dumps(_mapping(record, features)) + b"\n"


def decode(line: bytes, source: str) -> PredictionRecord | None:
    """The record of one line; None when the line is not one (truncated, a partial write).

    A line of a format version this mlgate does not read is a `FormatError` naming it."""
    try:
        record = _ADAPTER.validate_json(line)
    except ValidationError:
        _refuse_other_version(line, source)
        return None
    if record.format_version not in READS:
        _refuse(record.format_version, source)
    return record


def _refuse_other_version(line: bytes, source: str) -> None:
    """A line that does not validate may be of a newer shape: say so rather than skip it."""
    try:
        raw = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return
    if not isinstance(raw, dict):
        return
    version = raw.get("format_version", LEGACY)
    if type(version) is int and version not in READS:
        _refuse(version, source)


def _refuse(version: int, source: str) -> None:
    readable = ", ".join(str(v) for v in sorted(READS))
    raise FormatError(
        f"{source}: {FORMAT} format version {version} is not one this mlgate reads "
        f"(it reads {readable})",
        hint="monitor it with the mlgate that served it, or a newer one",
    )
