"""Fixtures for the model server: one trained bundle per session, real servers on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Trained:
    """A demo bundle (with model.onnx) and what produced it."""

    bundle_dir: Path
    model: Any
    x_holdout: pd.DataFrame
    task: str


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Train the demo project once and add the ONNX export to its bundle."""
    from mlgate.app.scaffold import init_demo
    from mlgate.app.train import train
    from mlgate.model.onnx import export_onnx
    from mlgate.store import bundle
    from mlgate.store.project import load_project

    root = tmp_path_factory.mktemp("serve-demo")
    init_demo(root, rows=3000)
    result = train(load_project(root))
    b = bundle.load_bundle(result.bundle_dir)
    # The demo's forest is exported by training only when `model.onnx` asks for it: the
    # fixture adds the file and re-seals the bundle.
    exported = export_onnx(result.model, result.split.x_test, b.schema.features, b.meta.task)
    assert exported is not None
    (result.bundle_dir / bundle.ONNX_FILE).write_bytes(exported)
    bundle.seal(result.bundle_dir)
    return Trained(result.bundle_dir, result.model, result.split.x_test, b.meta.task)


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it holds, failing with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Server:
    """A `mlgate serve` subprocess."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def ready(self) -> bool:
        """True once /ready answers 200; fails fast if the process died."""
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited: {self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> int:
        """SIGTERM, then wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


ServerFactory = Callable[..., Server]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start `mlgate serve BUNDLE ...` on a free port; every started server is stopped after."""
    started: list[Server] = []

    def start(bundle_dir: Path, *args: str) -> Server:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        code = "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"
        cmd = [sys.executable, "-c", code, "serve", str(bundle_dir), "--port", str(port), *args]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        server = Server(proc, f"http://127.0.0.1:{port}", log_path)
        started.append(server)
        wait_until(server.ready, 60, "the server to be ready")
        return server

    yield start
    for server in started:
        server.stop()
