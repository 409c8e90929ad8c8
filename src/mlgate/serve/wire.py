"""JSON in and out of the server: one encoder for every answer, one reader for every body.

Bodies are read and checked by hand (content type, declared and actual size, JSON) rather
than by a declared pydantic body: a request does not pay for a model instance per row.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from mlgate.serve.errors import RequestError

JSON = "application/json"
PREDICT_PARAMETERS = frozenset({"probabilities"})

try:  # orjson parses and encodes several times faster; the stdlib is the fallback
    import orjson

    def _dumps(data: Any) -> bytes:
        return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)

    def _loads_fast(body: bytes) -> Any:
        return orjson.loads(body)

except ImportError:  # pragma: no cover - depends on the install

    def _dumps(data: Any) -> bytes:
        return json.dumps(data, separators=(",", ":")).encode()

    def _loads_fast(body: bytes) -> Any:
        return json.loads(body)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded once, without FastAPI's generic encoder."""
    return Response(_dumps(data), status_code=status, media_type=JSON, headers=headers)


def parse_json(body: bytes) -> Any:
    """Parse a request body; malformed JSON is a 400."""
    try:
        return _loads_fast(body)
    except ValueError:
        pass
    try:
        # The stdlib also reads NaN / Infinity literals, which validation then judges.
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(
            400, "invalid_json", f"the body is not valid JSON: {exc}", field="body"
        ) from None


@dataclass(slots=True)  # not frozen: built per request, and a frozen init costs more
class Body:
    """A request body still to be read: its content type, declared length and chunks."""

    ctype: str
    declared: str | None
    chunks: AsyncIterator[bytes]

    @classmethod
    def of(cls, request: Request) -> Body:
        """The body of a Starlette request."""
        headers = request.headers
        return cls(headers.get("content-type", ""), headers.get("content-length"), request.stream())

    async def json(self, limit: int) -> Any:
        """The JSON value, after checking the content type and the size against `limit`."""
        ctype = self.ctype
        media = ctype.split(";", 1)[0].strip().lower()
        if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
            raise RequestError(
                415,
                "unsupported_media_type",
                f"send Content-Type: {JSON}, not {ctype or 'none'!r}",
                field="content-type",
            )
        declared = self.declared
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestError(
                413, "body_too_large", f"the body is over {limit} bytes", field="body"
            )
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks:
            size += len(chunk)
            if size > limit:
                raise RequestError(
                    413, "body_too_large", f"the body is over {limit} bytes", field="body"
                )
            parts.append(chunk)
        return parse_json(b"".join(parts))


def probabilities_flag(query: str) -> bool:
    """`?probabilities=true` (or 1, yes; false, 0, no); any other parameter or value is a 400."""
    if not query:
        return False
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - PREDICT_PARAMETERS)
    if unknown:
        raise RequestError(
            400,
            "unknown_parameter",
            f"unknown query parameter {unknown[0]!r}; /predict takes only probabilities",
            field=unknown[0],
        )
    value = params.get("probabilities", ["false"])[-1].lower()
    if value in ("1", "true", "yes", ""):
        return True
    if value in ("0", "false", "no"):
        return False
    raise RequestError(
        400,
        "bad_parameter",
        f"probabilities must be true or false, got {value!r}",
        field="probabilities",
    )
