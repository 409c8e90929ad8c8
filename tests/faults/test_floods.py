"""One client cannot take the server down: header floods, silent connections, slow senders and
large bodies, against a server under an open-file and address-space limit (prlimit).

Bounds stated here: the server process gets 256 file descriptors (`prlimit --nofile`) and 3 GiB
of address space (`prlimit --as`; it maps about 1 GiB idle), its resident memory may grow by at
most 64 MiB over a flood, and other clients keep getting 200 throughout.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import ServerFactory, metric, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]

LIMITS = ("--nofile=256:256", f"--as={3 * 1024**3}")
RSS_GROWTH_MIB = 64.0


def good_client(url: str, body: dict[str, object], stop: threading.Event) -> list[int]:
    """Send single-row predictions on fresh connections until `stop`; their status codes."""
    codes: list[int] = []
    while not stop.is_set():
        try:
            codes.append(httpx.post(f"{url}/predict", json=body, timeout=10).status_code)
        except httpx.TransportError as exc:
            codes.append(-1)
            print("good client:", type(exc).__name__, exc)
        time.sleep(0.02)
    return codes


def run_good_client(
    url: str, body: dict[str, object]
) -> tuple[threading.Event, list[int], threading.Thread]:
    stop = threading.Event()
    out: list[int] = []
    thread = threading.Thread(target=lambda: out.extend(good_client(url, body, stop)))
    thread.start()
    return stop, out, thread


def test_header_flood_is_cut_at_the_limit_and_others_keep_getting_200(
    bundle: Path, serve: ServerFactory
) -> None:
    server = serve(bundle, "--max-connections", "100", limits=LIMITS)
    body = _body(bundle)
    before = server.rss_mib()
    stop, codes, thread = run_good_client(server.url, body)
    answers: list[bytes] = []
    sent: list[int] = []

    def flood() -> None:
        chunk = b"a" * (1 << 20)
        total = 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Flood: ")
            try:
                while total < 64 << 20:  # 64 MB of one header that never ends
                    sock.sendall(chunk)
                    total += len(chunk)
            except OSError:
                pass
            sent.append(total)
            try:
                answers.append(sock.recv(4096))
            except OSError:
                answers.append(b"")

    floods = [threading.Thread(target=flood) for _ in range(8)]
    for t in floods:
        t.start()
    for t in floods:
        t.join(timeout=120)
    stop.set()
    thread.join(timeout=60)
    grown = server.rss_mib() - before
    assert grown < RSS_GROWTH_MIB, f"RSS grew by {grown:.0f} MiB"
    assert max(sent) < 64 << 20, sent  # every flood was cut off before its 64 MB
    assert codes
    assert all(c == 200 for c in codes), codes
    assert metric(server.url, "mlgate_limited_total", reason="header_too_large") == 8
    assert all(a == b"" or a.startswith(b"HTTP/1.1 431") for a in answers), answers
    assert server.stop() == 0


def test_a_chunked_body_beyond_the_budget_gets_503(bundle: Path, serve: ServerFactory) -> None:
    server = serve(bundle, "--max-inflight-mb", "1", "--max-body-mb", "4")
    chunk = b" " * (64 * 1024)
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(32):  # 2 MiB in 64 KiB chunks, unless answered first
            ready, _, _ = select.select([sock], [], [], 0.05)
            if ready:
                break
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 503"), answer
    assert b"retry-after: 1" in answer.lower()
    assert b'"overloaded"' in answer
    assert metric(server.url, "mlgate_limited_total", reason="body_budget") == 1
    # Its bytes were given back with the connection: a body fits again.
    wait_until(
        lambda: metric(server.url, "mlgate_body_bytes_in_flight") == 0,
        10,
        "the refused body's bytes to be given back",
    )
    assert httpx.post(f"{server.url}/predict", json=_body(bundle)).status_code == 200


def test_each_request_on_a_kept_alive_connection_gets_its_own_header_time(
    bundle: Path, serve: ServerFactory
) -> None:
    server = serve(bundle, "--header-timeout", "1", "--keepalive-timeout", "30")
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(2.5)  # idle between requests past the header timeout: keep-alive's to judge
        sock.sendall(request)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /health HTTP/1.1\r\n")  # a third request that never ends its head
        t0 = time.monotonic()
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert 0.9 < time.monotonic() - t0 < 8


def test_the_rest_of_a_body_answered_early_is_not_read_as_headers(
    bundle: Path, serve: ServerFactory
) -> None:
    server = serve(bundle, "--max-body-mb", "1")
    size = 3 * 1024 * 1024  # 3 MiB: over the body limit, and 96x the header limit
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        first = read_response(sock)
        sock.sendall(b" " * size)  # the client sends its body all the same
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        second = read_response(sock)
    assert first.startswith(b"HTTP/1.1 413"), first
    assert second.startswith(b"HTTP/1.1 200"), second
    assert metric(server.url, "mlgate_limited_total", reason="header_too_large") == 0


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (head and Content-Length body) from `sock`; b"" once closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(4096)
        if not part:
            return data
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        part = sock.recv(4096)
        if not part:
            break
        body += part
    return head + b"\r\n\r\n" + body


def _body(bundle: Path) -> dict[str, object]:
    import json
    import math

    raw = json.loads((bundle / "input_example.json").read_text())
    row = [None if isinstance(v, float) and math.isnan(v) else v for v in raw["data"][0]]
    return {"instances": [dict(zip(raw["columns"], row, strict=True))]}


def test_too_many_headers_is_431(bundle: Path, serve: ServerFactory) -> None:
    server = serve(bundle, "--max-headers", "20")
    headers = {f"x-h{i}": "1" for i in range(30)}
    r = httpx.post(f"{server.url}/predict", json=_body(bundle), headers=headers)
    assert r.status_code == 431
    assert r.json()["error"]["kind"] == "too_many_headers"


def test_silent_connection_flood_cannot_exhaust_descriptors(
    bundle: Path, serve: ServerFactory
) -> None:
    server = serve(bundle, "--max-connections", "100", "--header-timeout", "30", limits=LIMITS)
    before = server.rss_mib()
    stop, codes, thread = run_good_client(server.url, _body(bundle))
    silent: list[socket.socket] = []
    try:
        for _ in range(1100):  # more than the server's 256 descriptors
            silent.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
        wait_until(
            lambda: metric(server.url, "mlgate_limited_total", reason="evicted_idle") >= 900,
            120,
            "the server to shed the silent connections",
        )
        time.sleep(0.5)  # let the good client run a few more rounds against the flood
        stop.set()
        thread.join(timeout=60)
        assert server.open_fds() < 256
        assert server.proc.poll() is None
    finally:
        for sock in silent:
            sock.close()
    assert codes
    assert all(c == 200 for c in codes), codes
    assert server.rss_mib() - before < RSS_GROWTH_MIB
    assert server.stop() == 0


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    bundle: Path, serve: ServerFactory
) -> None:
    server = serve(bundle, "--header-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        t0 = time.monotonic()
        assert sock.recv(100) == b""  # closed by the server, nothing to answer
        assert time.monotonic() - t0 < 8


def test_slow_headers_get_408(bundle: Path, serve: ServerFactory) -> None:
    server = serve(bundle, "--header-timeout", "1.5")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\n")
        t0 = time.monotonic()
        answer = b""
        try:
            for _ in range(20):
                sock.sendall(b"x")  # a byte at a time, never finishing the headers
                time.sleep(0.2)
        except OSError:
            pass
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - t0 < 8


def test_a_stalled_body_gets_408_and_is_not_a_bad_request(
    bundle: Path, serve: ServerFactory
) -> None:
    server = serve(bundle, "--body-timeout", "1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"instances": '
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert metric(server.url, "mlgate_limited_total", reason="body_timeout") == 1
    assert metric(server.url, "mlgate_errors_total", kind="invalid_json") == 0


def test_a_client_gone_mid_body_has_its_own_metric(bundle: Path, serve: ServerFactory) -> None:
    server = serve(bundle)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"instances": '
        )
    wait_until(
        lambda: metric(server.url, "mlgate_client_disconnects_total", route="/predict") == 1,
        10,
        "the disconnect to be counted",
    )
    assert metric(server.url, "mlgate_errors_total", kind="invalid_json") == 0


def test_body_bytes_in_flight_beyond_the_budget_get_503_with_retry_after(
    bundle: Path, serve: ServerFactory
) -> None:
    server = serve(bundle, "--max-inflight-mb", "1", "--max-body-mb", "1")
    declared, sent = 1000 * 1024, 980 * 1024
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as holder:
        # A body holds what has arrived plus a 64 KiB window (never its declared length up
        # front): 980 KiB sent of 1000 KiB declared hold all 1000 KiB.
        holder.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {declared}\r\n\r\n".encode()
            + b" " * sent
        )
        wait_until(
            lambda: metric(server.url, "mlgate_body_bytes_in_flight") == declared,
            10,
            "the first body to hold its bytes",
        )
        r = httpx.post(
            f"{server.url}/predict",
            content=b" " * (700 * 1024),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"]["kind"] == "overloaded"
    # The holder went away: its bytes are back, a body fits again.
    ok = httpx.post(f"{server.url}/predict", json=_body(bundle))
    assert ok.status_code == 200
