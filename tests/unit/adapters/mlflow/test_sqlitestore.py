"""The sqlite3 client reads only a schema it knows: another revision, or a file without one, goes
to MLflow's client (here a recording stand-in of the protocol), and a missing file is an empty
registry that nothing creates."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

import pytest

from mlgate.adapters.mlflow.meta import (
    NOT_FOUND,
    MetaError,
    ModelRecord,
    RunRecord,
    VersionRecord,
)
from mlgate.adapters.mlflow.sqlitestore import SqliteMeta

pytestmark = pytest.mark.unit


class Recording:
    """A `RegistryMeta` that answers one model and records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_registered_model(self, name: str) -> ModelRecord:
        self.calls.append(f"get_registered_model {name}")
        return ModelRecord(name, {"from": "fallback"}, {})

    def search_model_versions(self, name: str) -> list[VersionRecord]:
        self.calls.append(f"search_model_versions {name}")
        return []

    def get_model_version(self, name: str, version: int | str) -> VersionRecord:
        self.calls.append(f"get_model_version {name} {version}")
        return VersionRecord(name, int(version), None, None)

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        self.calls.append(f"set_registered_model_alias {name} {alias} {version}")

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self.calls.append(f"delete_registered_model_alias {name} {alias}")

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.calls.append(f"set_registered_model_tag {name} {key}")

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        self.calls.append(f"set_model_version_tag {name} {version} {key}")

    def running_runs(self, experiment: str) -> list[RunRecord]:
        self.calls.append(f"running_runs {experiment}")
        return []

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        self.calls.append("transaction")
        return contextlib.nullcontext()


def _db(path: Path, revision: str | None) -> Path:
    conn = sqlite3.connect(path)
    with conn:
        if revision is not None:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        else:
            conn.execute("CREATE TABLE something_else (x INTEGER)")
    conn.close()
    return path


@pytest.mark.parametrize("revision", ["0123456789ab", None])
def test_an_unknown_schema_goes_to_mlflows_client_and_says_so(
    tmp_path: Path, revision: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    fallback = Recording()
    meta = SqliteMeta(_db(tmp_path / "mlflow.db", revision), fallback=fallback)
    with caplog.at_level(logging.DEBUG, logger="mlgate.adapters.mlflow.sqlitestore"):
        assert meta.get_registered_model("churn").tags == {"from": "fallback"}
    shown = revision if revision is not None else "no schema revision"
    assert any(
        shown in r.getMessage() and "MLflow's client" in r.getMessage() for r in caplog.records
    )
    with meta.transaction():
        meta.set_registered_model_alias("churn", "champion", 2)
        meta.set_model_version_tag("churn", 2, "k", "v")
    assert meta.search_model_versions("churn") == []
    assert fallback.calls == [
        "get_registered_model churn",
        "transaction",
        "set_registered_model_alias churn champion 2",
        "set_model_version_tag churn 2 k",
        "search_model_versions churn",
    ]


def test_a_missing_file_is_an_empty_registry_and_stays_missing(tmp_path: Path) -> None:
    db = tmp_path / "mlruns" / "mlflow.db"
    fallback = Recording()
    meta = SqliteMeta(db, fallback=fallback)
    with pytest.raises(MetaError) as info:
        meta.get_registered_model("churn")
    assert info.value.error_code == NOT_FOUND
    assert meta.search_model_versions("churn") == []
    assert meta.running_runs("churn") == []
    with pytest.raises(MetaError), meta.transaction():
        meta.set_registered_model_alias("churn", "champion", 1)
    assert not db.exists()
    assert fallback.calls == []


@pytest.mark.parametrize("alias", ["latest", "V3", "", "has space"])
def test_aliases_mlflow_refuses_are_refused(tmp_path: Path, alias: str) -> None:
    meta = SqliteMeta(tmp_path / "none.db", fallback=Recording())
    with pytest.raises(MetaError) as info:
        meta.set_registered_model_alias("churn", alias, 1)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
