"""Slow and greedy clients cannot starve the others: bodies trickled below the minimum rate,
heads trickled past the connection cap, kept-alive connections left idle, and bodies over the
limit, each against a server under an open-file and address-space limit (prlimit) while a
normal client sends predictions; and a 3 GiB body through the local release's edge nginx.

The bound stated (serve/limits.py, docs/serving-limits.md): with hostile connections of each
kind below the documented limits, the normal client's requests are answered 200, at least 99%
of them (of REQUESTS sent during the attack); the figures are printed for the log.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mlgate.adapters import nginx as splitter
from mlgate.app.rollout import local, variants
from tests.faults.conftest import ServerFactory, metric, wait_until
from tests.faults.test_floods import LIMITS, RSS_GROWTH_MIB

pytestmark = [pytest.mark.faults, pytest.mark.slow]

# The normal client's requests counted (so 99% allows one that is not 200), and how long an
# attack lasts: at least ATTACK_S (past the minimum rate's grace), at most MAX_ATTACK_S.
REQUESTS = 100
ATTACK_S = 8.0
MAX_ATTACK_S = 90.0
MAX_CONNECTIONS = "100"  # well below the 256 descriptors prlimit gives the server
SHARE_OK = 0.99


@dataclass
class Attack:
    """`n` hostile connections kept open for `seconds`: `start` opens one, `step` is called on
    each every `every` seconds and says whether it is still open; closed ones are replaced."""

    port: int
    start: Callable[[socket.socket], None]
    step: Callable[[socket.socket], bool]
    n: int
    every: float
    opened: int = 0
    closed: int = 0
    refused: int = 0  # connections the server did not accept
    answers: Counter[str] = field(default_factory=Counter)

    def run(self, stop: threading.Event, seconds: float) -> None:
        """Keep `n` connections at it until `stop`, for `seconds` at most."""
        socks: list[socket.socket] = []
        end = time.monotonic() + seconds
        try:
            while not stop.is_set() and time.monotonic() < end:
                while len(socks) < self.n:
                    sock = self._open()
                    if sock is None:
                        break
                    socks.append(sock)
                for sock in list(socks):
                    self._collect(sock)
                    if not self._alive(sock):
                        socks.remove(sock)
                        sock.close()
                        self.closed += 1
                stop.wait(self.every)
        finally:
            for sock in socks:
                sock.close()

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self.start(sock)
        except OSError:
            self.refused += 1
            return None
        self.opened += 1
        return sock

    def _alive(self, sock: socket.socket) -> bool:
        try:
            return self.step(sock)
        except OSError:
            return False

    def _collect(self, sock: socket.socket) -> None:
        """Count the status line of an answer the server sent on `sock`, if any."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                data = sock.recv(65536, socket.MSG_PEEK)
                if data.startswith(b"HTTP/1.1 "):
                    self.answers[data[9:12].decode()] += 1
        except OSError:
            pass


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed `sock` (anything it sent is read and dropped)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(65536) == b""
    except OSError:
        return True


def under_attack(server_url: str, body: dict[str, object], attack: Attack, what: str) -> list[int]:
    """Run `attack`; once its connections are open, the normal client sends predictions until
    it has sent REQUESTS and the attack has lasted ATTACK_S. Prints and returns its codes."""
    halt = threading.Event()
    hostile = threading.Thread(target=attack.run, args=(halt, MAX_ATTACK_S))
    hostile.start()
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(target=normal_client, args=(server_url, body, stop, codes))
    thread.start()
    try:
        t0 = time.monotonic()
        wait_until(lambda: attack.opened >= attack.n, 60, f"{attack.n} hostile connections")
        wait_until(
            lambda: len(codes) >= REQUESTS and time.monotonic() - t0 >= ATTACK_S,
            MAX_ATTACK_S,
            f"{REQUESTS} requests of the normal client",
        )
    finally:
        stop.set()
        thread.join(timeout=60)
        halt.set()
        hostile.join(timeout=60)
    share = codes.count(200) / len(codes) if codes else 0.0
    print(
        f"\n{what}: normal client {codes.count(200)}/{len(codes)} answered 200 ({share:.1%}; "
        f"codes {dict(Counter(codes))}); hostile connections: {attack.n} at a time, "
        f"{attack.opened} opened, {attack.closed} closed by the server, {attack.refused} "
        f"not accepted, answers {dict(attack.answers)}"
    )
    return codes


