"""The answers the connection limits give before any app runs: a raw HTTP/1.1 error written
straight to the transport, or a tiny ASGI app for a request the parser already started; both in
the server's JSON error format, both closing the connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


def raw_response(status: int, reason: str, message: str, retry_after: int | None) -> bytes:
    """A whole HTTP/1.1 error response in the JSON error format, closing the connection."""
    body = (
        b'{"error":{"kind":"' + reason.encode() + b'","message":"' + message.encode()
        + b'","field":null,"row":null}}'
    )  # fmt: skip
    lines = [
        f"HTTP/1.1 {status} {_PHRASES[status]}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
    ]
    if retry_after is not None:
        lines.append(f"retry-after: {retry_after}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_PHRASES = {
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def error_app(
    status: int, kind: str, message: str, retry_after: int | None
) -> Callable[[Any, Any, Any], Awaitable[None]]:
    """A tiny ASGI app answering one JSON error and closing the connection."""
    body = raw_response(status, kind, message, retry_after).split(b"\r\n\r\n", 1)[1]
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app
