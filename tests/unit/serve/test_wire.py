"""Request bodies and query flags: what is read, and the 4xx naming what is not."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mlgate.core.records.predlog import unsigned_request_id
from mlgate.serve.errors import RequestError
from mlgate.serve.wire import (
    FIELD_CHARS,
    MAX_ID,
    SHOWN_CHARS,
    TAG_CHARS,
    Body,
    RequestIds,
    error_response,
    parse_json,
    probabilities_flag,
    shown,
)

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
    [("", None), ("probabilities=true", True), ("probabilities=1", True),
     ("probabilities", True), ("probabilities=no", False),
     ("probabilities=1&probabilities=0", False)],
)  # fmt: skip
def test_the_probabilities_flag(query: str, flag: bool | None) -> None:
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


# -- hostile bodies: a 400 naming where, never the parser's own text --------------------------


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        (b'{"features": [1,', "the body is not valid JSON (line 1, column 17)", "body"),
        (b'{\n "a": }', "the body is not valid JSON (line 2, column 7)", "body"),
        (b'{"c": "\xff"}', "the body is not UTF-8 text (byte 7)", "body"),
        (
            b"[" + b"1" * 5000 + b"]",
            "the body is not valid JSON: a number has too many digits",
            "body",
        ),
        (b"[" * 100_000, "the body is not valid JSON: it nests too deeply", "body"),
    ],
)
def test_a_malformed_body_is_a_400_with_a_fixed_message(
    body: bytes, message: str, field: str
) -> None:
    err = refusal_of(body)
    assert (err.status, err.kind, err.message, err.field) == (400, "invalid_json", message, field)


def refusal_of(body: bytes) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_json(body)
    return caught.value


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"instances": [{"plan": "\\ud800"}]}', "instances[0].plan"),
        (b'{"instances": [{"\\udc80": 1}]}', "instances[0]"),
        (b'{"features": [NaN, "x\\udfff"]}', "features[1]"),
        (b'"\\ud800"', "body"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_where_it_is(body: bytes, field: str) -> None:
    err = refusal_of(body)
    assert (err.status, err.kind, err.field) == (400, "invalid_text", field)
    assert "lone surrogate" in err.message
    bytes(error_response(err).body).decode("utf-8")  # the answer encodes


def test_a_surrogate_pair_is_text() -> None:
    assert parse_json(b'{"a": "\\ud83d\\ude00", "b": NaN}')["a"] == "\U0001f600"


def test_a_refusal_quoting_unencodable_text_still_answers_json() -> None:
    err = RequestError(422, "validation", "bad \ud800 value", field="k\udc80" * 100)
    response = error_response(err)
    body = json.loads(bytes(response.body))
    assert body["error"]["message"] == "bad \\ud800 value"
    assert len(body["error"]["field"]) == FIELD_CHARS


def test_shown_values_are_short_ascii() -> None:
    assert shown("plan") == "'plan'"
    long = shown("é" * 10_000)
    assert len(long) == SHOWN_CHARS
    assert long.isascii()
    assert long.endswith("...")


# -- request ids ------------------------------------------------------------------------------


def test_an_answered_request_id_is_signed_for_its_rows() -> None:
    ids = RequestIds(b"k" * 32)
    signed = ids.sign("req-1", 3)
    base, _, tag = signed.rpartition(".")
    assert base == "req-1"
    assert len(tag) == TAG_CHARS
    assert len(signed) <= MAX_ID
    assert ids.issued(signed, 3)
    assert not ids.issued(signed, 2)  # another number of rows
    assert not RequestIds(b"o" * 32).issued(signed, 3)  # another deployment's secret
    assert not ids.issued("req-1", 3)
    assert not ids.issued(signed[:-1] + ("0" if signed[-1] != "0" else "1"), 3)
    assert not ids.issued(signed[:-1] + "é", 3)
    # The same client id twice is two answers, two ids.
    assert ids.sign("req-1", 3) != signed


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        RequestIds(b"short")


def test_the_variants_of_a_release_are_compared_on_the_id_the_request_was_given() -> None:
    incumbent, candidate = RequestIds(b"k" * 32), RequestIds(b"k" * 32)
    one, other = incumbent.sign("req.7", 1), candidate.sign("req.7", 1)
    assert one != other  # each server signs with its own nonce
    assert unsigned_request_id(one) == unsigned_request_id(other) == "req.7"
    # A client's own id, dots and all, is left as it is.
    assert unsigned_request_id("req.7") == "req.7"
    assert unsigned_request_id("a." + "0" * 31) == "a." + "0" * 31
