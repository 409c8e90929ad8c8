"""Secrets never printed: a real MLflow tracking server behind basic auth (a reverse proxy on
127.0.0.1 that answers 401 without the right `Authorization` header), used as
`http://user:PASSWORD@127.0.0.1:PORT`. `mlgate run` (registering through the proxy, artifacts
included), `models` and `promote` work, and no output of any command run shows the password;
wrong credentials and an unreachable server are named without it.
"""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlgate.adapters.mlflow import TRACKING_URI_ENV
from mlgate.app.scaffold import init_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USER = "ci-user"
PASSWORD = "s3cret-Pa55w0rd-q7"
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "host", "authorization"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class _Counts:
    forwarded: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Proxy(ThreadingHTTPServer):
    daemon_threads = True
    upstream: int
    expected: str
    counts: _Counts


class _Handler(BaseHTTPRequestHandler):
    """Forward a request with the right Basic credentials to MLflow; 401 anything else."""

    server: _Proxy
    protocol_version = "HTTP/1.1"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in HOP_HEADERS and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self) -> None:
        body = self._body()
        if self.headers.get("Authorization") != self.server.expected:
            with self.server.counts.lock:
                self.server.counts.refused += 1
            self._answer(401, [("WWW-Authenticate", 'Basic realm="mlflow"')], b"Unauthorized")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream, timeout=120)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        with self.server.counts.lock:
            self.server.counts.forwarded += 1
        self._answer(response.status, response.getheaders(), data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass(frozen=True)
class Guarded:
    port: int
    counts: _Counts

    def uri(self, password: str = PASSWORD) -> str:
        return f"http://{USER}:{password}@127.0.0.1:{self.port}"


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow server exited: {log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"mlflow server not healthy: {log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """`mlflow server` (SQLite, proxied artifacts) reachable only through the auth proxy."""
    state = tmp_path_factory.mktemp("mlflow-auth")
    port = _free_port()
    log = state / "mlflow.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "server",
             "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}",
             "--artifacts-destination", str(state / "artifacts"),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            process_group=0,
        )  # fmt: skip
    proxy: _Proxy | None = None
    try:
        _wait_healthy(port, proc, log)
        proxy = _Proxy(("127.0.0.1", 0), _Handler)
        proxy.upstream = port
        proxy.expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        proxy.counts = _Counts()
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        yield Guarded(int(proxy.server_address[1]), proxy.counts)
    finally:
        if proxy is not None:
            proxy.shutdown()
            proxy.server_close()
        # The server forks its workers into the process group it leads: stop that group.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets") / "demo"
    init_demo(root, rows=1500)
    path = root / "mlgate.yaml"
    text = path.read_text().replace("n_estimators: 100", "n_estimators: 20")
    path.write_text(text.replace("n_jobs: -1", "n_jobs: 1"))
    return root


@dataclass(frozen=True)
class Ran:
    code: int
    output: str


def _mlgate(uri: str, *args: str, extra: dict[str, str] | None = None) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env.update({TRACKING_URI_ENV: uri, **(extra or {})})
    proc = subprocess.run(
        [sys.executable, "-m", "mlgate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Ran(proc.returncode, proc.stdout + proc.stderr)


def test_a_registry_behind_basic_auth_works_and_no_output_shows_the_password(
    guarded: Guarded, project: Path
) -> None:
    config = ("--config", str(project))
    uri = guarded.uri()
    ran = [
        _mlgate(uri, "run", *config),
        _mlgate(uri, "promote", "--reason", "first", *config),
        _mlgate(uri, "models", *config),
        _mlgate(uri, "models", "--json", *config),
        _mlgate(uri, "serve", "models:/churn@staging", *config),
    ]
    assert [r.code for r in ran] == [0, 0, 0, 0, 2], [r.output for r in ran]
    for r in ran:
        assert PASSWORD not in r.output
    # The registry is named, redacted, and the version went through the proxy.
    assert f"{USER}:***@127.0.0.1:{guarded.port}" in ran[0].output
    assert '"version": 1' in ran[3].output
    assert guarded.counts.forwarded > 0
    assert guarded.counts.refused == 0
    # The environment's credentials work as well as the URI's.
    plain = f"http://127.0.0.1:{guarded.port}"
    creds = {"MLFLOW_TRACKING_USERNAME": USER, "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    listed = _mlgate(plain, "models", *config, extra=creds)
    assert listed.code == 0, listed.output
    assert PASSWORD not in listed.output
    assert guarded.counts.refused == 0


def test_wrong_credentials_are_refused_without_showing_them(
    guarded: Guarded, project: Path
) -> None:
    wrong = "wr0ng-Pa55w0rd-z9"
    ran = _mlgate(guarded.uri(wrong), "models", "--config", str(project))
    assert ran.code == 3, ran.output
    assert "refused the credentials (HTTP 401)" in ran.output
    assert wrong not in ran.output
    assert f"{USER}:***@" in ran.output


def test_an_unreachable_registry_with_credentials_shows_no_password(project: Path) -> None:
    uri = f"http://{USER}:{PASSWORD}@127.0.0.1:{_free_port()}"
    for command in (("models",), ("promote",), ("rollback",), ("serve", "models:/churn/1")):
        ran = _mlgate(uri, *command, "--config", str(project))
        assert ran.code == 3, ran.output
        assert "is unreachable" in ran.output
        assert PASSWORD not in ran.output
        assert f"{USER}:***@127.0.0.1" in ran.output


TOKEN = "xoxb-T0k3nInThePath-8f3a9c"


class _Echo(BaseHTTPRequestHandler):
    """A webhook receiver that refuses every delivery, quoting the path it was sent to."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"invalid_token: no hook at {self.path}".encode()
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_failed_alert_delivery_shows_no_token(receiver: int) -> None:
    # `_post` is the one delivery of the monitor's alerts (webhook and repository_dispatch).
    from mlgate.app.monitor.alerts import _post
    from mlgate.errors import InfraError, UsageError

    with pytest.raises(InfraError) as refused:
        _post(f"http://127.0.0.1:{receiver}/hooks/{TOKEN}", {"text": "drift"}, {}, "webhook")
    assert f"127.0.0.1:{receiver}/hooks/*** answered 403: invalid_token" in str(refused.value)
    assert TOKEN not in str(refused.value)
    # Slack's own address, unreachable from here: the token in its path is not shown.
    slack = f"https://hooks.slack.com/services/T0000/B0000/{TOKEN}"
    with pytest.raises(InfraError) as unreachable:
        _post(slack, {"text": "drift"}, {}, "webhook")
    assert "cannot reach https://hooks.slack.com/services/T0000/B0000/***" in str(unreachable.value)
    assert TOKEN not in str(unreachable.value)
    # An address urllib cannot use (a raw '/' in the password) is bad input, named redacted.
    with pytest.raises(UsageError) as bad:
        _post(f"http://hook:{PASSWORD}/x@127.0.0.1:{receiver}/", {}, {}, "webhook")
    assert bad.value.exit_code == 2
    assert PASSWORD not in str(bad.value)
    assert PASSWORD.split("/")[0] not in str(bad.value)


def test_the_canary_webhook_answers_without_the_prometheus_password() -> None:
    import json

    from mlgate.app.rollout.webhook import WebhookDefaults, handle

    payload = {
        "name": "churn",
        "namespace": "prod",
        "phase": "Progressing",
        "metadata": {"stable_selector": 'app="a"', "canary_selector": 'app="b"'},
    }
    dead = f"http://prom:{PASSWORD}@127.0.0.1:{_free_port()}"
    status, answer = handle(json.dumps(payload).encode(), WebhookDefaults(prometheus=dead))
    assert status == 503
    assert "prom:***@127.0.0.1" in answer["error"]
    assert PASSWORD not in json.dumps(answer)
