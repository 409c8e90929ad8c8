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
- the body bytes in flight across requests: a declared length is taken whole when the headers
  arrive, a chunked body read by read; beyond the budget, 503 with Retry-After; the bytes are
  given back when the response is complete or the connection is gone;
- the drain: after SIGTERM every new request is answered 503 with Retry-After and
  `Connection: close`, while the requests already accepted finish.

Every check is made in the parser's callbacks, on fields the protocol holds anyway: a request
costs no timer, no task and no ASGI layer. Deadlines are plain floats; one sweeper per worker
(while it has connections) wakes every `tick` seconds and times out the connections whose
deadline has passed, so a timeout fires between its value and its value plus one tick. The
body bytes gauge is sampled by the same sweep.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlgate.serve.refusals import error_app, raw_response

log = logging.getLogger("mlgate.serve")

GUARD_KEY = "mlgate.guard"
# A connection over the cap gets this long to send its headers before it is dropped.
OVER_CAPACITY_GRACE_S = 1.0
NEVER = float("inf")


class Flag:
    """A process-wide switch read on every request: a plain attribute (threading.Event's
    `is_set` is a Python call). Set from the signal handler, which runs on the loop's thread."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = False

    def set(self) -> None:
        self.on = True

    def is_set(self) -> bool:
        return self.on


# Set by the server process when it receives SIGTERM/SIGINT (one server per process).
DRAINING = Flag()


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

    @property
    def tick(self) -> float:
        """How often the sweeper looks at deadlines: a tenth of the shortest timeout, within
        10-250 ms."""
        shortest = min(self.header_timeout, self.body_timeout, OVER_CAPACITY_GRACE_S)
        return min(0.25, max(0.01, shortest / 10))


Counter = Callable[[str], None]


class Guard:
    """One worker's shared state: the limits, its connections, the ones that may be evicted
    (oldest idle first), the body bytes in flight, and a counter of what was refused (by
    reason)."""

    def __init__(
        self, limits: Limits, count: Counter, observe: Callable[[int], None] | None = None
    ) -> None:
        self.limits = limits
        self.count = count
        self._observe = observe
        self.conns: set[GuardedHttpToolsProtocol] = set()
        # Connections in the order they last became idle. Kept lazily: a connection that starts
        # a request stays in it and is skipped at eviction; it moves to the end when it rests.
        self.idle: OrderedDict[GuardedHttpToolsProtocol, None] = OrderedDict()
        self.body_bytes = 0
        self._observed = 0
        self._sweeper: asyncio.TimerHandle | None = None

    def admit(self, conn: GuardedHttpToolsProtocol) -> bool:
        """Count a new connection; at the cap, evict the longest-idle one. False when no
        connection is idle (the newcomer is then refused once its headers arrive, or dropped)."""
        admitted = len(self.conns) < self.limits.max_connections or self._evict_one()
        self.conns.add(conn)
        self.idle[conn] = None
        if self._sweeper is None:
            self._sweeper = conn.loop.call_later(self.limits.tick, self._sweep, conn.loop)
        return admitted

    def _evict_one(self) -> bool:
        idle = self.idle
        while idle:
            victim, _ = idle.popitem(last=False)
            if victim.resting():
                self.count("evicted_idle")
                victim.evict()
                return True
        return False

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time out the connections past their deadline, sample the body gauge, and come back
        in a tick while there are connections."""
        now = loop.time()
        for conn in [c for c in self.conns if c.deadline <= now]:
            conn.expire()
        if self._observe is not None and self.body_bytes != self._observed:
            self._observed = self.body_bytes
            self._observe(self.body_bytes)
        self._sweeper = loop.call_later(self.limits.tick, self._sweep, loop) if self.conns else None


