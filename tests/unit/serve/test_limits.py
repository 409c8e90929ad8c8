"""The connection limits (serve/limits.py, serve/refusals.py): the pure rules, then the guarded
protocol itself on a real uvicorn server on 127.0.0.1 (in a thread, with a tiny ASGI app and
limits small enough to act in a fraction of a second)."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from mlgate.serve.limits import GUARD_KEY, GuardedHttpToolsProtocol
from mlgate.serve.refusals import BODY_WINDOW, Guard, Limits, slowest, window
from mlgate.serve.settings import ServeSettings

pytestmark = pytest.mark.unit


def limits(**changes: Any) -> Limits:
    base: dict[str, Any] = {
        "max_connections": 64,
        "max_header_bytes": 8192,
        "max_headers": 50,
        "header_timeout": 5.0,
        "body_timeout": 5.0,
        "max_body_bytes_in_flight": 4 << 20,
        "retry_after": 1,
    }
    return Limits(**(base | changes))


# -- the rules ---------------------------------------------------------------------------------


def test_a_body_holds_what_arrived_plus_a_window_never_more_than_declared() -> None:
    assert window(200, 0) == 200  # a small body is taken whole at its headers
    assert window(16 << 20, 0) == BODY_WINDOW  # a large one is not: its bytes have to come
    assert window(16 << 20, 1 << 20) == (1 << 20) + BODY_WINDOW
    assert window(16 << 20, 16 << 20) == 16 << 20


def test_a_body_is_due_at_its_gap_timeout_or_when_it_falls_below_the_rate() -> None:
    rules = limits(body_timeout=10.0, min_body_rate=1000, body_rate_grace=2.0)
    # 100 s in with 200 kB: above 1000 B/s, the gap after this read decides.
    assert rules.body_due(since=0.0, seen=200_000, now=100.0) == 110.0
    # 100 s in with 10 bytes: due long ago (grace + 10 / 1000 s after the start).
    assert rules.body_due(since=0.0, seen=10, now=100.0) == pytest.approx(2.01)
    # Within the grace nothing is owed yet.
    assert rules.body_due(since=0.0, seen=0, now=1.0) == 2.0
    assert limits(body_timeout=10.0, min_body_rate=0).body_due(0.0, 0, 100.0) == 110.0


@dataclass
class FakeHead:
    head_bytes: int
    head_since: float


def test_the_slowest_head_is_evicted_first_and_of_equals_the_oldest() -> None:
    now = 100.0
    old_slow = FakeHead(10, 0.0)  # 0.1 B/s
    new_fast = FakeHead(50, 99.0)  # 50 B/s
    new_slow = FakeHead(1, 99.0)  # 1 B/s
    assert slowest([new_fast, old_slow, new_slow], now) is old_slow
    assert slowest([new_fast, new_slow], now) is new_slow
    twin = FakeHead(10, 0.0)
    assert slowest([old_slow, twin], now) is old_slow
    assert slowest([], now) is None


def test_the_sweep_ticks_at_a_tenth_of_the_shortest_timeout_grace_included() -> None:
    assert limits(body_rate_grace=0.5).tick == pytest.approx(0.05)
    assert limits(header_timeout=100.0, body_timeout=100.0, body_rate_grace=100.0).tick == 0.1


def test_the_settings_defaults_are_the_limits_defaults() -> None:
    s = ServeSettings()
    rules = limits()
    assert (s.min_body_rate, s.body_rate_grace) == (rules.min_body_rate, rules.body_rate_grace)


# -- the protocol on a real server -------------------------------------------------------------


@dataclass
class Served:
    port: int
    guard: Guard
    counts: Counter[str] = field(default_factory=Counter)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


async def tiny_app(scope: Any, receive: Any, send: Any) -> None:
    """Answers 200 with the body's length; 413 at once for a declared length over 64 MiB."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"][GUARD_KEY] = GUARDS[-1]
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = dict(scope["headers"])
    if int(headers.get(b"content-length", b"0")) > 64 << 20:
        status, body = 413, b"too large"
    else:
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        status, body = 200, str(size).encode()
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


GUARDS: list[Guard] = []


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**changes: Any) -> Served:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        counts: Counter[str] = Counter()
        served = Served(port, Guard(limits(**changes), lambda reason: counts.update([reason])))
        served.counts = counts
        GUARDS.append(served.guard)
        config = uvicorn.Config(
            tiny_app, host="127.0.0.1", port=port, http=GuardedHttpToolsProtocol,
            ws="none", lifespan="on", log_level="warning", access_log=False,
        )  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        return served

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


def post(sock: socket.socket, length: int, body: bytes = b"") -> None:
    head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
    sock.sendall(head + body)


