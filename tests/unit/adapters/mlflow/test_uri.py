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
from mlgate.adapters.mlflow.uri import MAX_VERSION, check_version, split_credentials
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


@pytest.mark.parametrize("uri", ["models:/", "models:/churn", "models:/@a", "churn@a"])
def test_bad_model_uri_is_a_usage_error(uri: str) -> None:
    with pytest.raises(UsageError, match="not a model URI"):
        parse_model_uri(uri)


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("models:/churn/99999999999999999999", "version 99999999999999999999 is out of range"),
        (f"models:/churn/{MAX_VERSION + 1}", f"version {MAX_VERSION + 1} is out of range"),
        ("models:/churn/0", "version 0 is out of range"),
        ("models:/churn/-1", "version '-1' is not a version number"),
        ("models:/churn/x", "version 'x' is not a version number"),
        ("models:/churn/1.5", "version '1.5' is not a version number"),
        # Other scripts' digits are not MLflow versions.
        ("models:/churn/\u0663", "version '\u0663' is not a version number"),
    ],
)
def test_a_version_no_registry_holds_is_a_usage_error_naming_it(uri: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_model_uri(uri)
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(f"{uri}: ")
    assert says in caught.value.message


def test_the_largest_version_parses() -> None:
    assert parse_model_uri(f"models:/churn/{MAX_VERSION}").version == MAX_VERSION
    with pytest.raises(UsageError, match=r"model 'churn': version -3 is out of range"):
        check_version(-3, "model 'churn': version")


@pytest.mark.parametrize(
    ("uri", "url", "user", "password"),
    [
        ("http://h:5000", "http://h:5000", None, None),
        ("http://user:secret@127.0.0.1:5999", "http://127.0.0.1:5999", "user", "secret"),
        ("https://u:p%40ss%2Fw@h/mlflow", "https://h/mlflow", "u", "p@ss/w"),
        ("https://token@h", "https://h", "token", None),
        ("http://u:p@[::1]:5000/x?y=1", "http://[::1]:5000/x?y=1", "u", "p"),
    ],
)
def test_split_credentials(uri: str, url: str, user: str | None, password: str | None) -> None:
    assert split_credentials(uri) == (url, user, password)


def test_a_port_that_is_not_a_number_is_named_without_the_password() -> None:
    # An unencoded '/' in the password ends the host part early: the "port" is garbage.
    with pytest.raises(UsageError) as caught:
        split_credentials("http://user:se/cret@h:5000")
    assert "cret" not in str(caught.value)
    assert "percent-encode" in str(caught.value)
