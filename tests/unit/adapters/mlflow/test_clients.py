"""Which metadata client a tracking URI gets: REST for a server, sqlite3 for the embedded file,
MLflow's for anything else, for a setting only MLflow applies, or when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.adapters.mlflow.clients import CLIENT_ENV, open_meta
from mlgate.adapters.mlflow.meta import MlflowMeta
from mlgate.adapters.mlflow.rest import RestMeta
from mlgate.adapters.mlflow.sqlitestore import SqliteMeta
from mlgate.errors import UsageError

pytestmark = pytest.mark.unit


def _never() -> object:
    raise AssertionError("MLflow's client was made, though nothing was called")


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (CLIENT_ENV, "MLFLOW_TRACKING_AUTH", "MLFLOW_TRACKING_AWS_SIGV4"):
        monkeypatch.delenv(name, raising=False)


def test_each_uri_gets_its_client(tmp_path: Path) -> None:
    assert isinstance(open_meta("http://127.0.0.1:5000", _never), RestMeta)  # type: ignore[arg-type]
    assert isinstance(open_meta("https://u:p@mlflow.example", _never), RestMeta)  # type: ignore[arg-type]
    sqlite = open_meta(f"sqlite:///{tmp_path}/mlflow.db", _never)  # type: ignore[arg-type]
    assert isinstance(sqlite, SqliteMeta)
    assert sqlite.db == tmp_path / "mlflow.db"
    for other in ("postgresql://u@db/mlflow", "file:///tmp/mlruns", "databricks"):
        assert isinstance(open_meta(other, _never), MlflowMeta)  # type: ignore[arg-type]


@pytest.mark.parametrize("setting", ["MLFLOW_TRACKING_AUTH", "MLFLOW_TRACKING_AWS_SIGV4"])
def test_settings_only_mlflow_applies_go_through_mlflow(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(setting, "true")
    assert isinstance(open_meta("https://mlflow.example", _never), MlflowMeta)  # type: ignore[arg-type]


def test_mlflows_client_on_request_and_a_typo_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CLIENT_ENV, "MLflow")
    assert isinstance(open_meta(f"sqlite:///{tmp_path}/m.db", _never), MlflowMeta)  # type: ignore[arg-type]
    monkeypatch.setenv(CLIENT_ENV, "mlfow")
    with pytest.raises(UsageError, match=f"{CLIENT_ENV}='mlfow': expected one of auto, mlflow"):
        open_meta("http://127.0.0.1:5000", _never)  # type: ignore[arg-type]
