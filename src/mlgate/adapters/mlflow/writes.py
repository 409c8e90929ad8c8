"""`Registry` on MLflow: the writes (register, aliases, promote, rollback) over `MlflowStore`.

See `mlgate.adapters.mlflow.types` for what is stored where.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.adapters.mlflow.integrity import DIGEST_TAG
from mlgate.adapters.mlflow.process import PROCESS_TAG, ProcessId
from mlgate.adapters.mlflow.reads import MlflowStore, now_iso, set_alias_retrying, truncate
from mlgate.adapters.mlflow.search import search_documents, search_tags
from mlgate.adapters.mlflow.types import (
    CHALLENGER,
    CHAMPION,
    HISTORY_TAG,
    RELEASES_TAG,
    RunContext,
    VersionInfo,
)
from mlgate.errors import BundleError, GateFailed, UsageError

if TYPE_CHECKING:
    from mlgate.core.records.gate import GateReport
    from mlgate.core.records.lineage import BundleMeta
    from mlgate.store.trust import Trust

# Deferred imports: MLflow loads on the first call that needs it (its import costs seconds); the
# bundle loader is imported where a registration verifies its bundle, since the bundle module
# imports this package's types.

# What a failed cleanup left behind: the CLI shows this logger's records on stderr.
log = logging.getLogger(__name__)

# MLflow's registry caps tag values; the history only needs the recent past for rollbacks.
_HISTORY_KEEP = 100


class MlflowRegistry(MlflowStore):
    """`Registry` on MLflow: a tracking server over HTTP, or a SQLite file (embedded)."""

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
        self,
        bundle_dir: Path,
        gate_report: GateReport,
        context: RunContext,
        *,
        trust: Trust | None = None,
    ) -> VersionInfo:
        """Log a run with the bundle as its `model` artifacts, register it, alias `challenger`.

        Refuses a bundle that fails verification (or its signature check, with `trust`'s public
        key), whose gate did not pass, or that is not the bundle the gate judged (its digest
        differs from the one the gate recorded). The version's `mlgate.bundle_digest` tag
        records the digest of the bundle verified here, for every download to compare with
        (`mlgate.adapters.mlflow.integrity`). On any failure after the run was created, the
        run is marked FAILED and deleted, with its artifacts and the version if one was made, so
        the registry never holds a half-registered model.
        """
        from mlgate.store.bundle import load_bundle

        bundle = load_bundle(bundle_dir, trust=trust)
        if not gate_report.passed:
            raise GateFailed(
                f"bundle {bundle_dir} did not pass its gate: refusing to register it",
                hint="fix the failures `mlgate gate` reports, then run again",
            )
        judged = gate_report.bundle_digest
        if judged != bundle.content_digest:
            raise BundleError(
                f"bundle {bundle_dir} is not the bundle its gate judged (gate: {judged}, "
                f"bundle now: {bundle.content_digest}): refusing to register it",
                hint="another process changed the bundle after the gate; run `mlgate run` again",
            )
        run_tags, params, metrics, version_tags = _records(bundle.meta, gate_report, context)
        run_tags.update(search_tags(bundle.meta))
        # What every download is compared with (`mlgate.adapters.mlflow.integrity`).
        version_tags[DIGEST_TAG] = bundle.sums_digest
        with self._translate(), self._write_lock():
            return self._register(
                bundle.meta.name, bundle_dir, context, run_tags, params, metrics, version_tags,
                search_documents(bundle.meta),
            )  # fmt: skip

    def _register(
        self,
        name: str,
        bundle_dir: Path,
        context: RunContext,
        run_tags: dict[str, str],
        params: dict[str, str],
        metrics: dict[str, float],
        version_tags: dict[str, str],
        documents: dict[str, Any],
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
                params=[Param(k, truncate(v)) for k, v in params.items()],
            )
            client.log_artifacts(run_id, str(bundle_dir), artifact_path="model")
            for artifact, document in documents.items():  # a search's trial table
                client.log_dict(run_id, document, artifact)
            for extra in context.artifacts:
                if extra.is_file():
                    client.log_artifact(run_id, str(extra), artifact_path="reports")
            mv = client.create_model_version(
                name, source=f"runs:/{run_id}/model", run_id=run_id, tags=version_tags
            )
            version = str(mv.version)
            set_alias_retrying(client, name, CHALLENGER, version)
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
        cleanup.append(("artifacts", lambda: self._delete_artifacts(run_id)))
        cleanup.append(("run status", lambda: client.set_terminated(run_id, "FAILED")))
        cleanup.append(("run", lambda: client.delete_run(run_id)))
        for what, action in cleanup:
            try:
                action()
            # Reported, then the original error propagates: cleanup must not mask it.
            except Exception as exc:
                log.warning(
                    "could not remove the partial %s (%s, run %s) from %s: %s",
                    what,
                    name,
                    run_id,
                    self.uri,
                    self._scrub(str(exc)),
                )

    def _delete_artifacts(self, run_id: str) -> None:
        """Remove a run's artifacts from its store (local directory or tracking server)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        uri = self._client.get_run(run_id).info.artifact_uri
        get_artifact_repository(uri).delete_artifacts()  # type: ignore[no-untyped-call]

    def fail_abandoned_runs(self, name: str) -> list[str]:
        """Mark FAILED the registrations of `name` left RUNNING by a process of this machine
        that is gone, removing the version and artifacts they may have half-made.

        Runs of other machines are left alone (their liveness cannot be judged from here).
        Returns the run ids marked. Call with the project lock held.
        """
        abandoned = self._abandoned_candidates(name)  # found without MLflow's client
        if not abandoned:  # the usual case
            return []
        with self._translate():
            client = self._client
            failed: list[str] = []
            for run_id, owner in abandoned:
                with self._write_lock():
                    for mv in client.search_model_versions(f"run_id='{run_id}'"):
                        client.delete_model_version(mv.name, str(mv.version))
                    self._delete_artifacts(run_id)
                    client.set_tag(run_id, "mlgate.abandoned", f"its process {owner.pid} died")
                    client.set_terminated(run_id, "FAILED")
                failed.append(run_id)
            return failed

    def _history(self, model: Any) -> list[int]:
        raw = (model.tags or {}).get(HISTORY_TAG)
        return [int(v) for v in json.loads(raw)] if raw else []

    def promote(self, name: str, version: int | None, *, reason: str, actor: str) -> VersionInfo:
        """Move `champion` to `version` (default: the challenger), recording who/when/why."""
        with self._translate(), self._write_lock(), self._meta.transaction():
            client = self._meta
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
                "mlgate.promoted_at": now_iso(),
                "mlgate.promotion_reason": truncate(reason),
            }.items():
                client.set_model_version_tag(name, str(version), key, value)
            client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-_HISTORY_KEEP:]))
            client.set_registered_model_alias(name, CHAMPION, version)
            aliases[CHAMPION] = version
            return self._version(name, version, aliases)

    def rollback(self, name: str, *, reason: str, actor: str) -> VersionInfo:
        """Move `champion` back to the version that held it before; record who/when/why."""
        with self._translate(), self._write_lock(), self._meta.transaction():
            client = self._meta
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
                "mlgate.rolled_back_at": now_iso(),
                "mlgate.rollback_reason": truncate(reason),
            }.items():
                client.set_model_version_tag(name, str(current), key, value)
            client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
            client.set_registered_model_alias(name, CHAMPION, target)
            aliases[CHAMPION] = target
            return self._version(name, target, aliases)

    def reject(self, name: str, version: int, *, reason: str, actor: str) -> VersionInfo:
        """Record on `version` that its release was rolled back, and why; aliases stay put.

        The version gets `mlgate.rejected_by/_at/_reason` tags (the last rejection) and the
        registered model's `mlgate.release_history` tag gets an entry (the recent past).
        """
        with self._translate(), self._write_lock(), self._meta.transaction():
            client = self._meta
            model = self._model(name)
            aliases = self._aliases(model)
            self._version(name, version, aliases)  # UsageError when it does not exist
            at = now_iso()
            for key, value in {
                "mlgate.rejected_by": actor,
                "mlgate.rejected_at": at,
                "mlgate.rejection_reason": truncate(reason),
            }.items():
                client.set_model_version_tag(name, str(version), key, value)
            raw = (model.tags or {}).get(RELEASES_TAG)
            history: list[dict[str, Any]] = json.loads(raw) if raw else []
            history.append(
                {"version": version, "outcome": "rolled back", "at": at, "by": actor,
                 "reason": reason[:300]}
            )  # fmt: skip
            # Oldest entries go first when the list would pass MLflow's tag value cap.
            while history and len(json.dumps(history)) > 4500:
                history.pop(0)
            client.set_registered_model_tag(name, RELEASES_TAG, json.dumps(history))
            return self._version(name, version, aliases)

    def record_override(
        self, name: str, version: int, *, reason: str, actor: str, overridden: str
    ) -> VersionInfo:
        """Record on `version` who released or promoted it past the release policy's refusal,
        when, why, and what was set aside (`mlgate.override_*` tags, the last override)."""
        with self._translate(), self._write_lock(), self._meta.transaction():
            client = self._meta
            aliases = self._aliases(self._model(name))
            self._version(name, version, aliases)  # UsageError when it does not exist
            for key, value in {
                "mlgate.override_by": actor,
                "mlgate.override_at": now_iso(),
                "mlgate.override_reason": truncate(reason),
                "mlgate.overridden": truncate(overridden),
            }.items():
                client.set_model_version_tag(name, str(version), key, value)
            return self._version(name, version, aliases)