_TERMINATOR = b"\r\n\r\n"
_BUDGET = "too many request bodies in flight; retry later"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of the module docstring.

    A request passes through four overrides (data_received, on_headers_complete,
    on_message_complete, on_response_complete), each a few attribute reads and stores around
    uvicorn's own method.
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
        # When the sweeper acts on this connection (see `expire`); NEVER when nothing is timed.
        self.deadline = NEVER
        self._head_bytes = 0  # of the request being read; 0 between requests
        self._tail = b""  # the last bytes of a head read so far (a terminator may straddle)
        self._after_head = 0  # bytes that followed the end of the head in the same read
        self._in_body = False
        self._chunked = False
        self._taken = 0  # body bytes this request holds of the budget
        self._over = False  # connected over the cap with nobody to evict
        self._gone = False

    # -- connection lifecycle ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        guard = self.guard
        if guard is None:
            return
        self._over = not guard.admit(self)
        wait = OVER_CAPACITY_GRACE_S if self._over else guard.limits.header_timeout
        self.deadline = self.loop.time() + wait

    def connection_lost(self, exc: Exception | None) -> None:
        guard = self.guard
        if guard is not None and not self._gone:
            self._gone = True
            self.deadline = NEVER
            guard.conns.discard(self)
            guard.idle.pop(self, None)
            self._give_back(guard)
        super().connection_lost(exc)

    def resting(self) -> bool:
        """Open, and neither reading a request nor answering one: may be evicted."""
        return (
            not self._gone
            and not self._head_bytes
            and not self._in_body
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def evict(self) -> None:
        """Close this idle connection to make room for a new one."""
        self.deadline = NEVER
        self.transport.close()

    # -- a request -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        guard = self.guard
        if guard is not None:
            if self._in_body:
                # A read of the body: the body timeout runs from here.
                self.deadline = self.loop.time() + guard.limits.body_timeout
                if self._chunked and not self._take(guard, len(data)):
                    return
            else:
                tail = self._tail
                seen = tail + data if tail else data
                end = seen.find(_TERMINATOR)
                if end < 0:
                    if not self._head_bytes and self.cycle is not None:
                        # A request on a kept-alive connection that did not fit in one read:
                        # its header time starts now (a new connection's, when it connected).
                        self.deadline = self.loop.time() + guard.limits.header_timeout
                    self._head_bytes += len(data)
                    self._tail = seen[-3:]
                else:
                    if end + 4 > len(tail):  # else the head ended in bytes already counted
                        self._head_bytes += end + 4 - len(tail)
                    self._after_head = len(seen) - end - 4
                if self._head_bytes > guard.limits.max_header_bytes:
                    limit = guard.limits.max_header_bytes
                    self._refuse(431, "header_too_large", f"request headers over {limit} bytes")
                    return
        HttpToolsProtocol.data_received(self, data)

    def on_headers_complete(self) -> None:
        guard = self.guard
        if guard is None:
            HttpToolsProtocol.on_headers_complete(self)
            return
        limits = guard.limits
        self._head_bytes = 0
        self._tail = b""
        declared = 0
        chunked = False
        for name, value in self.headers:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else 0
            elif name == b"transfer-encoding":
                chunked = True
        if declared or chunked:
            self._in_body = True
            self._chunked = chunked
            if chunked or declared > self._after_head:  # more of the body is to come
                self.deadline = self.loop.time() + limits.body_timeout
        rejection: tuple[int, str, str, str] | None = None
        if len(self.headers) > limits.max_headers:
            message = f"more than {limits.max_headers} request headers"
            rejection = (431, "too_many_headers", message, "too_many_headers")
        elif self._over:
            rejection = (503, "overloaded", "too many connections; retry later", "overloaded")
        elif DRAINING.on:
            rejection = (503, "shutting_down", "the server is shutting down", "draining")
        elif declared and guard.body_bytes + declared > limits.max_body_bytes_in_flight:
            rejection = (503, "overloaded", _BUDGET, "body_budget")
        if rejection is not None:
            status, kind, message, counted = rejection
            self._chunked = False  # nothing of this body is kept: the answer closes
            guard.count(counted)
            retry = limits.retry_after if status == 503 else None
            saved = self.app
            self.app = error_app(status, kind, message, retry)
            try:
                HttpToolsProtocol.on_headers_complete(self)
            finally:
                self.app = saved
            return
        if declared:
            # A declared length is taken whole, before a byte of it is read.
            guard.body_bytes += declared
            self._taken += declared
        HttpToolsProtocol.on_headers_complete(self)
        if chunked and self._after_head:
            self._take(guard, self._after_head)

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        self._in_body = False
        self._chunked = False

    def on_response_complete(self) -> None:
        HttpToolsProtocol.on_response_complete(self)
        guard = self.guard
        if guard is not None and not self._gone:
            if self._taken:
                guard.body_bytes -= self._taken
                self._taken = 0
            try:
                guard.idle.move_to_end(self)
            except KeyError:  # taken off the list while busy (see Guard._evict_one)
                guard.idle[self] = None

    # -- the sweeper's side --------------------------------------------------------------------

    def expire(self) -> None:
        """The deadline passed: time out what this connection is doing, if anything."""
        self.deadline = NEVER
        if self._gone or self.transport.is_closing():
            return
        guard = self.guard
        if self._over:
            if guard is not None:
                guard.count("overloaded")
            self.transport.close()
        elif self._in_body:
            if self.cycle is not None and self.cycle.response_complete:
                # Answered already (say, 413 before the body): only the rest is late.
                self.transport.close()
            else:
                self._refuse(408, "body_timeout", "the request body took too long")
        elif self._head_bytes:
            self._refuse(408, "header_timeout", "the request headers took too long")
        elif self.cycle is None:
            # Connected and never sent a byte: nothing to answer, the slot is wanted.
            if guard is not None:
                guard.count("idle_timeout")
            self.transport.close()
        # Else between requests (uvicorn's keep-alive timeout closes it) or being answered.

    # -- helpers -------------------------------------------------------------------------------

    def _take(self, guard: Guard, n: int) -> bool:
        """Take `n` more body bytes of a chunked body; refuse the request beyond the budget."""
        if guard.body_bytes + n > guard.limits.max_body_bytes_in_flight:
            self._refuse(503, "overloaded", _BUDGET, counted="body_budget")
            return False
        guard.body_bytes += n
        self._taken += n
        return True

    def _give_back(self, guard: Guard) -> None:
        guard.body_bytes -= self._taken
        self._taken = 0

    def _refuse(self, status: int, kind: str, message: str, counted: str | None = None) -> None:
        """Answer with a raw error response and close: the request never reaches the app."""
        self.deadline = NEVER
        guard = self.guard
        if guard is not None:
            guard.count(counted or kind)
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The app is reading this request: tell it the client is gone, answer for it.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        retry = guard.limits.retry_after if guard is not None and status == 503 else None
        self.transport.write(raw_response(status, kind, message, retry))
        self.transport.close()
