"""MLflow's SQLite tables, as `mlgate.adapters.mlflow.sqlitestore.SqliteMeta` reads and writes
them: the schema revisions known, the queries, and MLflow's answers and checks.

The queries follow MLflow's `SqlAlchemyStore` (`mlflow/store/model_registry/sqlalchemy_store.py`
and the models in `mlflow/store/model_registry/dbmodels/models.py`); the limits are MLflow's
(`mlflow/utils/validation.py`).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from mlgate.adapters.mlflow.meta import (
    INVALID,
    NOT_FOUND,
    MetaError,
    ModelRecord,
    RunRecord,
    VersionRecord,
)
from mlgate.adapters.mlflow.process import PROCESS_TAG
from mlgate.errors import InfraError

# Alembic revisions whose registry and run tables have the layout this module reads and
# writes: from the one that added workspace columns to the newest one checked.
KNOWN_REVISIONS = frozenset(
    {
        "1b5f0d9ad7c1", "e1f2a3b4c5d6", "76601a5f987d", "c3d6457b6d8a", "a5b4c3d2e1f0",
        "ae8bbe7743c9", "7d34483879f0", "da6fb0208061", "89d3d66ed43f", "b7e4c1a90f23",
        "a8b9c0d1e2f3", "c1d2e3f4a5b6", "c3d9e7f1a2b4", "6f8d9c3b2a1e", "1971f2d9a75b",
        "17e22815139b", "b7e2c1a4d9f3", "75868b020152", "dc11669786a5",
    }
)  # fmt: skip
WORKSPACE = "default"
DELETED = "Deleted_Internal"
PROMPT_TAG = "mlflow.prompt.is_prompt"
BUSY_TIMEOUT_S = 20.0
# MLflow's limits (mlflow/utils/validation.py).
_TAG_KEY_MAX = 250
_TAG_VALUE_MAX = 100_000
_ALIAS_MAX = 255
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")


class UnknownSchema(Exception):
    """The file's schema is not one this module knows; the reason says what was found."""


# -- queries ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def sql_errors(db: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise InfraError(f"MLflow registry at {db} failed: {type(exc).__name__}: {exc}") from None


def check_revision(conn: sqlite3.Connection) -> None:
    try:
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error as exc:
        raise UnknownSchema(f"no schema revision to check ({exc})") from None
    revisions = {str(row[0]) for row in rows}
    if len(revisions) != 1 or not revisions <= KNOWN_REVISIONS:
        raise UnknownSchema(f"schema revision {', '.join(sorted(revisions)) or '(none)'}")


def model_row(conn: sqlite3.Connection, name: str) -> None:
    found = conn.execute(
        "SELECT 1 FROM registered_models WHERE workspace = ? AND name = ?", (WORKSPACE, name)
    ).fetchone()
    if found is None:
        no_model(name)


def model(conn: sqlite3.Connection, name: str) -> ModelRecord:
    model_row(conn, name)
    tags = conn.execute(
        "SELECT key, value FROM registered_model_tags WHERE workspace = ? AND name = ?",
        (WORKSPACE, name),
    ).fetchall()
    aliases = conn.execute(
        "SELECT alias, version FROM registered_model_aliases WHERE workspace = ? AND name = ?",
        (WORKSPACE, name),
    ).fetchall()
    return ModelRecord(
        name, {str(k): str(v) for k, v in tags}, {str(a): int(v) for a, v in aliases}
    )


_VERSIONS = (
    "SELECT v.version, v.run_id, v.creation_time FROM model_versions v "
    "WHERE v.workspace = ? AND v.name = ? AND v.current_stage != ? "
)
_NOT_PROMPT = (
    "AND NOT EXISTS (SELECT 1 FROM model_version_tags p WHERE p.workspace = v.workspace "
    "AND p.name = v.name AND p.key = ? AND p.value = 'true') "
)


def tags_by_version(conn: sqlite3.Connection, name: str) -> dict[int, dict[str, str]]:
    tags: dict[int, dict[str, str]] = {}
    for version, key, value in conn.execute(
        "SELECT version, key, value FROM model_version_tags WHERE workspace = ? AND name = ?",
        (WORKSPACE, name),
    ):
        tags.setdefault(int(version), {})[str(key)] = str(value)
    return tags


