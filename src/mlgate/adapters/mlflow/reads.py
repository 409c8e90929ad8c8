"""The read side of the registry: clients, error translation, the SQLite writer lock, alias
and version lookups, listing, and downloading a version's bundle.

Lookups and listing go through the registry's metadata client (`mlgate.adapters.mlflow.meta`:
REST for a tracking server, sqlite3 for the embedded file), which imports no MLflow; MLflow's
own client is made only for what needs it (registering, downloading artifacts, a store the
light clients do not read). `mlgate.adapters.mlflow.writes.MlflowRegistry` adds the writes.
Nothing here changes the process environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters.mlflow.clients import open_meta
from mlgate.adapters.mlflow.integrity import allow_unrecorded_from, check_recorded
from mlgate.adapters.mlflow.meta import (
    MetaError,
    ModelRecord,
    RegistryMeta,
    VersionRecord,
    set_alias_retrying,
)
from mlgate.adapters.mlflow.probe import check_health
from mlgate.adapters.mlflow.process import ProcessId
from mlgate.adapters.mlflow.types import CHAMPION, VersionInfo
from mlgate.adapters.mlflow.uri import check_version, sqlite_path
from mlgate.core.redact import redact_uri, scrub
from mlgate.errors import BundleError, InfraError, UsageError
from mlgate.store.locking import file_lock

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from mlgate.store.trust import Trust

# Deferred imports: MLflow loads on the first call that needs its client: importing it costs
# seconds (pandas among its imports), and the CLI, the API, the URI checks and the metadata
# clients work without it.

__all__ = ["MlflowStore", "now_iso", "set_alias_retrying", "truncate"]

_TAG_VALUE_MAX = 5000
_CLIENT_ERRORS = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS"}
)


def now_iso() -> str:
    """The current UTC time as the registry's tags record it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _is_http(uri: str) -> bool:
    return urllib.parse.urlparse(uri).scheme in {"http", "https"}


def truncate(text: str) -> str:
    """A tag value within MLflow's length cap."""
    return text if len(text) <= _TAG_VALUE_MAX else text[: _TAG_VALUE_MAX - 3] + "..."


def _ms_to_iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


