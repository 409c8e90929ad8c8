"""Where the registry is and what a model reference names: tracking-URI precedence, the one
factory honouring it (config included), and `models:/` parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgate.adapters.mlflow import (
    TRACKING_URI_ENV,
    ModelUri,
    open_registry,
    parse_model_uri,
    resolve_tracking_uri,
)
from mlgate.app.scaffold import init_demo
from mlgate.errors import UsageError

pytestmark = pytest.mark.unit


def test_tracking_uri_precedence(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    local = f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert resolve_tracking_uri(tmp_path, environ=env) == local
    assert resolve_tracking_uri(tmp_path, configured="http://cfg", environ=env) == "http://cfg"
    env[TRACKING_URI_ENV] = "http://env"
    assert resolve_tracking_uri(tmp_path, configured="http://cfg", environ=env) == "http://env"
    assert resolve_tracking_uri(tmp_path, explicit="http://arg", environ=env) == "http://arg"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("p") / "demo"
    init_demo(root, rows=300)
    text = (root / "mlgate.yaml").read_text()
    (root / "mlgate.yaml").write_text(text + "registry:\n  tracking_uri: http://team:5000\n")
    return root


def test_the_factory_honours_argument_env_config_then_sqlite(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
    # The config's registry.tracking_uri, from a loaded project or its directory or file.
    assert open_registry(project).uri == "http://team:5000"
    assert open_registry(project / "mlgate.yaml").uri == "http://team:5000"
    monkeypatch.setenv(TRACKING_URI_ENV, "http://env:5000")
    assert open_registry(project).uri == "http://env:5000"
    assert open_registry(project, uri="http://arg:5000").uri == "http://arg:5000"
    monkeypatch.delenv(TRACKING_URI_ENV)
    # A directory with no mlgate.yaml still has an embedded registry.
    bare = tmp_path / "bare"
    bare.mkdir()
    assert open_registry(bare).uri == f"sqlite:///{bare.resolve()}/mlruns/mlflow.db"


def test_opening_a_registry_changes_no_environment(project: Path) -> None:
    before = dict(os.environ)
    open_registry(project)
    assert dict(os.environ) == before


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/churn@champion", ModelUri("churn", alias="champion")),
        ("models:/churn/3", ModelUri("churn", version=3)),
    ],
)
def test_parse_model_uri(uri: str, parsed: ModelUri) -> None:
    assert parse_model_uri(uri) == parsed
    assert str(parsed) == uri


@pytest.mark.parametrize(
    "uri",
    ["models:/", "models:/churn", "models:/churn/x", "models:/@a", "models:/churn/0", "churn@a"],
)
def test_bad_model_uri_is_a_usage_error(uri: str) -> None:
    with pytest.raises(UsageError, match="not a model URI"):
        parse_model_uri(uri)
