"""Bounds on what one client can cost the server: connections, header bytes and count, the time
to send a request, body bytes in flight, and the drain on SIGTERM.

What uvicorn (0.54, httptools protocol) bounds on its own, and what it does not:
- `timeout_keep_alive` closes a connection idle *between* requests; used (`--keepalive-timeout`).
- `timeout_graceful_shutdown` bounds the drain; used (`--graceful-timeout`).
- `h11_max_incomplete_event_size` bounds header bytes, but only in the pure-Python h11 protocol;
  the server runs httptools (several times faster), which buffers headers without any limit.
- `limit_concurrency` answers 503 once connections *or* tasks reach the limit, but only when a
  request's headers arrive: connections that never send a byte are never refused, never timed
  out, and still take a file descriptor each. Not used: the connection cap below does better.
- Nothing bounds the time a client takes to send its headers or its body (a connection that
  sends nothing stays open forever), the number of headers, or the request bodies held in
  memory across requests (each is bounded alone by `--max-body-mb`).

So `GuardedHttpToolsProtocol` (uvicorn's httptools protocol plus these checks) adds:
- a connection cap per worker: at the cap a new connection takes the slot of the connection
  that has been idle longest (never sent a request, or waiting between requests); when every
  slot is busy with a request, the newcomer is answered 503 with Retry-After and closed;
- header bytes (431) and header count (431), checked before the parser buffers them;
- a header timeout (from the connection, or the request's first byte, to the end of its
  headers) and a body timeout (between two reads of the body): 408, then close;
and `ServeGuard` (pure ASGI, outermost) adds the body bytes in flight across requests (503 with
Retry-After beyond the budget) and the drain: after SIGTERM every new request is answered 503
with Retry-After and `Connection: close`, while the requests already accepted finish.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlgate.serve.errors import RequestError

log = logging.getLogger("mlgate.serve")

GUARD_KEY = "mlgate.guard"
# Set by the server process when it receives SIGTERM/SIGINT (one server per process).
DRAINING = threading.Event()
# A connection over the cap gets this long to send its headers before it is dropped.
OVER_CAPACITY_GRACE_S = 1.0


@dataclass(frozen=True)
class Limits:
    """The numbers, from `ServeSettings` (flags of `mlgate serve`)."""

    max_connections: int
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    body_timeout: float
    max_body_bytes_in_flight: int
    retry_after: int


Counter = Callable[[str], None]


class Guard:
    """One worker's shared state: the limits, idle connections (oldest first), the body budget,
    and a counter of what was refused (by reason)."""

    def __init__(
        self, limits: Limits, count: Counter, observe: Callable[[int], None] | None = None
    ) -> None:
        self.limits = limits
        self.count = count
        self._observe = observe
        self.idle: OrderedDict[GuardedHttpToolsProtocol, None] = OrderedDict()
        self.open = 0
        self.body_bytes = 0

    # -- connections ---------------------------------------------------------------------------

    def admit(self, conn: GuardedHttpToolsProtocol) -> bool:
        """Count a new connection; at the cap, evict the longest-idle one. False when every
        slot is busy (the newcomer is then refused once its headers arrive, or dropped)."""
        admitted = True
        if self.open >= self.limits.max_connections:
            if self.idle:
                victim, _ = self.idle.popitem(last=False)
                self.count("evicted_idle")
                victim.evict()
            else:
                admitted = False
        self.open += 1
        self.idle[conn] = None
        return admitted

    def busy(self, conn: GuardedHttpToolsProtocol) -> None:
        """A request started on `conn`: it cannot be evicted."""
        self.idle.pop(conn, None)

    def rested(self, conn: GuardedHttpToolsProtocol) -> None:
        """`conn` finished a response and waits for the next request."""
        self.idle[conn] = None
        self.idle.move_to_end(conn)

    def gone(self, conn: GuardedHttpToolsProtocol) -> None:
        """`conn` closed."""
        self.idle.pop(conn, None)
        self.open -= 1

    # -- body bytes ----------------------------------------------------------------------------

    def reserve(self, n: int) -> bool:
        """Take `n` body bytes from the budget; False (nothing taken) when it would overflow."""
        if n and self.body_bytes + n > self.limits.max_body_bytes_in_flight:
            return False
        if n:
            self.body_bytes += n
            if self._observe is not None:
                self._observe(self.body_bytes)
        return True

    def release(self, n: int) -> None:
        """Give `n` body bytes back."""
        if n:
            self.body_bytes -= n
            if self._observe is not None:
                self._observe(self.body_bytes)


def _raw_response(status: int, reason: str, message: str, retry_after: int | None) -> bytes:
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
    body = _raw_response(status, kind, message, retry_after).split(b"\r\n\r\n", 1)[1]
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


_TERMINATOR = b"\r\n\r\n"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the connection cap, header limits and timeouts.

    One timer per request at most: it is armed when a request (or a connection) starts, holds
    a deadline that the body's reads push forward (a float store, not a new timer), re-arms
    itself when it fires early, and is cancelled when the request is complete.
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard: Guard | None = app_state.get(GUARD_KEY)
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""
        self._over = False
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._closed = False

    # -- connection lifecycle ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        if guard is None:
            return
        self._over = not guard.admit(self)
        wait = OVER_CAPACITY_GRACE_S if self._over else guard.limits.header_timeout
        self._deadline = self.loop.time() + wait
        self._timer = self.loop.call_later(wait, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self.guard is not None and not self._closed:
            self._closed = True
            self.guard.gone(self)
        super().connection_lost(exc)

    def evict(self) -> None:
        """Close this idle connection to make room for a new one."""
        self._cancel()
        if not self.transport.is_closing():
            self.transport.close()

    # -- reading -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        guard = self.guard
        if guard is not None and self._in_head:
            seen = self._tail + data
            end = seen.find(_TERMINATOR)
            if end < 0:
                self._head_bytes += len(data)
                self._tail = seen[-3:]
            else:
                self._head_bytes += max(0, end + len(_TERMINATOR) - len(self._tail))
            if self._head_bytes > guard.limits.max_header_bytes:
                self._refuse(
                    431,
                    "header_too_large",
                    f"request headers over {guard.limits.max_header_bytes} bytes",
                )
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        guard = self.guard
        if guard is not None:
            guard.busy(self)
            if self._timer is None:  # a request on a kept-alive connection
                self._deadline = self.loop.time() + guard.limits.header_timeout
                self._timer = self.loop.call_later(guard.limits.header_timeout, self._tick)

    def on_headers_complete(self) -> None:
        guard = self.guard
        self._in_head = False
        if guard is None:
            super().on_headers_complete()
            return
        rejection: tuple[int, str, str] | None = None
        # The header bytes bound what the parser could buffer; their number is checked here.
        if len(self.headers) > guard.limits.max_headers:
            limit = guard.limits.max_headers
            rejection = (431, "too_many_headers", f"more than {limit} request headers")
        elif self._over:
            rejection = (503, "overloaded", "too many connections; retry later")
        if rejection is not None:
            self._cancel()
            status, kind, message = rejection
            guard.count(kind)
            retry = guard.limits.retry_after if status == 503 else None
            saved = self.app
            self.app = error_app(status, kind, message, retry)
            try:
                super().on_headers_complete()
            finally:
                self.app = saved
            return
        super().on_headers_complete()
        if self._has_body():
            # The timer stays armed; from now on its deadline is the body's.
            self._deadline = self.loop.time() + guard.limits.body_timeout
        else:
            self._cancel()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self.guard is not None and self._timer is not None:
            self._deadline = self.loop.time() + self.guard.limits.body_timeout

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._cancel()
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.guard is not None and not self.transport.is_closing():
            self.guard.rested(self)

    # -- helpers -------------------------------------------------------------------------------

    def _has_body(self) -> bool:
        for name, value in self.headers:
            if name == b"content-length":
                return value.strip() not in (b"0", b"")
            if name == b"transfer-encoding":
                return True
        return False

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        """The request's timer: re-arm when the deadline moved, else time the phase out."""
        self._timer = None
        left = self._deadline - self.loop.time()
        if left > 0.001:
            self._timer = self.loop.call_later(left, self._tick)
        elif self._over:
            self._drop_over_capacity()
        elif self._in_head:
            self._header_timeout()
        else:
            self._body_timeout()

    def _refuse(self, status: int, kind: str, message: str) -> None:
        """Answer with a raw error response and close: the request never reaches the app."""
        self._cancel()
        if self.guard is not None:
            self.guard.count(kind)
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The app is reading this request: tell it the client is gone, answer for it.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            if self.cycle.response_started:
                self.transport.close()
                return
        retry = self.guard.limits.retry_after if self.guard and status == 503 else None
        self.transport.write(_raw_response(status, kind, message, retry))
        self.transport.close()

    def _header_timeout(self) -> None:
        if self._head_bytes == 0 and (self.cycle is None or self.cycle.response_complete):
            # Not a byte of a request yet: nothing to answer, the slot is wanted.
            if self.guard is not None:
                self.guard.count("idle_timeout")
            self.transport.close()
            return
        self._refuse(408, "header_timeout", "the request headers took too long")

    def _body_timeout(self) -> None:
        self._refuse(408, "body_timeout", "the request body took too long")

    def _drop_over_capacity(self) -> None:
        if self.guard is not None:
            self.guard.count("overloaded")
        if not self.transport.is_closing():
            self.transport.close()


