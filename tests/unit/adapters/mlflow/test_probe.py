"""The tracking server's health probe sends the credentials MLflow's client sends (the URI's,
else the environment's), against a real HTTP server on 127.0.0.1, and never shows them."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlgate.adapters.mlflow.probe import authorization, check_health
from mlgate.adapters.mlflow.reads import MlflowStore
from mlgate.errors import InfraError

pytestmark = pytest.mark.unit

PASSWORD = "s3cr3t-Pa55"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class _Guarded(ThreadingHTTPServer):
    """`/health` answers 200 to the expected Authorization header, 401 to anything else."""

    expected: str | None = None
    seen: list[str | None]


class _Handler(BaseHTTPRequestHandler):
    server: _Guarded

    def do_GET(self) -> None:
        got = self.headers.get("Authorization")
        self.server.seen.append(got)
        status = 200 if self.path == "/health" and got == self.server.expected else 401
        body = b"OK" if status == 200 else b"Unauthorized"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def guarded() -> Iterator[_Guarded]:
    server = _Guarded(("127.0.0.1", 0), _Handler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _port(server: _Guarded) -> int:
    return int(server.server_address[1])


def test_the_uri_credentials_are_sent_as_basic_auth(guarded: _Guarded) -> None:
    guarded.expected = _basic("user", PASSWORD)
    uri = f"http://user:{PASSWORD}@127.0.0.1:{_port(guarded)}"
    check_health(uri, environ={})
    assert guarded.seen == [guarded.expected]
    # Through the store too: its `uri` is what messages show.
    store = MlflowStore(uri)
    store.check_reachable()
    assert store.uri == f"http://user:***@127.0.0.1:{_port(guarded)}"
    assert store.tracking_uri == uri


def test_percent_encoded_credentials_are_decoded(guarded: _Guarded) -> None:
    guarded.expected = _basic("us er", "p@ss/w:rd")
    check_health(f"http://us%20er:p%40ss%2Fw%3Ard@127.0.0.1:{_port(guarded)}", environ={})


def test_environment_credentials_and_token_when_the_uri_has_none(
    guarded: _Guarded, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_port(guarded)}"
    env = {"MLFLOW_TRACKING_USERNAME": "ci", "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    guarded.expected = _basic("ci", PASSWORD)
    check_health(url, environ=env)
    assert authorization(url, {"MLFLOW_TRACKING_TOKEN": "tok"}, tmp_path) == (url, "Bearer tok")
    assert authorization(url, {}, tmp_path) == (url, None)
    # The URI's own credentials win, as they do in MLflow's client.
    assert authorization(f"http://a:b@127.0.0.1:{_port(guarded)}", env, tmp_path)[1] == _basic(
        "a", "b"
    )


def test_mlflows_credentials_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".mlflow").mkdir()
    (tmp_path / ".mlflow" / "credentials").write_text(
        f"[mlflow]\nmlflow_tracking_username = filer\nmlflow_tracking_password = {PASSWORD}\n"
    )
    assert authorization("http://h:1", {}, tmp_path) == ("http://h:1", _basic("filer", PASSWORD))


def test_refused_credentials_are_named_without_the_password(guarded: _Guarded) -> None:
    guarded.expected = _basic("user", "right")
    uri = f"http://user:{PASSWORD}@127.0.0.1:{_port(guarded)}"
    with pytest.raises(InfraError) as caught:
        check_health(uri, environ={})
    message = str(caught.value)
    assert "refused the credentials (HTTP 401)" in message
    assert "user:***@127.0.0.1" in message
    assert PASSWORD not in message


def test_an_unreachable_registry_with_credentials_shows_no_password() -> None:
    with pytest.raises(InfraError) as caught:
        MlflowStore(f"http://user:{PASSWORD}@127.0.0.1:1").check_reachable()
    message = str(caught.value)
    assert message.startswith("MLflow registry at http://user:***@127.0.0.1:1 is unreachable")
    assert PASSWORD not in message
    assert caught.value.exit_code == 3