def answer(sock: socket.socket) -> bytes:
    """What the server sent until it closed, or the first whole head."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            part = sock.recv(4096)
        except ConnectionResetError:
            return data
        if not part:
            return data
        data += part
    return data


def wait_for(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_body_trickled_below_the_minimum_rate_is_cut_after_the_grace(serve: Any) -> None:
    served = serve(min_body_rate=1000, body_rate_grace=0.3, body_timeout=30.0)
    with served.connect() as sock:
        post(sock, 900)
        early: bytes | None = None
        for _ in range(200):  # a byte every 20 ms: 50 B/s, far below 1000 B/s
            try:
                sock.sendall(b" ")
            except OSError:
                break
            if early := _ready(sock):
                break
            time.sleep(0.02)
        got = early or answer(sock)
    assert got.startswith(b"HTTP/1.1 408"), got
    assert b"body_too_slow" in got
    assert served.counts["body_too_slow"] == 1


def test_a_body_that_keeps_the_rate_is_served(serve: Any) -> None:
    served = serve(min_body_rate=100, body_rate_grace=0.2, body_timeout=30.0)
    with served.connect() as sock:
        post(sock, 600)
        for _ in range(12):  # 50 bytes every 50 ms: 1000 B/s, above 100 B/s
            sock.sendall(b"x" * 50)
            time.sleep(0.05)
        got = answer(sock)
    assert got.startswith(b"HTTP/1.1 200"), got
    assert served.counts == Counter()


def test_a_declared_length_is_not_a_reservation(serve: Any) -> None:
    served = serve(max_body_bytes_in_flight=16 * BODY_WINDOW, min_body_rate=0)  # 1 MiB
    holders = [served.connect() for _ in range(8)]
    try:
        for sock in holders:
            post(sock, 4 << 20, b"x")  # each declares 4 MiB, sends one byte
        held = 8 * (BODY_WINDOW + 1)
        wait_for(lambda: served.guard.body_bytes == held, "the holders' windows")
        assert [_ready(sock) for sock in holders] == [None] * 8  # none was refused
        with served.connect() as sock:
            post(sock, 10, b"0123456789")
            assert answer(sock).startswith(b"HTTP/1.1 200")
    finally:
        for sock in holders:
            sock.close()
    wait_for(lambda: served.guard.body_bytes == 0, "the bytes to be given back")


def test_a_large_declared_body_takes_its_window_then_only_what_arrives(serve: Any) -> None:
    served = serve(max_body_bytes_in_flight=4 * BODY_WINDOW, min_body_rate=0)
    big = served.connect()
    try:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        big.sendall(head + b"a\r\n0123456789\r\n")
        wait_for(lambda: served.guard.body_bytes > 0, "the chunked body to hold its window")
        assert served.guard.body_bytes <= BODY_WINDOW + 64
        chunk = b"x" * 4096
        early = b""  # what the server answered while the body was still being sent
        for _ in range(80):  # 320 KiB: more than the budget's 256 KiB
            try:
                big.sendall(b"1000\r\n" + chunk + b"\r\n")
            except OSError:
                break
            if seen := _ready(big):
                early = seen
                break
        got = early if b"\r\n\r\n" in early else early + answer(big)
    finally:
        big.close()
    assert got.startswith(b"HTTP/1.1 503"), got
    assert served.counts["body_budget"] == 1
    wait_for(lambda: served.guard.body_bytes == 0, "the bytes to be given back")


def test_at_the_cap_the_slowest_head_still_arriving_makes_room(serve: Any) -> None:
    served = serve(max_connections=2, header_timeout=30.0)
    fast, slow = served.connect(), served.connect()
    try:
        fast.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 4000)
        time.sleep(0.2)  # both heads are old enough to have a rate
        slow.sendall(b"G")
        wait_for(lambda: len(served.guard.heads) == 2, "two heads still arriving")
        with served.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer(sock).startswith(b"HTTP/1.1 200")
        got = answer(slow)
        assert got.startswith(b"HTTP/1.1 503"), got
        assert served.counts["evicted_head"] == 1
        fast.sendall(b"\r\n\r\n")  # the faster head was kept and is answered
        assert answer(fast).startswith(b"HTTP/1.1 200")
    finally:
        fast.close()
        slow.close()


def test_at_the_cap_a_connection_just_made_is_kept_while_a_slow_head_can_go(serve: Any) -> None:
    served = serve(max_connections=2, header_timeout=30.0)
    slow = served.connect()
    try:
        slow.sendall(b"G")
        wait_for(lambda: len(served.guard.heads) == 1, "a head still arriving")
        with served.connect() as fresh:  # its request is on the way, not sent yet
            wait_for(lambda: len(served.guard.conns) == 2, "the fresh connection")
            with served.connect() as third:
                wait_for(lambda: served.counts["evicted_head"] == 1, "the head to go")
                fresh.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert answer(fresh).startswith(b"HTTP/1.1 200")
                third.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert answer(third).startswith(b"HTTP/1.1 200")
        assert answer(slow).startswith(b"HTTP/1.1 503")
        assert served.counts["evicted_idle"] == 0
    finally:
        slow.close()


def test_the_rest_of_a_body_answered_early_is_dropped_for_the_body_timeout_at_most(
    serve: Any,
) -> None:
    served = serve(body_timeout=0.5, min_body_rate=0)
    with served.connect() as sock:
        post(sock, 1 << 30)  # over the app's limit: answered 413 at its headers
        first = answer(sock)
        closed = False
        for _ in range(500):  # a byte every 20 ms, within the gap timeout, for up to 10 s
            try:
                sock.sendall(b" ")
            except OSError:
                closed = True
                break
            if _ready(sock) == b"":
                closed = True
                break
            time.sleep(0.02)
    assert first.startswith(b"HTTP/1.1 413"), first
    assert closed, "the server kept reading a body it had answered"
    assert served.guard.body_bytes == 0


def _ready(sock: socket.socket) -> bytes | None:
    """What the server sent, without waiting: None when nothing is there yet, b"" if closed."""
    import select

    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return None
    try:
        return sock.recv(4096)
    except ConnectionResetError:
        return b""
