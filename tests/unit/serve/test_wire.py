"""Request bodies and query flags: what is read, and the 4xx naming what is not."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mlgate.serve.errors import RequestError
from mlgate.serve.wire import Body, probabilities_flag

pytestmark = pytest.mark.unit

JSON = "application/json"


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def read(ctype: str, *parts: bytes, declared: str | None = None, limit: int = 64) -> Any:
    return asyncio.run(Body(ctype, declared, _chunks(*parts)).json(limit))


def refusal(ctype: str, *parts: bytes, declared: str | None = None) -> RequestError:
    with pytest.raises(RequestError) as caught:
        read(ctype, *parts, declared=declared)
    return caught.value


def test_a_body_in_chunks_is_one_json_value() -> None:
    assert read(JSON, b'{"features": ', b"[1, 2]}") == {"features": [1, 2]}
    assert read("application/vnd.api+json; charset=utf-8", b"[1]") == [1]


def test_nan_literals_are_read_for_validation_to_judge() -> None:
    value = read(JSON, b'{"features": [NaN]}')
    assert math.isnan(value["features"][0])


@pytest.mark.parametrize(
    ("ctype", "parts", "declared", "status", "kind", "field"),
    [
        ("text/plain", (b"{}",), None, 415, "unsupported_media_type", "content-type"),
        ("", (b"{}",), None, 415, "unsupported_media_type", "content-type"),
        (JSON, (b"{}",), "65", 413, "body_too_large", "body"),
        (JSON, (b"[" + b"1," * 20, b"1" * 40 + b"]"), None, 413, "body_too_large", "body"),
        (JSON, (b'{"features": [1',), None, 400, "invalid_json", "body"),
        (JSON, (b"",), None, 400, "invalid_json", "body"),
    ],
)
def test_a_body_that_cannot_be_read_is_refused_naming_why(
    ctype: str,
    parts: tuple[bytes, ...],
    declared: str | None,
    status: int,
    kind: str,
    field: str,
) -> None:
    error = refusal(ctype, *parts, declared=declared)
    assert (error.status, error.kind, error.field) == (status, kind, field)


def test_the_declared_length_is_judged_before_the_body_is_read() -> None:
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover - makes this an async generator

    with pytest.raises(RequestError, match="over 64 bytes"):
        asyncio.run(Body(JSON, "1000", never()).json(64))


@pytest.mark.parametrize(
    ("query", "flag"),
    [("", False), ("probabilities=true", True), ("probabilities=1", True),
     ("probabilities", True), ("probabilities=no", False),
     ("probabilities=1&probabilities=0", False)],
)  # fmt: skip
def test_the_probabilities_flag(query: str, flag: bool) -> None:
    assert probabilities_flag(query) is flag


@pytest.mark.parametrize(
    ("query", "kind", "field"),
    [("probabilities=maybe", "bad_parameter", "probabilities"),
     ("top=3", "unknown_parameter", "top")],
)  # fmt: skip
def test_another_query_is_a_400_naming_the_parameter(query: str, kind: str, field: str) -> None:
    with pytest.raises(RequestError) as caught:
        probabilities_flag(query)
    assert (caught.value.status, caught.value.kind, caught.value.field) == (400, kind, field)
