"""The model servers of a release: how the local Prometheus selects each one's series, and
external servers, reached (never started nor stopped) over real HTTP on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlgate.adapters import procs
from mlgate.app.rollout import variants
from mlgate.errors import UsageError
from tests.unit.app.rollout.fakes import variant

pytestmark = pytest.mark.unit


class Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ready" else 404)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_selectors_tell_the_splitter_series_from_the_server_series() -> None:
    sel = variants.selectors(variant("127.0.0.1:9001").model_copy(
        update={"metrics_address": "127.0.0.1:9101"}
    ))  # fmt: skip
    assert sel.http == 'job="mlgate-splitter",upstream="127.0.0.1:9001"'
    assert sel.model == 'job="mlgate",instance="127.0.0.1:9101"'


def test_an_external_server_is_reached_and_left_alone(server: str) -> None:
    found = variants.external_variant(
        server, source=server, label="ext", metrics_url="http://127.0.0.1:9999"
    )
    assert found.kind == "external"
    assert found.metrics_address == "127.0.0.1:9999"
    assert found.url == server
    assert variants.ready(found)
    assert variants.running(found)
    variants.stop_variant(found)  # an external server is never stopped
    assert variants.running(found)


def test_an_external_server_that_is_not_ready_is_refused() -> None:
    url = f"http://127.0.0.1:{procs.free_port()}"
    with pytest.raises(UsageError, match="is not ready"):
        variants.external_variant(url, source=url, label="x")


@pytest.mark.parametrize("url", ["https://127.0.0.1:1", "http://host-without-port", "ftp://a:1"])
def test_an_address_needs_http_host_and_port(url: str) -> None:
    with pytest.raises(UsageError, match="is not an http://HOST:PORT address"):
        variants.external_variant(url, source=url, label="x")


def test_a_process_variant_runs_while_its_process_does(tmp_path: Path) -> None:
    ref = procs.spawn(["sleep", "30"], what="stand-in server", log=tmp_path / "server.log")
    found = variant("127.0.0.1:1").model_copy(update={"kind": "process", "proc": ref})
    assert variants.running(found)
    variants.stop_variant(found)
    assert not variants.running(found)


def test_the_variants_of_a_release_share_one_feedback_secret(tmp_path: Path) -> None:
    first = variants.release_secret(tmp_path / "release")
    assert variants.release_secret(tmp_path / "release") == first
    assert len(first) == 64
    mode = (tmp_path / "release" / variants.FEEDBACK_SECRET_FILE).stat().st_mode & 0o777
    assert mode == 0o600
    assert variants.release_secret(tmp_path / "other") != first