def _records(
    meta: BundleMeta, gate_report: GateReport, context: RunContext
) -> tuple[dict[str, str], dict[str, str], dict[str, float], dict[str, str]]:
    """The run's tags, params and metrics and the version's tags for one registration."""
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
    if meta.command is not None:  # trained by the team's own command: say so, and how
        lineage["trained_by"] = "model.command"
        lineage["command"] = truncate(meta.command.command)
        lineage["command_exit_status"] = str(meta.command.exit_status)
        lineage["onnx_digest"] = meta.command.onnx_digest
    if meta.code is not None:  # built by the project's own code, pinned by this digest
        lineage["code_package"] = meta.code.package
        lineage["code_digest"] = meta.code.digest
        lineage["code_version"] = meta.code.version or ""
    challenger = {k: float(v) for k, v in gate_report.challenger.items()}
    champion = gate_report.champion
    run_tags = {
        **{f"mlgate.lineage.{k}": v for k, v in lineage.items()},
        "mlgate.gate.passed": "true",
        "mlgate.gate.champion": gate_report.champion_label or "",
        "mlgate.gate.checks": truncate(
            json.dumps([c.model_dump(mode="json") for c in gate_report.checks])
        ),
        "mlgate.source": context.source,
        "mlflow.user": context.actor,
        "mlflow.source.name": context.source,
        # Lets a later run tell a registration whose process died from one in progress.
        PROCESS_TAG: ProcessId.current().to_tag(),
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
    if champion is not None and champion.metrics:
        metrics.update({f"champion.{k}": float(v) for k, v in champion.metrics.items()})
    version_tags = {
        **{f"mlgate.lineage.{k}": v for k, v in lineage.items()},
        "mlgate.metrics": json.dumps(challenger, sort_keys=True),
        "mlgate.registered_by": context.actor,
        "mlgate.registered_at": now_iso(),
        "mlgate.gate_champion": run_tags["mlgate.gate.champion"],
    }
    return run_tags, params, metrics, version_tags