def budget_exceeded(retry_after: int) -> RequestError:
    """The 503 for a body that would take the worker over its body bytes in flight."""
    return RequestError(
        503,
        "overloaded",
        "too many request bodies in flight; retry later",
        headers={"retry-after": str(retry_after)},
    )


class ServeGuard:
    """Pure ASGI, outermost: the drain after SIGTERM and the body bytes in flight."""

    def __init__(self, app: Any, *, guard: Guard, draining: threading.Event = DRAINING) -> None:
        self.app = app
        self.guard = guard
        self.draining = draining

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        retry = guard.limits.retry_after
        if self.draining.is_set():
            guard.count("draining")
            refuse = error_app(503, "shutting_down", "the server is shutting down", retry)
            await refuse(scope, receive, send)
            return
        declared = 0
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else 0
                break
        # A declared length is taken whole, before a byte is read (HTTP bounds the body by it);
        # a chunked body chunk by chunk.
        if not guard.reserve(declared):
            guard.count("body_budget")
            refuse = error_app(503, "overloaded", "too many request bodies in flight", retry)
            await refuse(scope, receive, send)
            return
        taken = declared

        async def chunked() -> Any:
            nonlocal taken
            message = await receive()
            size = len(message.get("body", b""))
            if size:
                if not guard.reserve(size):
                    guard.count("body_budget")
                    raise budget_exceeded(retry)
                taken += size
            return message

        try:
            await self.app(scope, receive if declared else chunked, send)
        finally:
            guard.release(taken)