def normal_client(
    url: str, body: dict[str, object], stop: threading.Event, codes: list[int]
) -> None:
    """Single-row predictions on fresh connections until `stop`, their codes appended as they
    come (-1: no answer)."""
    while not stop.is_set():
        try:
            codes.append(httpx.post(f"{url}/predict", json=body, timeout=10).status_code)
        except httpx.TransportError as exc:
            codes.append(-1)
            print("normal client:", type(exc).__name__, exc)
        stop.wait(0.02)


def assert_served(codes: list[int]) -> None:
    assert codes.count(200) >= SHARE_OK * len(codes), Counter(codes)


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Show what the test printed in the log, passed or not."""
    yield
    out = capsys.readouterr().out
    with capsys.disabled():
        print(out, end="")


def test_bodies_trickled_below_the_minimum_rate_starve_nobody(
    bundle: Path, serve: ServerFactory, report: None
) -> None:
    # The review's attack, ten times over: each declares the 16 MiB limit and sends a byte a
    # second. A body holds what arrived plus a window, and is cut after the grace (5 s).
    server = serve(bundle, "--max-connections", MAX_CONNECTIONS, limits=LIMITS)
    before = server.rss_mib()
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 16777216\r\n\r\n{"
    )

    def step(sock: socket.socket) -> bool:
        if closed_by_server(sock):
            return False
        sock.sendall(b" ")
        return True

    attack = Attack(server.port, lambda s: s.sendall(head), step, n=40, every=1.0)
    codes = under_attack(server.url, predict_body_of(bundle), attack, "slow bodies")
    assert_served(codes)
    cut = metric(server.url, "mlgate_limited_total", reason="body_too_slow")
    assert cut >= attack.n, cut  # every trickler was cut, not left to hold its slot
    assert attack.answers["408"] >= attack.n, attack.answers
    assert server.rss_mib() - before < RSS_GROWTH_MIB
    assert server.stop() == 0


def test_heads_trickled_past_the_connection_cap_starve_nobody(
    bundle: Path, serve: ServerFactory, report: None
) -> None:
    # One header byte a second on 150 connections against a cap of 100: at the cap, a new
    # connection takes the slot of the slowest of the oldest heads still arriving.
    server = serve(bundle, "--max-connections", MAX_CONNECTIONS, limits=LIMITS)
    template = b"POST /predict HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"X-Pad-{i}: 1\r\n".encode() for i in range(100)
    )
    sent: dict[socket.socket, int] = {}

    def start(sock: socket.socket) -> None:
        sock.sendall(template[:1])
        sent[sock] = 1

    def step(sock: socket.socket) -> bool:
        if closed_by_server(sock):
            sent.pop(sock, None)
            return False
        i = sent[sock]
        sock.sendall(template[i : i + 1])
        sent[sock] = i + 1
        return True

    attack = Attack(server.port, start, step, n=150, every=1.0)
    codes = under_attack(server.url, predict_body_of(bundle), attack, "slow heads past the cap")
    assert_served(codes)
    displaced = metric(server.url, "mlgate_limited_total", reason="evicted_head")
    assert displaced >= 50, displaced
    assert server.open_fds() < 256
    assert server.stop() == 0


def test_idle_kept_alive_connections_starve_nobody(
    bundle: Path, serve: ServerFactory, report: None
) -> None:
    # 300 connections each send one request and then sit idle (keep-alive 30 s), against a
    # cap of 100: the connection idle longest makes room.
    server = serve(
        bundle, "--max-connections", MAX_CONNECTIONS, "--keepalive-timeout", "30", limits=LIMITS
    )

    def start(sock: socket.socket) -> None:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")

    attack = Attack(server.port, start, lambda s: not closed_by_server(s), n=300, every=0.5)
    codes = under_attack(server.url, predict_body_of(bundle), attack, "idle kept-alive")
    assert_served(codes)
    assert metric(server.url, "mlgate_limited_total", reason="evicted_idle") >= 200
    assert server.open_fds() < 256
    assert server.stop() == 0


def test_bodies_over_the_limit_starve_nobody_and_are_not_read_for_ever(
    bundle: Path, serve: ServerFactory, report: None
) -> None:
    # 20 connections each declare 1 GiB and stream it as fast as they can: answered 413 at
    # their headers, the rest is read and dropped for at most the body timeout (2 s).
    server = serve(
        bundle, "--max-connections", MAX_CONNECTIONS, "--body-timeout", "2", limits=LIMITS
    )
    before = server.rss_mib()
    head = (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n"
    )
    chunk = b" " * (64 * 1024)

    def step(sock: socket.socket) -> bool:
        if closed_by_server(sock):
            return False
        sock.settimeout(0.05)
        # The server reads slower than this sends: a partial send is fine, it is a flood.
        with contextlib.suppress(TimeoutError):
            sock.sendall(chunk)
        return True

    attack = Attack(server.port, lambda s: s.sendall(head), step, n=20, every=0.02)
    codes = under_attack(server.url, predict_body_of(bundle), attack, "bodies over the limit")
    assert_served(codes)
    assert attack.answers["413"] >= attack.n, attack.answers
    # Each was closed after its 413 while it still sent: 1 GiB would have taken minutes.
    assert attack.closed >= attack.n, attack.closed
    assert server.rss_mib() - before < RSS_GROWTH_MIB
    assert server.stop() == 0


def predict_body_of(bundle: Path) -> dict[str, object]:
    """A valid single-row body for the bundle: its input example's first row."""
    import json
    import math

    raw = json.loads((bundle / "input_example.json").read_text())
    row = [None if isinstance(v, float) and math.isnan(v) else v for v in raw["data"][0]]
    return {"instances": [dict(zip(raw["columns"], row, strict=True))]}


