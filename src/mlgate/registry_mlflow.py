"""`Registry` on MLflow: a tracking server over HTTP, or a SQLite file (the embedded default).

See `mlgate.registry` for what is stored where. MLflow is imported inside the methods, so
importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import BundleError, GateFailed, InfraError, UsageError
from mlgate.registry import (
    CHALLENGER,
    CHAMPION,
    HISTORY_TAG,
    TRACKING_URI_ENV,
    RunContext,
    VersionInfo,
    resolve_tracking_uri,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# MLflow's registry caps tag values; the history only needs the recent past for rollbacks.
_HISTORY_KEEP = 100
_TAG_VALUE_MAX = 5000
# MLflow retries HTTP for minutes by default (7 retries, backoff 2, 120 s timeout): a CI job
# pointed at a dead server should fail in seconds with exit 3, not hang.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    # A tqdm bar per champion download is noise in CI logs.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # MLflow writes "View run ... at: URL" to stdout after each run against a server, which
    # would corrupt `--json` output; the version listing carries the run id instead.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
_CLIENT_ERRORS = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS"}
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _is_http(uri: str) -> bool:
    return urllib.parse.urlparse(uri).scheme in {"http", "https"}


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def _truncate(text: str) -> str:
    return text if len(text) <= _TAG_VALUE_MAX else text[: _TAG_VALUE_MAX - 3] + "..."


def _ms_to_iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


_ALIAS_ATTEMPTS = 5


def _set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
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


class MlflowRegistry:
    """`Registry` on MLflow: a tracking server over HTTP, or a SQLite file (embedded)."""

    def __init__(self, uri: str, *, artifact_root: Path | None = None) -> None:
        self.uri = uri
        self._artifact_root = artifact_root
        self._client_cache: MlflowClient | None = None
        for key, value in _HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)

    @classmethod
    def for_project(
        cls, project_root: Path, *, uri: str | None = None, configured: str | None = None
    ) -> MlflowRegistry:
        """The registry a project uses; the embedded one keeps artifacts beside its database."""
        resolved = resolve_tracking_uri(project_root, explicit=uri, configured=configured)
        db = _sqlite_path(resolved)
        artifacts = db.parent / "artifacts" if db is not None else None
        return cls(resolved, artifact_root=artifacts)

    # -- plumbing --------------------------------------------------------------------------

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
                self._client_cache = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client_cache

    def check_reachable(self) -> None:
        """Fail fast with InfraError before anything is written to a registry that is not there."""
        if _is_http(self.uri):
            url = self.uri.rstrip("/") + "/health"
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    ok = resp.status == 200
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise InfraError(
                    f"MLflow registry at {self.uri} is unreachable: {exc}",
                    hint=f"start the tracking server or fix {TRACKING_URI_ENV}",
                ) from None
            if not ok:
                raise InfraError(f"MLflow registry at {self.uri} is not healthy ({url})")
            return
        db = _sqlite_path(self.uri)
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
            if exc.error_code in _CLIENT_ERRORS:
                raise UsageError(f"MLflow registry at {self.uri}: {exc.message}") from None
            raise InfraError(f"MLflow registry at {self.uri} failed: {exc.message}") from exc
        except OSError as exc:
            raise InfraError(f"MLflow registry at {self.uri} failed: {exc}") from exc

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialize writers of one SQLite registry across processes on this machine.

        SQLite allows one writer; two concurrent first-time schema migrations, or two version
        creations racing past the busy timeout, fail instead of waiting. A server serializes
        writes itself (and MLflow retries version-number collisions), so no lock is taken there.
        """
        db = _sqlite_path(self.uri)
        if db is None:
            yield
            return
        db.parent.mkdir(parents=True, exist_ok=True)
        with (db.parent / ".mlgate.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

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

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        client = self._client
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        location = self._artifact_root.resolve().as_uri() if self._artifact_root else None
        try:
            return str(client.create_experiment(name, artifact_location=location))
        except MlflowException as exc:
            # Another process created it between our lookup and our create.
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def _ensure_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self._client.create_registered_model(
                name, description="Registered by mlgate; versions pass every configured gate."
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    # -- the protocol ----------------------------------------------------------------------

    def register(
        self, bundle_dir: Path, gate_report: Mapping[str, Any], context: RunContext
    ) -> VersionInfo:
        """Log a run with the bundle as its `model` artifacts, register it, alias `challenger`.

        Refuses a bundle that fails verification or whose gate did not pass. On any failure
        after the run was created, the run (and the version, if created) is deleted again, so
        the registry never holds a half-registered model.
        """
        from mlgate.model.bundle import load_bundle

        bundle = load_bundle(bundle_dir)
        if not gate_report.get("passed"):
            raise GateFailed(
                f"bundle {bundle_dir} did not pass its gate: refusing to register it",
                hint="fix the failures `mlgate gate` reports, then run again",
            )
        meta = bundle.meta
        lineage = {
            "git_commit": meta.git.commit or "",
            "git_branch": meta.git.branch or "",
            "git_dirty": "" if meta.git.dirty is None else str(meta.git.dirty).lower(),
            "data_path": meta.data.path,
            "data_fingerprint": meta.data.fingerprint,
            "holdout_fingerprint": meta.data.holdout_fingerprint,
            "config_hash": meta.config_hash,
            "estimator": meta.estimator,
        }
        challenger = {k: float(v) for k, v in gate_report.get("challenger", meta.metrics).items()}
        champion = gate_report.get("champion") or None
        run_tags = {
            **{f"mlgate.lineage.{k}": v for k, v in lineage.items()},
            "mlgate.gate.passed": "true",
            "mlgate.gate.champion": (champion or {}).get("label") or "",
            "mlgate.gate.checks": _truncate(json.dumps(gate_report.get("checks", []))),
            "mlgate.source": context.source,
            "mlflow.user": context.actor,
            "mlflow.source.name": context.source,
        }
        if meta.git.commit:
            run_tags["mlflow.source.git.commit"] = meta.git.commit
        params = {
            "task": meta.task,
            "estimator": meta.estimator,
            "seed": str(meta.seed),
            "data_rows": str(meta.data.rows),
            **{f"model.{k}": json.dumps(v) for k, v in sorted(meta.params.items())},
        }
        metrics = dict(challenger)
        if champion and champion.get("metrics"):
            metrics.update({f"champion.{k}": float(v) for k, v in champion["metrics"].items()})
        version_tags = {
            **{f"mlgate.lineage.{k}": v for k, v in lineage.items()},
            "mlgate.metrics": json.dumps(challenger, sort_keys=True),
            "mlgate.registered_by": context.actor,
            "mlgate.registered_at": _now(),
            "mlgate.gate_champion": run_tags["mlgate.gate.champion"],
        }
        with self._translate(), self._write_lock():
            return self._register(
                meta.name, bundle_dir, context, run_tags, params, metrics, version_tags
            )

    def _register(
        self,
        name: str,
        bundle_dir: Path,
        context: RunContext,
        run_tags: dict[str, str],
        params: dict[str, str],
        metrics: dict[str, float],
        version_tags: dict[str, str],
    ) -> VersionInfo:
        from mlflow.entities import Metric, Param

        client = self._client
        experiment_id = self._experiment_id(name)
        self._ensure_model(name)
        run = client.create_run(experiment_id, tags=run_tags, run_name=f"{name}-register")
        run_id = run.info.run_id
        version: str | None = None
        try:
            stamp = int(datetime.now(UTC).timestamp() * 1000)
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items()],
                params=[Param(k, _truncate(v)) for k, v in params.items()],
            )
            client.log_artifacts(run_id, str(bundle_dir), artifact_path="model")
            for extra in context.artifacts:
                if extra.is_file():
                    client.log_artifact(run_id, str(extra), artifact_path="reports")
            mv = client.create_model_version(
                name, source=f"runs:/{run_id}/model", run_id=run_id, tags=version_tags
            )
            version = str(mv.version)
            _set_alias(client, name, CHALLENGER, version)
            client.set_terminated(run_id, "FINISHED")
        except BaseException:
            self._undo(name, run_id, version)
            raise
        return self._version(name, int(version), self._aliases(self._model(name)))

    def _undo(self, name: str, run_id: str, version: str | None) -> None:
        """Best-effort removal of a half-made registration; the original error is what counts."""
        client = self._client
        cleanup: list[tuple[str, Any]] = []
        if version is not None:
            cleanup.append(("model version", lambda: client.delete_model_version(name, version)))
        cleanup.append(("run", lambda: client.delete_run(run_id)))
        for what, action in cleanup:
            try:
                action()
            # Reported, then the original error propagates: cleanup must not mask it.
            except Exception as exc:
                import sys

                sys.stderr.write(
                    f"mlgate: could not remove the partial {what} ({name}, run {run_id}) "
                    f"from {self.uri}: {exc}\n"
                )

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point `alias` at `version`; the version must exist (UsageError naming it)."""
        with self._translate():
            aliases = self._aliases(self._model(name))
            self._version(name, version, aliases)
            _set_alias(self._client, name, alias, str(version))

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

    def _history(self, model: Any) -> list[int]:
        raw = (model.tags or {}).get(HISTORY_TAG)
        return [int(v) for v in json.loads(raw)] if raw else []

    def promote(self, name: str, version: int | None, *, reason: str, actor: str) -> VersionInfo:
        """Move `champion` to `version` (default: the challenger), recording who/when/why."""
        with self._translate(), self._write_lock():
            client = self._client
            model = self._model(name)
            aliases = self._aliases(model)
            if version is None:
                if CHALLENGER not in aliases:
                    raise UsageError(
                        f"model {name!r} has no alias {CHALLENGER!r} to promote",
                        hint="register a model with `mlgate run`, or pass a VERSION",
                    )
                version = aliases[CHALLENGER]
            self._version(name, version, aliases)  # UsageError when it does not exist
            if aliases.get(CHAMPION) == version:
                return self._version(name, version, aliases)
            history = self._history(model)
            if CHAMPION in aliases and (not history or history[-1] != aliases[CHAMPION]):
                # The alias was moved outside mlgate: remember where it was so rollback works.
                history.append(aliases[CHAMPION])
            history.append(version)
            for key, value in {
                "mlgate.promoted_by": actor,
                "mlgate.promoted_at": _now(),
                "mlgate.promotion_reason": _truncate(reason),
            }.items():
                client.set_model_version_tag(name, str(version), key, value)
            client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-_HISTORY_KEEP:]))
            _set_alias(client, name, CHAMPION, str(version))
            aliases[CHAMPION] = version
            return self._version(name, version, aliases)

    def rollback(self, name: str, *, reason: str, actor: str) -> VersionInfo:
        """Move `champion` back to the version that held it before; record who/when/why."""
        with self._translate(), self._write_lock():
            client = self._client
            model = self._model(name)
            aliases = self._aliases(model)
            current = aliases.get(CHAMPION)
            if current is None:
                raise UsageError(f"model {name!r} has no {CHAMPION!r} to roll back")
            history = self._history(model)
            existing = {int(mv.version) for mv in self._search(name)}
            while history and (history[-1] == current or history[-1] not in existing):
                history.pop()
            if not history:
                raise UsageError(
                    f"model {name!r}: v{current} is the first {CHAMPION}; there is no previous "
                    f"{CHAMPION} to roll back to",
                    hint="promote a specific version with `mlgate promote VERSION`",
                )
            target = history[-1]
            for key, value in {
                "mlgate.rolled_back_by": actor,
                "mlgate.rolled_back_at": _now(),
                "mlgate.rollback_reason": _truncate(reason),
            }.items():
                client.set_model_version_tag(name, str(current), key, value)
            client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
            _set_alias(client, name, CHAMPION, str(target))
            aliases[CHAMPION] = target
            return self._version(name, target, aliases)

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

    def list_versions(self, name: str) -> list[VersionInfo]:
        """Every version, newest first, with aliases, metrics and lineage."""
        with self._translate():
            aliases = self._aliases(self._model(name))
            infos = [self._info(mv, aliases) for mv in self._search(name)]
        return sorted(infos, key=lambda i: i.version, reverse=True)

    def download(self, name: str, version: int, dst: Path) -> Path:
        """Fetch a version's bundle into `dst/v<version>` and verify its SHA256SUMS."""
        from mlgate.model.bundle import load_bundle

        with self._translate():
            aliases = self._aliases(self._model(name))
            info = self._version(name, version, aliases)
            if not info.run_id:
                raise BundleError(f"model {name!r} v{version} has no run to download from")
            target = dst / f"v{version}"
            target.mkdir(parents=True, exist_ok=True)
            local = self._client.download_artifacts(info.run_id, "model", str(target))
        path = Path(local)
        try:
            load_bundle(path)
        except BundleError as exc:
            raise BundleError(
                f"model {name!r} v{version} from {self.uri}: {exc.message}",
                hint="the registry copy is damaged; promote another version",
            ) from None
        return path
