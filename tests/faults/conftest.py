"""Fixtures for the fault-injection suite: real `mlgate` processes on 127.0.0.1, a small demo
project per test, keys, servers under resource limits, and conditions to wait for.

Everything here starts real processes (the CLI as users run it) and stops them by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mlgate.app.scaffold import init_demo

DEMO_ROWS = 1200
CLI = "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def free_port() -> int:
    """A port free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cli_argv(*args: str) -> list[str]:
    """The command line of `mlgate ARGS` in this interpreter."""
    return [sys.executable, "-c", CLI, *args]


@dataclass
class Done:
    """A finished `mlgate` process."""

    code: int
    out: str
    err: str


def mlgate(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> Done:
    """Run `mlgate ARGS` to completion."""
    proc = subprocess.run(
        cli_argv(*args),
        cwd=cwd,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


def edit(root: Path, old: str, new: str) -> None:
    """Replace one snippet of mlgate.yaml (asserting it was there)."""
    path = root / "mlgate.yaml"
    text = path.read_text()
    assert old in text, f"{old!r} not in mlgate.yaml"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="session")
def fault_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo project (few trees) that tests copy, never modify."""
    root = tmp_path_factory.mktemp("faults-demo") / "demo"
    init_demo(root, rows=DEMO_ROWS)
    edit(root, "n_estimators: 100", "n_estimators: 12")
    edit(root, "n_jobs: -1", "n_jobs: 1")
    return root


@pytest.fixture
def project(fault_template: Path, tmp_path: Path) -> Path:
    """A private copy of the small demo project, with its own TMPDIR (checked for leftovers)."""
    dest = tmp_path / "demo"
    shutil.copytree(fault_template, dest)
    (tmp_path / "tmp").mkdir()
    return dest


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of the processes a test starts: its own TMPDIR, no stray registry."""
    out = dict(os.environ)
    out.pop("MLFLOW_TRACKING_URI", None)
    for key in ("MLGATE_PUBLIC_KEY", "MLGATE_SIGNING_KEY", "MLGATE_TRUSTED_TYPES"):
        out.pop(key, None)
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    out["TMPDIR"] = str(tmp)
    return out


@dataclass
class Server:
    """A `mlgate serve` process (optionally under prlimit)."""

    proc: subprocess.Popen[bytes]
    url: str
    port: int
    log_path: Path
    started: list[float] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        """True once /ready answers 200; fails fast if the process died."""
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited {self.proc.returncode}: {self.log()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/ready", timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def rss_mib(self) -> float:
        """Resident memory of the server process (MiB)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the server did not stop within the timeout") from None


ServerFactory = Callable[..., Server]


@pytest.fixture
def serve(tmp_path: Path, env: dict[str, str]) -> Iterator[ServerFactory]:
    """Start `mlgate serve SOURCE ARGS` (optionally `prlimit LIMITS`); stopped after the test."""
    started: list[Server] = []

    def start(
        source: str | Path,
        *args: str,
        limits: tuple[str, ...] = (),
        cwd: Path | None = None,
        wait: bool = True,
    ) -> Server:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        argv = cli_argv("serve", str(source), "--port", str(port), *args)
        if limits:
            argv = ["prlimit", *limits, "--", *argv]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd or tmp_path
            )
        server = Server(proc, f"http://127.0.0.1:{port}", port, log_path)
        started.append(server)
        if wait:
            wait_until(server.ready, 120, "the server to be ready")
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def predict_body(root: Path) -> dict[str, object]:
    """One valid single-row body for the demo model: the bundle's input example, first row."""
    import json
    import math

    raw = json.loads((root / "models" / "model" / "input_example.json").read_text())
    row = [None if isinstance(v, float) and math.isnan(v) else v for v in raw["data"][0]]
    return {"instances": [dict(zip(raw["columns"], row, strict=True))]}


@pytest.fixture(scope="session")
def served_template(fault_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small demo project, trained once (its bundle has model.onnx), never modified."""
    from mlgate.app.train import train
    from mlgate.store.project import load_project

    root = tmp_path_factory.mktemp("faults-served") / "demo"
    shutil.copytree(fault_template, root)
    train(load_project(root))
    return root


@pytest.fixture
def bundle(served_template: Path, tmp_path: Path) -> Path:
    """A private copy of the trained demo bundle."""
    dest = tmp_path / "bundle"
    shutil.copytree(served_template / "models" / "model", dest)
    return dest


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of the server's Prometheus metrics (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