# -- the local release's edge nginx ------------------------------------------------------------

GIB3 = 3 * 1024**3


def _stream(total: int) -> Iterator[bytes]:
    """`total` bytes in 1 MiB pieces, one piece in memory."""
    piece = b" " * (1 << 20)
    for _ in range(total // len(piece)):
        yield piece


def _disk_used(tmp: Path, pids: set[int]) -> int:
    """Bytes in nginx's temporary directories: files there and files its processes hold open
    under them (a temporary body may be unlinked while open)."""
    used = sum(p.stat().st_blocks * 512 for p in tmp.rglob("*") if p.is_file())
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            path = f"/proc/{pid}/fd/{fd}"
            try:
                if os.readlink(path).startswith(str(tmp)):
                    used += os.stat(path).st_blocks * 512
            except OSError:
                continue
    return used


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_3_gib_body_through_the_edge_is_413_and_disk_stays_bounded(
    bundle: Path, serve: ServerFactory, tmp_path: Path, report: None, declared: bool
) -> None:
    server = serve(bundle)
    stable = variants.external_variant(server.url, source=str(bundle), label="stable")
    workdir = tmp_path / "release"
    workdir.mkdir()
    env = local.start_environment(workdir, host="127.0.0.1", port=0, stable=stable, scrape_s=1.0)
    peak = [0]
    done = threading.Event()
    pids = {env.edge.pid, env.router.pid}
    pids |= splitter.children(env.edge.pid) | splitter.children(env.router.pid)

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _disk_used(workdir / "tmp", pids))
            done.wait(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = str(GIB3)
    try:
        answer = httpx.post(
            f"{env.url}/predict", content=_stream(GIB3), headers=headers, timeout=120
        )
        after = httpx.post(f"{env.url}/predict", json=predict_body_of(bundle), timeout=30)
    finally:
        done.set()
        watcher.join()
        local.stop_environment(env)
    print(
        f"\n3 GiB body ({'declared' if declared else 'chunked'}) through the edge: "
        f"{answer.status_code}, peak temporary disk {peak[0] / 2**20:.1f} MiB"
    )
    assert answer.status_code == 413, answer.text[:300]
    assert answer.json()["error"]["kind"] == "body_too_large"
    assert after.status_code == 200
    # At most one body of the limit (16 MiB) was buffered, by the edge only.
    assert peak[0] <= splitter.SERVER_MAX_BODY_BYTES + (1 << 20), peak[0]
