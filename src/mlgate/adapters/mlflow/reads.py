"""MLflow plumbing and the read side of the registry: client, error translation, the SQLite
writer lock, alias and version lookups, listing, and downloading a version's bundle.

`mlgate.adapters.mlflow.writes.MlflowRegistry` adds the writes. MLflow is imported inside the
methods, so importing this module stays cheap; nothing here changes the process environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.adapters.mlflow.integrity import allow_unrecorded_from, check_recorded
from mlgate.adapters.mlflow.probe import check_health
from mlgate.adapters.mlflow.types import CHAMPION, VersionInfo
from mlgate.adapters.mlflow.uri import check_version, sqlite_path
from mlgate.core.redact import redact_uri, scrub
from mlgate.errors import BundleError, InfraError, UsageError
from mlgate.store.locking import file_lock

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from mlgate.store.trust import Trust

# Deferred imports: MLflow loads on the first call that needs its client: importing it costs
# seconds (pandas among its imports), and the CLI, the API and the URI checks import this module
# without talking to a registry.

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


_ALIAS_ATTEMPTS = 5


def set_alias_retrying(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point `alias` at `version`, retrying when another writer set the same alias meanwhile.

    MLflow's SQL store looks the alias up, then inserts it: two processes setting one alias at
    once both insert, and the loser fails on the unique key (seen with PostgreSQL). The retry
    finds the row and updates it, so the last writer wins, as it would have without the race.
    """
    from mlflow.exceptions import MlflowException

    for attempt in range(1, _ALIAS_ATTEMPTS + 1):
        try:
            client.set_registered_model_alias(name, alias, version)
            return
        except MlflowException as exc:
            conflict = "already exists" in str(exc) or "UniqueViolation" in str(exc)
            if not conflict or attempt == _ALIAS_ATTEMPTS:
                raise


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
        """Map MLflow/transport failures to mlgate errors: lookups are usage, the rest infra."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as exc:
            message = self._scrub(str(exc.message))
            if exc.error_code in _CLIENT_ERRORS:
                raise UsageError(f"MLflow registry at {self.uri}: {message}") from None
            # Not chained: the original's text (and its traceback, on a bug) quotes the URI.
            raise InfraError(f"MLflow registry at {self.uri} failed: {message}") from None
        except OSError as exc:
            raise InfraError(
                f"MLflow registry at {self.uri} failed: {self._scrub(str(exc))}"
            ) from None

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

    def _model(self, name: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self._client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise UsageError(
                    f"model {name!r} is not in the registry at {self.uri}",
                    hint="register it first with `mlgate run` or `mlgate register`",
                ) from None
            raise

    def _version(self, name: str, version: int, aliases: Mapping[str, int]) -> VersionInfo:
        from mlflow.exceptions import MlflowException

        check_version(version, f"model {name!r}: version")
        try:
            mv = self._client.get_model_version(name, str(version))
        except MlflowException as exc:
            if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                raise UsageError(
                    f"model {name!r} has no version {version} in the registry at {self.uri}",
                    hint="`mlgate models` lists the versions",
                ) from None
            raise
        return self._info(mv, aliases)

    @staticmethod
    def _info(mv: Any, aliases: Mapping[str, int]) -> VersionInfo:
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
    def _aliases(model: Any) -> dict[str, int]:
        return {alias: int(v) for alias, v in (model.aliases or {}).items()}

    def _search(self, name: str) -> list[Any]:
        found: list[Any] = []
        token: str | None = None
        while True:
            page = self._client.search_model_versions(
                f"name='{name}'", max_results=1000, page_token=token
            )
            found.extend(page)
            token = getattr(page, "token", None)
            if not token:
                return found

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
            from mlflow.exceptions import MlflowException

            try:
                model = self._client.get_registered_model(name)
            except MlflowException as exc:
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
