"""Fixtures for monitoring: a trained demo project, real servers, stand-in HTTP receivers."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Project:
    """A demo project with a trained bundle."""

    root: Path
    bundle: Path


@pytest.fixture(scope="session")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The demo project, trained once (3000 rows, the default forest)."""
    from mlgate.app.scaffold import init_demo
    from mlgate.app.train import train
    from mlgate.store.project import load_project

    root = tmp_path_factory.mktemp("monitor-demo") / "demo"
    init_demo(root, rows=3000)
    result = train(load_project(root))
    return Project(root, result.bundle_dir)


@pytest.fixture
def project(monitored: Project, tmp_path: Path) -> Project:
    """A private copy of the trained project."""
    dest = tmp_path / "demo"
    shutil.copytree(monitored.root, dest)
    return Project(dest, dest / monitored.bundle.relative_to(monitored.root))


@dataclass
class Received:
    """One request a receiver got."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records POSTs and answers with `status`."""

    url: str
    requests: list[Received] = field(default_factory=list)


Check = Callable[[Received], int]


@pytest.fixture
def receiver() -> Iterator[Callable[[Check], Receiver]]:
    """Start receivers; each answers what its `check` returns for the request it got."""
    servers: list[ThreadingHTTPServer] = []

    def start(check: Check) -> Receiver:
        box: list[Receiver] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("latin-1")
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                box[0].requests.append(got)
                status = check(got)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}"))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return box[0]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# The model server fixture (real `mlgate serve` subprocesses on free ports).
from tests.integration.serve.conftest import serve  # noqa: E402, F401
