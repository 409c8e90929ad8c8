"""The registry's protocol and the types it speaks: `Registry`, `VersionInfo`, `RunContext`.

What lives where in MLflow:
- one run per registration: params, holdout metrics, gate results and lineage tags, with the
  bundle directory logged unchanged as the run's `model` artifacts (it already is an MLflow
  Model dir, and mlgate.json / SHA256SUMS must travel with it);
- one model version per registration (registered model name = config `name`), with lineage and
  metrics copied into version tags so `mlgate models` needs no per-run lookups, and the
  bundle's digest (`mlgate.bundle_digest`) that every download is compared with;
- aliases `challenger` and `champion`; the champion history (for `rollback`) is a JSON list of
  versions in the registered-model tag `mlgate.champion_history`;
- a release that was rolled back (`mlgate deploy`) leaves its reason on the version
  (`mlgate.rejected_*` tags) and an entry in the registered-model tag `mlgate.release_history`;
- a release or promotion past the release policy's refusal (`--override`) leaves who, when, why
  and what it set aside on the version (`mlgate.override_*` tags).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mlgate.core.records.gate import GateReport
    from mlgate.store.trust import Trust

CHALLENGER = "challenger"
CHAMPION = "champion"
HISTORY_TAG = "mlgate.champion_history"
RELEASES_TAG = "mlgate.release_history"


@dataclass(frozen=True)
class RunContext:
    """Who registers, from which command, and what else to attach to the run."""

    actor: str
    source: str
    artifacts: tuple[Path, ...] = ()

    @classmethod
    def current(
        cls,
        source: str,
        artifacts: Sequence[Path] = (),
        *,
        environ: Mapping[str, str] | None = None,
    ) -> RunContext:
        """The CI actor (GitHub) or the local user (see `current_actor`)."""
        return cls(actor=current_actor(environ), source=source, artifacts=tuple(artifacts))


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version, as `mlgate models` shows it."""

    name: str
    version: int
    aliases: tuple[str, ...]
    run_id: str | None
    created_at: str
    metrics: dict[str, float]
    lineage: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How reports name this version: `champion v3`."""
        alias = CHAMPION if CHAMPION in self.aliases else (self.aliases or ("",))[0]
        return f"{alias} v{self.version}".strip()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for `mlgate models --json`."""
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "run_id": self.run_id,
            "created_at": self.created_at,
            "metrics": self.metrics,
            "lineage": self.lineage,
            "tags": self.tags,
        }


class Registry(Protocol):
    """Where gated bundles go, and where the champion comes from."""

    # Shown in messages and reports: credentials and tokens redacted.
    uri: str

    def check_reachable(self) -> None:
        """Raise InfraError (naming the URI) unless the registry answers."""
        ...

    def register(
        self,
        bundle_dir: Path,
        gate_report: GateReport,
        context: RunContext,
        *,
        trust: Trust | None = None,
    ) -> VersionInfo:
        """Log a run with the bundle as its model, register a version, alias it `challenger`.

        Only the bundle the gate judged (`gate_report["bundle_digest"]`) is registered."""
        ...

    def fail_abandoned_runs(self, name: str) -> list[str]:
        """Mark FAILED the registrations left RUNNING by a dead process of this machine."""
        ...

    def get_alias(self, name: str, alias: str) -> VersionInfo | None:
        """The version `alias` points at, or None when the alias is not set."""
        ...

    def promote(self, name: str, version: int | None, *, reason: str, actor: str) -> VersionInfo:
        """Move `champion` to `version` (default: the challenger) and record who/when/why."""
        ...

    def rollback(self, name: str, *, reason: str, actor: str) -> VersionInfo:
        """Move `champion` back to the previous champion."""
        ...

    def reject(self, name: str, version: int, *, reason: str, actor: str) -> VersionInfo:
        """Record that a release of `version` was rolled back (who, when, why); no alias moves."""
        ...

    def record_override(
        self, name: str, version: int, *, reason: str, actor: str, overridden: str
    ) -> VersionInfo:
        """Record that `version` was released or promoted past the release policy's refusal
        (`overridden`: what it set aside), by whom, when and why; no alias moves."""
        ...

    def list_versions(self, name: str) -> list[VersionInfo]:
        """Every version of the model, newest first."""
        ...

    def download(self, name: str, version: int, dst: Path, *, trust: Trust | None = None) -> Path:
        """Download a version's bundle into `dst` and verify it (SHA256SUMS, signature, and the
        digest recorded at registration: a swapped bundle is a BundleError naming both)."""
        ...


def current_actor(environ: Mapping[str, str] | None = None) -> str:
    """`GITHUB_ACTOR` of `environ` (default the process's) in GitHub Actions, else the login
    name."""
    actor = (os.environ if environ is None else environ).get("GITHUB_ACTOR")
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid in some containers
        return f"uid-{os.getuid()}"
