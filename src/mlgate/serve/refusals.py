"""Who the connection limits refuse, and how: the numbers (`Limits`), one worker's shared
state that admits and evicts connections, holds the body budget and sweeps the deadlines
(`Guard`), and the answers given before any app runs: a raw HTTP/1.1 error written straight to
the transport, or a tiny ASGI app for a request the parser already started; both in the
server's JSON error format, both closing the connection.

The connections themselves are `mlgate.serve.limits.GuardedHttpToolsProtocol`; the guard sees
them through `Connection`, the few things it asks of one.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol, TypeVar

from mlgate.serve.settings import BODY_RATE_GRACE_S, MIN_BODY_RATE

# A connection over the cap gets this long to send its headers before it is dropped.
OVER_CAPACITY_GRACE_S = 1.0
NEVER = float("inf")
# What a body may hold beyond the bytes that arrived: uvicorn reads this far ahead of the app
# before it stops reading (HIGH_WATER_LIMIT), and a body of up to this size is taken at once.
BODY_WINDOW = 64 * 1024
# At the cap, the slowest of this many of the oldest heads still arriving is evicted.
HEAD_CANDIDATES = 16
# A connection this young that has sent nothing yet is evicted only when no head can be.
FRESH_S = 0.5


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
    min_body_rate: int = MIN_BODY_RATE  # bytes/s after the grace; 0: no minimum
    body_rate_grace: float = BODY_RATE_GRACE_S

    @property
    def tick(self) -> float:
        """How often the sweeper looks at deadlines: a tenth of the shortest timeout, within
        10-250 ms."""
        shortest = min(
            self.header_timeout, self.body_timeout, self.body_rate_grace, OVER_CAPACITY_GRACE_S
        )
        return min(0.25, max(0.01, shortest / 10))

    def body_due(self, since: float, seen: int, now: float) -> float:
        """When a body read at `now` times out: `body_timeout` after this read, or when its
        bytes so far (`seen`, since `since`) fall below the minimum rate, whichever is first."""
        gap = now + self.body_timeout
        rate = self.min_body_rate
        if rate:
            slow = since + self.body_rate_grace + seen / rate
            if slow < gap:
                return slow
        return gap


def window(want: int, seen: int) -> int:
    """The body bytes a request holds once `seen` have arrived: a window ahead, never more
    than it may take (`want`: its declared length)."""
    return min(want, seen + BODY_WINDOW)


class Connection(Protocol):
    """What the guard asks of a connection (`Connection`)."""

    loop: asyncio.AbstractEventLoop
    deadline: float
    head_bytes: int
    head_since: float

    def resting(self) -> bool: ...
    def fresh(self, now: float) -> bool: ...
    def arriving(self) -> bool: ...
    def evict(self) -> None: ...
    def displace(self) -> None: ...
    def expire(self, now: float) -> None: ...


class Head(Protocol):
    """A request head still arriving: its bytes so far, and since when."""

    head_bytes: int
    head_since: float


H = TypeVar("H", bound=Head)


def slowest(heads: Iterable[H], now: float) -> H | None:
    """The head sending slowest (bytes per second since it started), the first of equals."""
    best: H | None = None
    best_rate = NEVER
    for head in heads:
        rate = head.head_bytes / max(now - head.head_since, 1e-3)
        if rate < best_rate:
            best, best_rate = head, rate
    return best


Counter = Callable[[str], None]


class Guard:
    """One worker's shared state: the limits, its connections, the ones that may be evicted
    (oldest idle first; heads still arriving, oldest first), the body bytes in flight, and a
    counter of what was refused (by reason)."""

    def __init__(
        self, limits: Limits, count: Counter, observe: Callable[[int], None] | None = None
    ) -> None:
        self.limits = limits
        self.count = count
        self._observe = observe
        self.conns: set[Connection] = set()
        # Connections in the order they last became idle. Kept lazily: a connection that starts
        # a request stays in it and is skipped at eviction; it moves to the end when it rests.
        self.idle: OrderedDict[Connection, None] = OrderedDict()
        # Heads that did not arrive in one read, in the order they started (a dict keeps it).
        self.heads: dict[Connection, None] = {}
        self.body_bytes = 0
        self._observed = 0
        self._sweeper: asyncio.TimerHandle | None = None

    def admit(self, conn: Connection) -> bool:
        """Count a new connection; at the cap, evict an idle one or a slow head. False when
        there is none (the newcomer is then refused once its headers arrive, or dropped)."""
        admitted = len(self.conns) < self.limits.max_connections or self._evict_one(conn.loop)
        self.conns.add(conn)
        self.idle[conn] = None
        if self._sweeper is None:
            self._sweeper = conn.loop.call_later(self.limits.tick, self._sweep, conn.loop)
        return admitted

    def _evict_one(self, loop: asyncio.AbstractEventLoop) -> bool:
        idle = self.idle
        now = loop.time()
        while idle:
            victim = next(iter(idle))
            if not victim.resting():
                del idle[victim]
                continue
            # A connection that has just connected may have its request on the way: while a
            # slow head can make room instead, it stays (the rest of the list is younger).
            if victim.fresh(now) and self._displace_head(now):
                return True
            del idle[victim]
            self.count("evicted_idle")
            victim.evict()
            return True
        return self._displace_head(now)

    def _displace_head(self, now: float) -> bool:
        """Refuse the slowest of the oldest heads still arriving; False when there is none."""
        oldest = [c for c in islice(self.heads, HEAD_CANDIDATES) if c.arriving()]
        head = slowest(oldest, now)
        if head is None:
            return False
        del self.heads[head]
        head.displace()
        return True

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Time out the connections past their deadline, sample the body gauge, and come back
        in a tick while there are connections."""
        now = loop.time()
        for conn in [c for c in self.conns if c.deadline <= now]:
            conn.expire(now)
        if self._observe is not None and self.body_bytes != self._observed:
            self._observed = self.body_bytes
            self._observe(self.body_bytes)
        self._sweeper = loop.call_later(self.limits.tick, self._sweep, loop) if self.conns else None


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
