"""Fixtures for the registry suite: a demo project per test, and the registry it talks to.

`backend` runs each test twice: against the embedded SQLite registry under the project, and
against the team-scale MLflow server (PostgreSQL backend) whose URI CI puts in
MLGATE_TEST_TRACKING_URI after `scripts/start-mlflow-server.sh`. Without that variable the
server case is skipped, saying how to enable it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlgate import cli
from mlgate.adapters.mlflow import TRACKING_URI_ENV, open_registry
from mlgate.adapters.mlflow.writes import MlflowRegistry
from mlgate.app.scaffold import init_demo

DEMO_ROWS = 2000
SERVER_ENV = "MLGATE_TEST_TRACKING_URI"


@dataclass
class Env:
    """A demo project wired to one registry backend."""

    root: Path
    name: str
    uri: str
    backend: str

    @property
    def config(self) -> str:
        return str(self.root / "mlgate.yaml")

    def registry(self) -> MlflowRegistry:
        return open_registry(self.root)

    def edit(self, old: str, new: str) -> None:
        path = self.root / "mlgate.yaml"
        text = path.read_text()
        assert old in text, f"{old!r} not in mlgate.yaml"
        path.write_text(text.replace(old, new))


@pytest.fixture(scope="session")
def registry_demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2000-row demo project that tests copy, never modify.

    Its embedded registry database is created once here: MLflow's schema migrations take
    seconds, and every SQLite test would otherwise pay them again.
    """
    root = tmp_path_factory.mktemp("registry-demo") / "demo"
    init_demo(root, rows=DEMO_ROWS)
    saved = os.environ.pop(TRACKING_URI_ENV, None)
    try:
        registry = open_registry(root)
        assert registry.champion("churn") is None
        # The lookup reads the store without creating it; MLflow's client creates it here.
        MlflowClient(tracking_uri=registry.tracking_uri).search_registered_models()
    finally:
        if saved is not None:
            os.environ[TRACKING_URI_ENV] = saved
    return root


@pytest.fixture(params=["sqlite", "server"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which registry the test runs against."""
    if request.param == "server" and not os.environ.get(SERVER_ENV):
        pytest.skip(
            f"{SERVER_ENV} is not set: start the MLflow server with PostgreSQL backend via "
            f'`export {SERVER_ENV}="$(scripts/start-mlflow-server.sh)"` to run this case'
        )
    return str(request.param)


@pytest.fixture
def env(
    backend: str,
    registry_demo_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Env:
    """A private demo project with a model name unique to this test (the server is shared)."""
    root = tmp_path / "demo"
    shutil.copytree(registry_demo_template, root)
    name = f"churn-{uuid.uuid4().hex[:10]}"
    path = root / "mlgate.yaml"
    text = path.read_text().replace("name: churn\n", f"name: {name}\n")
    # Fewer trees on one core: the machine is shared and the gates still pass comfortably.
    text = text.replace("n_estimators: 100", "n_estimators: 40").replace("n_jobs: -1", "n_jobs: 1")
    path.write_text(text)
    if backend == "server":
        uri = os.environ[SERVER_ENV]
        monkeypatch.setenv(TRACKING_URI_ENV, uri)
    else:
        monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
        uri = open_registry(root).uri
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    return Env(root=root, name=name, uri=uri, backend=backend)


@dataclass
class Outcome:
    """Exit code and captured output of one `mlgate` invocation."""

    code: int
    out: str
    err: str


Cli = Callable[..., Outcome]


@pytest.fixture
def mlgate(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run `mlgate ARGS` through the real app and `cli.main` (exit-code mapping included)."""

    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return invoke
