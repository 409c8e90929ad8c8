"""The registry's metadata, beneath its reads and its alias and tag moves: one small protocol,
three clients.

`RegistryMeta` gets a registered model (tags, aliases), a model's versions (with tags) and one
version, sets or deletes an alias, sets a registered-model or a version tag, and lists a model's
RUNNING registrations (to find those a dead process left). Its methods carry MlflowClient's
names, and its records the attributes of MLflow's entities that mlgate reads, so the registry's
code reads the same over any of them:

- `MlflowMeta`: MLflow's own client (any store MLflow knows);
- `mlgate.adapters.mlflow.rest.RestMeta`: MLflow's REST API over urllib, for an http(s)
  tracking server;
- `mlgate.adapters.mlflow.sqlitestore.SqliteMeta`: MLflow's model-registry tables in a
  `sqlite:///` file, read and written with sqlite3 when the file's schema revision is one it
  knows; any other revision goes through `MlflowMeta`.

The last two import no MLflow (nor pandas with it): `mlgate models`, `promote`, `rollback` and
the champion lookup of `mlgate run` take milliseconds instead of MLflow's seconds of imports.
`mlgate.adapters.mlflow.clients.open_meta` picks the client for a tracking URI. Every client
raises `MetaError` with MLflow's error code (`RESOURCE_DOES_NOT_EXIST`, ...), whichever way it
talks to the registry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mlgate.adapters.mlflow.process import PROCESS_TAG

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# Deferred imports: MLflow (seconds of imports) loads only in `MlflowMeta`, on its first call.

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
INVALID = "INVALID_PARAMETER_VALUE"
_ALIAS_ATTEMPTS = 5


class MetaError(Exception):
    """A registry answered with an error: MLflow's `error_code` and its message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class ModelRecord:
    """A registered model: its tags and its aliases (alias -> version)."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionRecord:
    """One model version: its run, creation time (ms since the epoch) and tags."""

    name: str
    version: int
    run_id: str | None
    creation_timestamp: int | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """A RUNNING run of a model's experiment, and the `mlgate.process` tag it carries."""

    run_id: str
    process: str | None


class RegistryMeta(Protocol):
    """The registry metadata mlgate reads and moves (MLflow's model registry underneath)."""

    def get_registered_model(self, name: str) -> ModelRecord:
        """The model with its tags and aliases; MetaError(NOT_FOUND) when it is not there."""
        ...

    def search_model_versions(self, name: str) -> list[VersionRecord]:
        """Every version of the model (none deleted), with its tags, newest first."""
        ...

    def get_model_version(self, name: str, version: int | str) -> VersionRecord:
        """One version with its tags; MetaError(NOT_FOUND) when it is not there."""
        ...

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point `alias` at `version` (which must exist)."""
        ...

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Remove `alias` from the model (nothing when it is not set)."""
        ...

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set one tag of the registered model."""
        ...

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set one tag of a model version (which must exist)."""
        ...

    def running_runs(self, experiment: str) -> list[RunRecord]:
        """The RUNNING runs (deleted ones too) of the experiment named `experiment`."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """The calls made inside commit together where the store allows it (SQLite)."""
        ...


class MlflowMeta:
    """`RegistryMeta` over MLflow's client: any store MLflow knows, at MLflow's import cost."""

    def __init__(self, client: Callable[[], MlflowClient]) -> None:
        self._client_of = client

    @contextlib.contextmanager
    def _errors(self) -> Iterator[MlflowClient]:
        from mlflow.exceptions import MlflowException

        try:
            yield self._client_of()
        except MlflowException as exc:
            raise MetaError(exc.error_code, str(exc.message)) from None

    def get_registered_model(self, name: str) -> ModelRecord:
        """See `RegistryMeta`."""
        with self._errors() as client:
            model = client.get_registered_model(name)
        aliases = {a: int(v) for a, v in (model.aliases or {}).items()}
        return ModelRecord(model.name, dict(model.tags or {}), aliases)

    def search_model_versions(self, name: str) -> list[VersionRecord]:
        """See `RegistryMeta`."""
        found: list[VersionRecord] = []
        token: str | None = None
        with self._errors() as client:
            while True:
                page = client.search_model_versions(
                    f"name='{name}'", max_results=1000, page_token=token
                )
                found.extend(_record(mv) for mv in page)
                token = getattr(page, "token", None)
                if not token:
                    return sorted(found, key=lambda r: r.version, reverse=True)

    def get_model_version(self, name: str, version: int | str) -> VersionRecord:
        """See `RegistryMeta`."""
        with self._errors() as client:
            return _record(client.get_model_version(name, str(version)))

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """See `RegistryMeta`; retries a lost race on the alias (`set_alias_retrying`)."""
        with self._errors() as client:
            set_alias_retrying(client, name, alias, str(version))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """See `RegistryMeta`."""
        with self._errors() as client:
            client.delete_registered_model_alias(name, alias)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """See `RegistryMeta`."""
        with self._errors() as client:
            client.set_registered_model_tag(name, key, value)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """See `RegistryMeta`."""
        with self._errors() as client:
            client.set_model_version_tag(name, str(version), key, value)

    def running_runs(self, experiment: str) -> list[RunRecord]:
        """See `RegistryMeta`."""
        from mlflow.entities import ViewType

        with self._errors() as client:
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                return []
            runs = client.search_runs(
                [exp.experiment_id],
                filter_string="attributes.status = 'RUNNING'",
                run_view_type=ViewType.ALL,
                max_results=1000,
            )
            return [RunRecord(r.info.run_id, r.data.tags.get(PROCESS_TAG)) for r in runs]

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Each call commits on its own through MLflow's client."""
        return contextlib.nullcontext()


def _record(mv: Any) -> VersionRecord:
    return VersionRecord(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id or None,
        creation_timestamp=mv.creation_timestamp,
        tags=dict(mv.tags or {}),
    )


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
            if not lost_alias_race(str(exc)) or attempt == _ALIAS_ATTEMPTS:
                raise


def lost_alias_race(message: str) -> bool:
    """True when a failed alias write lost a race with another writer of the same alias."""
    return "already exists" in message or "UniqueViolation" in message
