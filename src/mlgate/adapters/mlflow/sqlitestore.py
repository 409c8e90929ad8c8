"""`RegistryMeta` on an embedded registry's SQLite file, with sqlite3: no MLflow, no SQLAlchemy.

It reads (and, for alias and tag moves, writes) the tables of MLflow's model registry
(`mlflow/store/model_registry/dbmodels/models.py`) and, for the RUNNING-registration check,
the tracking tables `experiments`, `runs` and `tags`, as MLflow's `SqlAlchemyStore` does:
- only the `default` workspace, and no version whose stage is `Deleted_Internal`;
- versions of a prompt (a model whose version carries `mlflow.prompt.is_prompt = true`) are
  not listed, as MLflow's search leaves them out;
- an alias or a tag is an upsert on its primary key; the version (or model) must exist; no
  `last_updated_time` moves (MLflow's `set_registered_model_alias`, `set_registered_model_tag`
  and `set_model_version_tag` leave it alone); names, aliases and tag lengths are checked
  against MLflow's limits; every connection turns foreign keys on and waits up to 20 s for a
  lock (MLflow's PRAGMAs).

Every connection first reads the file's `alembic_version`. The layout above is the one from
revision 1b5f0d9ad7c1 (workspace columns) to dc11669786a5; any other revision, or a file
without the table, is not guessed at: that call and every later one go through MLflow's client
instead (`fallback`), and a debug log says why. A file that does not exist is an empty
registry: reads find nothing, and nothing is created (MLflow creates it on the first
registration).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from mlgate.adapters.mlflow import sqltables as sql
from mlgate.adapters.mlflow.meta import ModelRecord, RegistryMeta, RunRecord, VersionRecord
from mlgate.adapters.mlflow.sqltables import BUSY_TIMEOUT_S, WORKSPACE, UnknownSchema
from mlgate.errors import InfraError

log = logging.getLogger(__name__)

T = TypeVar("T")


class SqliteMeta:
    """MLflow's registry tables in `db`, through sqlite3; `fallback` when the schema is
    another's."""

    def __init__(self, db: Path, *, fallback: RegistryMeta) -> None:
        self.db = db
        self._fallback = fallback
        self._fell_back = False
        self._conn: sqlite3.Connection | None = None  # inside `transaction()`

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        """A connection whose schema is known, or None when the file does not exist."""
        if not self.db.exists():
            return None
        # Read-write even to read: a reader may have to roll back a crashed writer's journal.
        # `rw` never creates the file.
        target = f"file:{urllib.parse.quote(str(self.db))}?mode=rw"
        try:
            conn = sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise InfraError(f"MLflow registry at {self.db}: cannot open it: {exc}") from None
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            sql.check_revision(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _use(
        self,
        work: Callable[[sqlite3.Connection], T],
        other: Callable[[RegistryMeta], T],
        absent: Callable[[], T],
        *,
        write: bool = False,
    ) -> T:
        """`work` on a known schema (in the open transaction, if any), `absent` without a file,
        else `other` on MLflow's client."""
        if self._fell_back:
            return other(self._fallback)
        if self._conn is not None:
            with sql.sql_errors(self.db):
                return work(self._conn)
        try:
            conn = self._connect()
        except UnknownSchema as exc:
            self._fall_back(exc)
            return other(self._fallback)
        if conn is None:
            return absent()
        try:
            with sql.sql_errors(self.db):
                if not write:
                    return work(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
        finally:
            conn.close()

    def _fall_back(self, exc: UnknownSchema) -> None:
        log.debug("%s: %s; using MLflow's client for this registry", self.db, exc)
        self._fell_back = True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """The calls made inside commit in one transaction (BEGIN IMMEDIATE: one writer)."""
        if self._conn is not None:  # already in one
            yield
            return
        if self._fell_back:
            with self._fallback.transaction():
                yield
            return
        try:
            conn = self._connect()
        except UnknownSchema as exc:
            self._fall_back(exc)
            with self._fallback.transaction():
                yield
            return
        if conn is None:  # no file: every call inside finds nothing
            yield
            return
        try:
            with sql.sql_errors(self.db):
                conn.execute("BEGIN IMMEDIATE")
            self._conn = conn
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            with sql.sql_errors(self.db):
                conn.execute("COMMIT")
        finally:
            self._conn = None
            conn.close()

    # -- reads -------------------------------------------------------------------------------

    def get_registered_model(self, name: str) -> ModelRecord:
        """See `RegistryMeta`."""
        return self._use(
            lambda c: sql.model(c, name),
            lambda m: m.get_registered_model(name),
            lambda: sql.no_model(name),
        )

    def search_model_versions(self, name: str) -> list[VersionRecord]:
        """See `RegistryMeta`."""
        return self._use(
            lambda c: sql.versions(c, name), lambda m: m.search_model_versions(name), list
        )

    def get_model_version(self, name: str, version: int | str) -> VersionRecord:
        """See `RegistryMeta`."""
        number = sql.number(version)
        return self._use(
            lambda c: sql.version(c, name, number),
            lambda m: m.get_model_version(name, number),
            lambda: sql.no_version(name, number),
        )

    def running_runs(self, experiment: str) -> list[RunRecord]:
        """See `RegistryMeta`."""
        return self._use(
            lambda c: sql.running(c, experiment), lambda m: m.running_runs(experiment), list
        )

    # -- writes ------------------------------------------------------------------------------

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """See `RegistryMeta`."""
        sql.check_alias(alias, reserved=True)
        number = sql.number(version)
        self._write(
            name,
            number,
            lambda c: sql.upsert(
                c, "registered_model_aliases", name=name, alias=alias, version=number
            ),
            lambda m: m.set_registered_model_alias(name, alias, number),
        )

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """See `RegistryMeta`."""
        sql.check_alias(alias, reserved=False)
        self._write(
            name,
            None,
            lambda c: c.execute(
                "DELETE FROM registered_model_aliases WHERE workspace = ? AND name = ? "
                "AND alias = ?",
                (WORKSPACE, name, alias),
            ),
            lambda m: m.delete_registered_model_alias(name, alias),
        )

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """See `RegistryMeta`."""
        sql.check_tag(key, value)
        self._write(
            name,
            None,
            lambda c: sql.upsert(c, "registered_model_tags", name=name, key=key, value=value),
            lambda m: m.set_registered_model_tag(name, key, value),
        )

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """See `RegistryMeta`."""
        sql.check_tag(key, value)
        number = sql.number(version)
        self._write(
            name,
            number,
            lambda c: sql.upsert(
                c, "model_version_tags", name=name, version=number, key=key, value=value
            ),
            lambda m: m.set_model_version_tag(name, number, key, value),
        )

    def _write(
        self,
        name: str,
        number: int | None,
        change: Callable[[sqlite3.Connection], object],
        other: Callable[[RegistryMeta], None],
    ) -> None:
        """`change` in a write transaction once the model `name` (its version `number`, when
        given) is found, else MLflow's "not found"; `other` on MLflow's client."""

        def work(conn: sqlite3.Connection) -> None:
            if number is None:
                sql.model_row(conn, name)
            else:
                sql.version_row(conn, name, number)
            change(conn)

        def absent() -> object:
            return sql.no_model(name) if number is None else sql.no_version(name, number)

        self._use(work, other, absent, write=True)
