"""Fixtures for end-to-end tests with real containers and a real image registry.

One demo bundle and ONE image build per test run: every test that needs an image shares it.
Tests skip, saying why, when podman cannot run containers here or the local base image is
missing; `scripts/setup-containers.sh` sets both up (CI runs it before the tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlgate.adapters.container.engine import Engine
from mlgate.app.image.build import BuildOptions, BuildResult, build_image
from mlgate.app.image.smoke import free_port
from mlgate.app.scaffold import init_demo
from mlgate.app.train import train
from mlgate.store.project import load_project

BASE_IMAGE = os.environ.get("MLGATE_TEST_BASE_IMAGE", "localhost/mlgate-base:bookworm")
REPOSITORY = "localhost/mlgate-e2e"
DEMO_ROWS = 2000
SETUP_HINT = "run `bash scripts/setup-containers.sh` (root) to set podman up"


@dataclass(frozen=True)
class Registry:
    """A running docker-registry on 127.0.0.1."""

    address: str
    pid: int


def small_demo(root: Path, *, seed: int = 42) -> Path:
    """A demo project with a small, fast forest; returns its trained bundle directory."""
    init_demo(root, rows=DEMO_ROWS)
    cfg = root / "mlgate.yaml"
    text = cfg.read_text()
    for old, new in (("n_estimators: 100", "n_estimators: 15"), ("seed: 42", f"seed: {seed}")):
        assert old in text, old
        text = text.replace(old, new)
    cfg.write_text(text)
    return train(load_project(root)).bundle_dir


@pytest.fixture(scope="session")
def engine() -> Engine:
    """podman, when it can run containers here and the base image exists; else skip."""
    path = shutil.which("podman")
    if path is None:
        pytest.skip(f"podman is not on PATH: {SETUP_HINT}")
    eng = Engine(name="podman", path=path)
    info = eng.run(["info"], what="podman info", check=False, timeout=120)
    if info.returncode != 0:
        pytest.skip(f"podman cannot run here ({info.stderr.strip()[-200:]}): {SETUP_HINT}")
    if not eng.image_exists(BASE_IMAGE):
        pytest.skip(f"base image {BASE_IMAGE} is missing: {SETUP_HINT}")
    return eng


@pytest.fixture(scope="session")
def demo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained demo bundle (2000 rows, 15 trees)."""
    return small_demo(tmp_path_factory.mktemp("e2e-demo") / "demo")


@pytest.fixture(scope="session")
def built(engine: Engine, demo_bundle: Path) -> BuildResult:
    """The one image of the test run: built from the demo bundle, smoke test included."""
    return build_image(
        BuildOptions(
            bundle_dir=demo_bundle,
            tag=REPOSITORY,
            engine="podman",
            base_image=BASE_IMAGE,
            revision="e2e" + "0" * 37,
            source_url="https://example.invalid/mlgate-e2e",
        )
    )


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """docker-registry on a free loopback port, storage in a temp dir; stopped by PID."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip(f"docker-registry is not installed: {SETUP_HINT}")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"docker-registry did not start: {(root / 'registry.log').read_text()}"
                )
            time.sleep(0.1)
        yield Registry(address=f"127.0.0.1:{port}", pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
