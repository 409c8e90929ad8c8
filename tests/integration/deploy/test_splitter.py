"""The splitter on real nginx: every rendered config passes `nginx -t`, and reloading the split
under keep-alive load fails no request (clients talk to the edge, which is never reloaded)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlgate.adapters import nginx as splitter
from mlgate.adapters.nginx import AbKey, Route
from mlgate.app.rollout import local, variants
from tests.integration.deploy.conftest import Load

pytestmark = pytest.mark.integration


class QuickServer(ThreadingHTTPServer):
    """A threaded server with a listen backlog deep enough for bursts of new connections."""

    request_queue_size = 128
    daemon_threads = True


class Backend:
    """A tiny real HTTP server that says who it is (the split is what is under test)."""

    def __init__(self, name: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = json.dumps({"version": name, "predictions": [0]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = QuickServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backends() -> Iterator[tuple[Backend, Backend]]:
    pair = (Backend("a"), Backend("b"))
    yield pair
    for b in pair:
        b.close()


ROUTES = [
    Route("127.0.0.1:1"),
    Route("127.0.0.1:1", "127.0.0.1:2", "canary", 0),
    Route("127.0.0.1:1", "127.0.0.1:2", "canary", 35),
    Route("127.0.0.1:1", "127.0.0.1:2", "canary", 100),
    Route("127.0.0.1:1", "127.0.0.1:2", "shadow"),
    Route("127.0.0.1:1", "127.0.0.1:2", "ab", 50, AbKey("header", "X-User-ID")),
    Route("127.0.0.1:1", "127.0.0.1:2", "ab", 20, AbKey("cookie", "session")),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.mode}-{r.weight}")
def test_every_router_config_passes_nginx_t(tmp_path: Path, route: Route) -> None:
    splitter.write_config(tmp_path / "router.conf", splitter.render_router(tmp_path, 9, route))
    splitter.write_config(tmp_path / "edge.conf", splitter.render_edge(tmp_path, "127.0.0.1", 8, 9))


def test_reloading_the_split_under_keep_alive_load_fails_no_request(
    tmp_path: Path, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    stable = variants.external_variant(f"http://{a.address}", source="a", label="a")
    env = local.start_environment(tmp_path, host="127.0.0.1", port=0, stable=stable, scrape_s=1.0)
    try:
        rows = [{"x": 1}]
        with Load(env.url, rows, [0], clients=6, pause=0.0) as load:
            load.wait_answers(100)
            for i in range(12):
                weight = (i % 3 + 1) * 30
                local.set_route(tmp_path, env, Route(a.address, b.address, "canary", weight))
                load.wait_answers(len(load.answers) + 50)
            local.set_route(tmp_path, env, Route(b.address))
            after = load.sent_after(time.time(), n=50)
    finally:
        local.stop_environment(env)
    assert load.failed() == [], Counter(x.status for x in load.failed())
    served = Counter(x.version for x in load.answers)
    assert served["a"] > 0
    assert served["b"] > 0
    assert {x.version for x in after} == {"b"}