def versions(conn: sqlite3.Connection, name: str) -> list[VersionRecord]:
    rows = conn.execute(
        _VERSIONS + _NOT_PROMPT + "ORDER BY v.version DESC", (WORKSPACE, name, DELETED, PROMPT_TAG)
    ).fetchall()
    tags = tags_by_version(conn, name) if rows else {}
    return [
        VersionRecord(name, int(v), run or None, created, tags.get(int(v), {}))
        for v, run, created in rows
    ]


def version_row(conn: sqlite3.Connection, name: str, version: int) -> tuple[str | None, int | None]:
    row = conn.execute(
        _VERSIONS + "AND v.version = ?", (WORKSPACE, name, DELETED, version)
    ).fetchone()
    if row is None:
        no_version(name, version)
    return row[1] or None, row[2]


def version(conn: sqlite3.Connection, name: str, version: int) -> VersionRecord:
    run_id, created = version_row(conn, name, version)
    tags = conn.execute(
        "SELECT key, value FROM model_version_tags WHERE workspace = ? AND name = ? "
        "AND version = ?",
        (WORKSPACE, name, version),
    ).fetchall()
    return VersionRecord(name, version, run_id, created, {str(k): str(v) for k, v in tags})


def running(conn: sqlite3.Connection, experiment: str) -> list[RunRecord]:
    rows = conn.execute(
        "SELECT r.run_uuid, t.value FROM runs r "
        "JOIN experiments e ON e.experiment_id = r.experiment_id "
        "LEFT JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = ? "
        "WHERE e.workspace = ? AND e.name = ? AND r.status = 'RUNNING' ORDER BY r.start_time DESC",
        (PROCESS_TAG, WORKSPACE, experiment),
    ).fetchall()
    return [RunRecord(str(run), None if tag is None else str(tag)) for run, tag in rows]


# The primary key of each table an alias or a tag is upserted into.
_UPSERT_KEYS = {
    "registered_model_aliases": ("workspace", "name", "alias"),
    "registered_model_tags": ("workspace", "key", "name"),
    "model_version_tags": ("workspace", "key", "name", "version"),
}


def upsert(conn: sqlite3.Connection, table: str, **row: str | int) -> None:
    """Insert `row`, in the default workspace, into `table`; where a row with the same primary
    key stands, set its last column instead (how MLflow moves an alias and sets a tag)."""
    columns = ("workspace", *row)
    last = columns[-1]
    conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(_UPSERT_KEYS[table])}) DO UPDATE SET {last} = excluded.{last}",
        (WORKSPACE, *row.values()),
    )


# -- MLflow's answers and checks -----------------------------------------------------------------


def no_model(name: str) -> ModelRecord:
    raise MetaError(NOT_FOUND, f"Registered Model with name={name} not found")


def no_version(name: str, version: int) -> VersionRecord:
    raise MetaError(NOT_FOUND, f"Model Version (name={name}, version={version}) not found")


def number(version: int | str) -> int:
    try:
        return int(version)
    except ValueError:
        raise MetaError(
            INVALID, f"Parameter 'version' must be an integer, got {version!r}"
        ) from None


def check_alias(alias: str, *, reserved: bool) -> None:
    if not alias or not _ALIAS.match(alias) or len(alias) > _ALIAS_MAX:
        raise MetaError(
            INVALID,
            f"Invalid alias name: {alias!r}: use letters, digits, '_' and '-' (at most "
            f"{_ALIAS_MAX} characters)",
        )
    if reserved and (alias.lower() == "latest" or _VERSION_ALIAS.match(alias)):
        raise MetaError(INVALID, f"Alias name {alias!r} is reserved.")


def check_tag(key: str, value: str) -> None:
    if not key or len(key) > _TAG_KEY_MAX:
        raise MetaError(INVALID, f"Tag key {key[:60]!r} must have 1 to {_TAG_KEY_MAX} characters")
    if len(value) > _TAG_VALUE_MAX:
        raise MetaError(
            INVALID, f"Tag {key!r}: the value has {len(value)} characters; at most {_TAG_VALUE_MAX}"
        )
