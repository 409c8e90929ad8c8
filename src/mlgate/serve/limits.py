"""Bounds on what one client can cost the server: connections, header bytes and count, the time
and the rate at which a request arrives, body bytes in flight, and the drain on SIGTERM.

uvicorn (0.54, httptools) bounds the idle time between requests (`timeout_keep_alive`, used as
`--keepalive-timeout`) and the drain (`--graceful-timeout`); it bounds header bytes only in
its h11 protocol, and nothing of the time a client takes to send its headers or its body, the
number of headers, or the bodies held across requests. `limit_concurrency` acts only once a
request's headers arrive. So `GuardedHttpToolsProtocol` (uvicorn's protocol plus checks) adds:
- a connection cap per worker: at the cap a new connection takes the slot of the connection
  idle longest (no request yet, or between requests; one connected under FRESH_S ago is
  passed over while a head can go), else of a head still arriving (among the oldest, the one
  sending slowest: answered 503 and closed); when every slot is busy with a whole request,
  the newcomer is answered 503 with Retry-After and closed;
- header bytes and count (431), checked before the parser buffers them;
- a header timeout (from the connection, or the request's first byte, to the end of its
  headers) and, for the body, a gap timeout (between two reads) and a minimum rate: after a
  grace period the body must keep `min_body_rate` bytes/s on average (it is due by
  start + grace + received / rate); 408, then close;
- the body bytes in flight across requests: a body holds what has arrived plus a window of
  `BODY_WINDOW` bytes, never more than its declared length; the window is taken again as it
  fills. A declared length is not a reservation: it costs nothing until its bytes come.
  Beyond the budget, 503 with Retry-After; the bytes are given back with the response;
- a body answered before it was read (413, say) is read and dropped for at most the body
  timeout, then the connection is closed;
- the drain: after SIGTERM every new request is answered 503 with Retry-After and
  `Connection: close`, while the requests already accepted finish.

The guarantee, per worker (docs/serving-limits.md has the figures of the defaults): normal
clients (whole requests, C connections at a time) keep getting their answers while hostile
connections of each kind stay below these limits: silent, idle kept-alive and trickled-head
connections, any number (the cap sheds them; keep `max_connections` below the open-file
limit); bodies trickled below the minimum rate, fewer than `max_connections - C` at a time
(each holds at most a window, and is cut after the grace); bodies over the body limit, any
number (answered at their headers, their rest dropped for at most the body timeout). Bodies
that keep the minimum rate are uploads: they hold what they sent, 503 for the rest beyond it.

Every check is made in the parser's callbacks, on fields the protocol holds anyway: a request
costs no timer, no task and no ASGI layer. Deadlines are plain floats; one sweeper per worker
(while it has connections) wakes every `tick` seconds and times out the connections whose
deadline has passed, so a timeout fires between its value and its value plus one tick. The
body bytes gauge is sampled by the same sweep.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlgate.serve.refusals import (
    FRESH_S,
    NEVER,
    OVER_CAPACITY_GRACE_S,
    Guard,
    Limits,
    error_app,
    raw_response,
    window,
)

log = logging.getLogger("mlgate.serve")

GUARD_KEY = "mlgate.guard"
# The guard and its numbers live with the refusals; app.py builds them from here.
__all__ = ["DRAINING", "GUARD_KEY", "Guard", "GuardedHttpToolsProtocol", "Limits"]


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


_TERMINATOR = b"\r\n\r\n"
_BUDGET = "too many request bodies in flight; retry later"
_CROWDED = "too many connections; retry later"


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
        self.head_bytes = 0  # of the request being read; 0 between requests
        self.head_since = 0.0  # when its header time started
        self._tail = b""  # the last bytes of a head read so far (a terminator may straddle)
        self._after_head = 0  # bytes that followed the end of the head in the same read
        self._partial = False  # listed in Guard.heads
        self._in_body = False
        self._dropping = False  # the rest of this body is read and dropped, never held
        self._want = 0  # the most this body may hold: its declared length
        self._seen = 0  # body bytes arrived (when more than the first read)
        self._body_since = 0.0
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
        self.head_since = now = self.loop.time()
        self.deadline = now + wait

    def connection_lost(self, exc: Exception | None) -> None:
        guard = self.guard
        if guard is not None and not self._gone:
            self._gone = True
            self.deadline = NEVER
            guard.conns.discard(self)
            guard.idle.pop(self, None)
            guard.heads.pop(self, None)
            guard.body_bytes -= self._taken
            self._taken = 0
        super().connection_lost(exc)

    def resting(self) -> bool:
        """Open, and neither reading a request nor answering one: may be evicted."""
        return (
            not self._gone
            and not self.head_bytes
            and not self._in_body
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def fresh(self, now: float) -> bool:
        """Connected a moment ago and not a byte yet: its first request may be on the way."""
        return self.cycle is None and not self.head_bytes and now - self.head_since < FRESH_S

    def arriving(self) -> bool:
        """Open, with a request head still arriving: may be displaced at the cap."""
        return self._partial and not self._gone and not self.transport.is_closing()

    def evict(self) -> None:
        """Close this idle connection to make room for a new one."""
        self.deadline = NEVER
        self.transport.close()

    def displace(self) -> None:
        """Refuse the head still arriving here (503) to make room for a new connection."""
        self._partial = False
        self._refuse(503, "overloaded", _CROWDED, counted="evicted_head")

    # -- a request -----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        guard = self.guard
        if guard is not None:
            if self._in_body:
                if not self._dropping and not self._body_read(guard, len(data)):
                    return
            else:
                tail = self._tail
                seen = tail + data if tail else data
                end = seen.find(_TERMINATOR)
                if end < 0:
                    if not self.head_bytes:
                        self._head_started(guard)
                    self.head_bytes += len(data)
                    self._tail = seen[-3:]
                else:
                    if end + 4 > len(tail):  # else the head ended in bytes already counted
                        self.head_bytes += end + 4 - len(tail)
                    self._after_head = len(seen) - end - 4
                if self.head_bytes > guard.limits.max_header_bytes:
                    limit = guard.limits.max_header_bytes
                    self._refuse(431, "header_too_large", f"request headers over {limit} bytes")
                    return
        HttpToolsProtocol.data_received(self, data)

    def _head_started(self, guard: Guard) -> None:
        """A head that does not fit in one read: it may be displaced at the cap from now on."""
        self._partial = True
        guard.heads[self] = None
        if self.cycle is not None:
            # A request on a kept-alive connection: its header time starts now (a new
            # connection's, when it connected).
            self.head_since = now = self.loop.time()
            self.deadline = now + guard.limits.header_timeout

    def _body_read(self, guard: Guard, n: int) -> bool:
        """A read of the body: move its deadline, take more of the budget when its window is
        full; False when it was refused."""
        limits = guard.limits
        seen = self._seen + n
        self._seen = seen
        self.deadline = limits.body_due(self._body_since, seen, self.loop.time())
        if seen > self._taken and self._taken < self._want:
            return self._take(guard, window(self._want, seen) - self._taken)
        return True

    def on_headers_complete(self) -> None:
        guard = self.guard
        if guard is None:
            HttpToolsProtocol.on_headers_complete(self)
            return
        limits = guard.limits
        self.head_bytes = 0
        self._tail = b""
        if self._partial:
            self._partial = False
            guard.heads.pop(self, None)
        declared = 0
        chunked = False
        for name, value in self.headers:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else 0
            elif name == b"transfer-encoding":
                chunked = True
        after = self._after_head
        if declared or chunked:
            self._in_body = True
            # A chunked body may take as much as the budget has (the app bounds its size).
            self._want = limits.max_body_bytes_in_flight + 1 if chunked else declared
            if chunked or declared > after:  # more of the body is to come
                self._body_since = now = self.loop.time()
                self._seen = after
                self.deadline = limits.body_due(now, after, now)
        rejection: tuple[int, str, str, str] | None = None
        if len(self.headers) > limits.max_headers:
            message = f"more than {limits.max_headers} request headers"
            rejection = (431, "too_many_headers", message, "too_many_headers")
        elif self._over:
            rejection = (503, "overloaded", _CROWDED, "overloaded")
        elif DRAINING.on:
            rejection = (503, "shutting_down", "the server is shutting down", "draining")
        elif self._in_body:
            first = window(self._want, after)
            if guard.body_bytes + first > limits.max_body_bytes_in_flight:
                rejection = (503, "overloaded", _BUDGET, "body_budget")
            else:
                guard.body_bytes += first
                self._taken += first
        if rejection is not None:
            status, kind, message, counted = rejection
            self._dropping = True  # nothing of this body is kept: the answer closes
            guard.count(counted)
            retry = limits.retry_after if status == 503 else None
            saved = self.app
            self.app = error_app(status, kind, message, retry)
            try:
                HttpToolsProtocol.on_headers_complete(self)
            finally:
                self.app = saved
            return
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        self._in_body = False
        self._dropping = False

    def on_response_complete(self) -> None:
        HttpToolsProtocol.on_response_complete(self)
        guard = self.guard
        if guard is not None and not self._gone:
            if self._taken:
                guard.body_bytes -= self._taken
                self._taken = 0
            if self._in_body:
                # Answered before its body was read: the rest is dropped, and its deadline no
                # longer moves (at most a body timeout after its last read).
                self._dropping = True
            try:
                guard.idle.move_to_end(self)
            except KeyError:  # taken off the list while busy (see Guard._evict_one)
                guard.idle[self] = None

    # -- the sweeper's side --------------------------------------------------------------------

    def expire(self, now: float) -> None:
        """The deadline passed: time out what this connection is doing, if anything."""
        due = self.deadline
        self.deadline = NEVER
        if self._gone or self.transport.is_closing():
            return
        guard = self.guard
        if self._over:
            if guard is not None:
                guard.count("overloaded")
            self.transport.close()
        elif self._in_body:
            if self._dropping or (self.cycle is not None and self.cycle.response_complete):
                # Answered already (say, 413 before the body): only the rest is late.
                self.transport.close()
            else:
                self._refuse(408, *self._late_body(guard, due))
        elif self.head_bytes:
            self._refuse(408, "header_timeout", "the request headers took too long")
        elif self.cycle is None:
            # Connected and never sent a byte: nothing to answer, the slot is wanted.
            if guard is not None:
                guard.count("idle_timeout")
            self.transport.close()
        # Else between requests (uvicorn's keep-alive timeout closes it) or being answered.

    def _late_body(self, guard: Guard | None, due: float) -> tuple[str, str]:
        """Why a body timed out: it stalled, or it fell below the minimum rate."""
        if guard is not None:
            limits = guard.limits
            rate = limits.min_body_rate
            if rate and self._body_since + limits.body_rate_grace + self._seen / rate <= due:
                return "body_too_slow", f"the request body arrived slower than {rate} bytes/s"
        return "body_timeout", "the request body took too long"

    # -- helpers -------------------------------------------------------------------------------

    def _take(self, guard: Guard, n: int) -> bool:
        """Take `n` more body bytes; refuse the request beyond the budget."""
        if guard.body_bytes + n > guard.limits.max_body_bytes_in_flight:
            self._refuse(503, "overloaded", _BUDGET, counted="body_budget")
            return False
        guard.body_bytes += n
        self._taken += n
        return True

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