class MlflowStore:
    """Reads of a registry on MLflow: a tracking server over HTTP, or a SQLite file (embedded).

    `tracking_uri` is the URI as given, credentials and all, for MLflow's client only; `uri` is
    what every message and report shows (`mlgate.core.redact`: no password, no token).
    `allow_unrecorded`: accept, with a warning, a version registered before mlgate recorded
    bundle digests (`mlgate.adapters.mlflow.integrity`); None: `MLGATE_ALLOW_UNRECORDED_BUNDLES`.
    """

    def __init__(
        self,
        uri: str,
        *,
        artifact_root: Path | None = None,
        allow_unrecorded: bool | None = None,
    ) -> None:
        self.tracking_uri = uri
        self.uri = redact_uri(uri)
        self._artifact_root = artifact_root
        self._allow_unrecorded = allow_unrecorded
        self._client_cache: MlflowClient | None = None
        self._meta_cache: RegistryMeta | None = None

    def _scrub(self, text: str) -> str:
        """`text` without the tracking URI's secrets (a library's message may quote them)."""
        return scrub(text, [self.tracking_uri])

    @property
    def _client(self) -> MlflowClient:
        if self._client_cache is None:
            self.check_reachable()
            import logging

            from mlflow.tracking import MlflowClient

            # Creating or migrating the embedded SQLite schema is routine here, not news: keep
            # MLflow's and alembic's INFO lines about it out of every first `mlgate run`.
            for noisy in (
                "mlflow.store.db.utils",
                "alembic.runtime.migration",
                "mlflow.store.model_registry.abstract_store",
            ):
                logging.getLogger(noisy).setLevel(logging.WARNING)
            with self._translate():
                self._client_cache = MlflowClient(
                    tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
                )
        return self._client_cache

    @property
    def _meta(self) -> RegistryMeta:
        """The metadata client (`mlgate.adapters.mlflow.clients.open_meta`), checked reachable
        on first use like MLflow's."""
        if self._meta_cache is None:
            self.check_reachable()
            self._meta_cache = open_meta(self.tracking_uri, lambda: self._client)
        return self._meta_cache

    def check_reachable(self) -> None:
        """Fail fast with InfraError before anything is written to a registry that is not there."""
        if _is_http(self.tracking_uri):
            check_health(self.tracking_uri)
            return
        db = sqlite_path(self.tracking_uri)
        if db is not None:
            try:
                db.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InfraError(
                    f"MLflow registry at {self.uri}: cannot create {db.parent}: {exc.strerror}"
                ) from None
            if not os.access(db.parent, os.W_OK):
                raise InfraError(f"MLflow registry at {self.uri}: {db.parent} is not writable")

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        """Map registry/transport failures to mlgate errors: lookups are usage, the rest infra.

        An MlflowException can only come from MLflow's client, so it is looked for only once
        MLflow is loaded (the metadata clients raise `MetaError`)."""
        try:
            yield
        except MetaError as exc:
            raise self._failed(exc.error_code, exc.message) from None
        except OSError as exc:
            raise InfraError(
                f"MLflow registry at {self.uri} failed: {self._scrub(str(exc))}"
            ) from None
        except Exception as exc:
            loaded = sys.modules.get("mlflow.exceptions")
            if loaded is not None and isinstance(exc, loaded.MlflowException):
                raise self._failed(exc.error_code, str(exc.message)) from None
            raise

    def _failed(self, code: str, text: str) -> UsageError | InfraError:
        message = self._scrub(text)
        if code in _CLIENT_ERRORS:
            return UsageError(f"MLflow registry at {self.uri}: {message}")
        # Not chained: the original's text (and its traceback, on a bug) quotes the URI.
        return InfraError(f"MLflow registry at {self.uri} failed: {message}")

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialize writers of one SQLite registry across processes on this machine.

        SQLite allows one writer; two concurrent first-time schema migrations, or two version
        creations racing past the busy timeout, fail instead of waiting. A server serializes
        writes itself (and MLflow retries version-number collisions), so no lock is taken there.
        """
        db = sqlite_path(self.tracking_uri)
        if db is None:
            yield
            return
        db.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(db.parent / ".mlgate.lock"):
            yield

    def _model(self, name: str) -> ModelRecord:
        try:
            return self._meta.get_registered_model(name)
        except MetaError as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise UsageError(
                    f"model {name!r} is not in the registry at {self.uri}",
                    hint="register it first with `mlgate run` or `mlgate register`",
                ) from None
            raise

    def _version(self, name: str, version: int, aliases: Mapping[str, int]) -> VersionInfo:
        check_version(version, f"model {name!r}: version")
        try:
            mv = self._meta.get_model_version(name, version)
        except MetaError as exc:
            if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                raise UsageError(
                    f"model {name!r} has no version {version} in the registry at {self.uri}",
                    hint="`mlgate models` lists the versions",
                ) from None
            raise
        return self._info(mv, aliases)

    @staticmethod
    def _info(mv: VersionRecord, aliases: Mapping[str, int]) -> VersionInfo:
        tags: dict[str, str] = dict(mv.tags or {})
        metrics = json.loads(tags.pop("mlgate.metrics", "{}"))
        lineage = {
            key.removeprefix("mlgate.lineage."): tags.pop(key)
            for key in sorted(tags)
            if key.startswith("mlgate.lineage.")
        }
        version = int(mv.version)
        return VersionInfo(
            name=mv.name,
            version=version,
            aliases=tuple(sorted(a for a, v in aliases.items() if v == version)),
            run_id=mv.run_id,
            created_at=_ms_to_iso(mv.creation_timestamp),
            metrics={k: float(v) for k, v in metrics.items()},
            lineage=lineage,
            tags={k: v for k, v in tags.items() if k.startswith("mlgate.")},
        )

    @staticmethod
    def _aliases(model: ModelRecord) -> dict[str, int]:
        return {alias: int(v) for alias, v in (model.aliases or {}).items()}

    def _search(self, name: str) -> list[VersionRecord]:
        return self._meta.search_model_versions(name)

    def _abandoned_candidates(self, name: str) -> list[tuple[str, ProcessId]]:
        """The RUNNING registrations of `name` whose process, of this machine, is gone: each
        run id with the process that made it."""
        with self._translate():
            runs = self._meta.running_runs(name)
        dead = []
        for run in runs:
            owner = ProcessId.from_tag(run.process)
            if owner is not None and owner.dead():
                dead.append((run.run_id, owner))
        return dead

    def get_alias(self, name: str, alias: str) -> VersionInfo | None:
        """The version behind `alias`, or None when the model exists but the alias is unset."""
        with self._translate():
            aliases = self._aliases(self._model(name))
            if alias not in aliases:
                return None
            return self._version(name, aliases[alias], aliases)

    def require_alias(self, name: str, alias: str) -> VersionInfo:
        """Like `get_alias`, but an unset alias is a UsageError naming it."""
        info = self.get_alias(name, alias)
        if info is None:
            raise UsageError(
                f"model {name!r} has no alias {alias!r} in the registry at {self.uri}",
                hint="`mlgate models` lists versions and aliases",
            )
        return info

    def champion(self, name: str) -> VersionInfo | None:
        """The current champion, or None when the model or the alias does not exist yet."""
        with self._translate():
            try:
                model = self._meta.get_registered_model(name)
            except MetaError as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return None
                raise
            aliases = self._aliases(model)
            if CHAMPION not in aliases:
                return None
            return self._version(name, aliases[CHAMPION], aliases)

    def list_versions(self, name: str) -> list[VersionInfo]:
        """Every version, newest first, with aliases, metrics and lineage."""
        with self._translate():
            aliases = self._aliases(self._model(name))
            infos = [self._info(mv, aliases) for mv in self._search(name)]
        return sorted(infos, key=lambda i: i.version, reverse=True)

    def download(self, name: str, version: int, dst: Path, *, trust: Trust | None = None) -> Path:
        """Fetch a version's bundle into `dst/v<version>`, verify its SHA256SUMS (and its
        signature, when `trust` has a public key), and check that it is the bundle registered
        (the digest recorded at registration); a refused copy is removed."""
        from mlgate.store.bundle import load_bundle

        with self._translate():
            aliases = self._aliases(self._model(name))
            info = self._version(name, version, aliases)
            if not info.run_id:
                raise BundleError(f"model {name!r} v{version} has no run to download from")
            target = dst / f"v{version}"
            target.mkdir(parents=True, exist_ok=True)
            try:
                local = self._client.download_artifacts(info.run_id, "model", str(target))
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
        path = Path(local)
        try:
            try:
                bundle = load_bundle(path, trust=trust)
            except BundleError as exc:
                raise BundleError(
                    f"model {name!r} v{version} from {self.uri}: {exc.message}",
                    hint="the registry copy is damaged; promote another version",
                ) from None
            allow = self._allow_unrecorded
            check_recorded(
                info,
                bundle.sums_digest,
                self.uri,
                allow_unrecorded=allow_unrecorded_from() if allow is None else allow,
            )
        except BaseException:
            # Nothing refused stays behind for a later run to pick up as a downloaded copy.
            shutil.rmtree(target, ignore_errors=True)
            raise
        return path
