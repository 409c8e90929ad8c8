"""Real servers for the feature-store tests: Redis (Feast's online store at scale) and Feast's
Python feature server (`feast serve`), each a child process on a free port of 127.0.0.1, stopped
by PID (the feature server by its process group: gunicorn forks its worker) on exit.

    with RedisServer(tmp_path / "redis") as redis:   # redis.port; redis.stop() mid-test
        ...
    with feature_server(repo, free_port()) as url:   # "http://127.0.0.1:PORT"
        ...
    server = Serving(bundle, url, log_dir)           # mlgate serve --online-features url
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
REDIS_INSTALL = "sudo apt-get install -y --no-install-recommends redis-server (or sudo make system)"


def free_port() -> int:
    """A port free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _exited(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether `proc` exits within `timeout`, left unreaped (a zombie keeps its PID, hence its
    process group's ID, from being reused while the group is signalled)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:  # already reaped
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def _stop(proc: subprocess.Popen[bytes], *, group: bool) -> None:
    """SIGTERM, SIGKILL after STOP_TIMEOUT, then reap. `group`: signal the whole process group
    (the leader's session), and SIGKILL whatever of it outlives the leader."""
    if proc.returncode is not None:  # reaped already: its PID may belong to another process
        return

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    send(signal.SIGTERM)
    if not _exited(proc, STOP_TIMEOUT):
        send(signal.SIGKILL)
        _exited(proc, STOP_TIMEOUT)
    if group:  # a worker the leader left behind
        send(signal.SIGKILL)
    proc.wait(timeout=STOP_TIMEOUT)


def _redis_pong(port: int) -> bool:
    """Whether a Redis server on `port` answers PING (the inline command, no client library)."""
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """`redis-server` on a free port of 127.0.0.1, no persistence, its files in `workdir`.

    A context manager: entering starts it and waits until it answers PING; `stop()` (also
    mid-test, to take the online store down) and exit end it. Skips when redis-server is not
    installed (tests/conftest.py fails that skip as root under MLGATE_TEST_REQUIRE_SYSTEM=1).
    """

    def __init__(self, workdir: Path, prefix: Sequence[str] = ()) -> None:
        self.workdir = workdir
        self.prefix = tuple(prefix)  # e.g. taskset, for the benchmarks
        self.port = 0
        self.log = workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server", path=f"{os.environ.get('PATH', '')}:/usr/bin:/usr/sbin")
        if exe is None:
            pytest.skip(f"redis-server is not installed: {REDIS_INSTALL}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # another process may take the free port first
            self.port = free_port()
            argv = [*self.prefix, exe, "--port", str(self.port), "--bind", HOST, "--save", ""]
            argv += ["--appendonly", "no", "--daemonize", "no", "--dir", str(self.workdir)]
            with self.log.open("ab") as out:
                self._proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while self._proc.poll() is None and time.monotonic() < deadline:
                if _redis_pong(self.port):
                    return self
                time.sleep(0.02)
            _stop(self._proc, group=False)
        raise RuntimeError(f"redis-server did not answer PING on {self.port}:\n{_tail(self.log)}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after a timeout) and reap it; idempotent."""
        if self._proc is not None:
            _stop(self._proc, group=False)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[int]:
    """A RedisServer for the block; yields its port."""
    with RedisServer(workdir) as server:
        yield server.port


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def feature_server(
    repo: Path, port: int, *, feast: Path | None = None, prefix: Sequence[str] = ()
) -> Iterator[str]:
    """`feast serve` (HTTP) for the feature repository `repo` on 127.0.0.1:`port`; yields its
    base URL once `GET /health` answers 200.

    One gunicorn worker that never recycles (`--max-requests 0`: a recycled worker reloads the
    store, a pause mid-test), no metrics server, no access log. Its output goes to
    `feast-serve-PORT.log` beside `repo`; a server not up within START_TIMEOUT raises with the
    log's tail. `feast`: the CLI of another environment than this interpreter's.
    """
    log = repo.parent / f"feast-serve-{port}.log"
    exe = str(feast or BIN / "feast")  # `prefix`: e.g. taskset, for the benchmarks
    argv = [*prefix, exe, "--chdir", str(repo), "serve", "--host", HOST, "--port", str(port)]
    argv += ["--workers", "1", "--max-requests", "0", "--max-requests-jitter", "0"]
    argv += ["--no-access-log"]
    env = {**os.environ, "FEAST_USAGE": "False"}
    url = f"http://{HOST}:{port}"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"feast serve exited ({proc.returncode}):\n{_tail(log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"feast serve not up after {START_TIMEOUT} s:\n{_tail(log)}")
            time.sleep(0.1)
        yield url
    finally:
        _stop(proc, group=True)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}


class Serving:
    """`mlgate serve BUNDLE --online-features URL` on a free port."""

    def __init__(self, bundle: Path, online: str, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir.parent / f"serve-{self.port}.log"
        argv = [str(BIN / "mlgate"), "serve", str(bundle), "--port", str(self.port)]
        argv += ["--online-features", online, "--log-dir", str(log_dir)]
        # Generous: a loaded machine's first lookups (Feast loading its registry) are slow;
        # Redis stopped is still a 503, from the feature server's 500.
        argv += ["--online-timeout", "20"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=_env())
        deadline = time.monotonic() + 90
        while not self._ready():
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.1)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        try:
            return httpx.get(f"{self.url}/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def predict(self, rows: list[dict[str, Any]]) -> httpx.Response:
        body = {"instances": rows, "probabilities": True}
        return httpx.post(f"{self.url}/predict", json=body, timeout=30)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0, self.log.read_text()[-3000:]

    def kill(self) -> None:
        """SIGKILL it if it still runs (cleanup after a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
