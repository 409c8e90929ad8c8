"""A registry that keeps its versions in memory, for testing the use cases without MLflow, and
the small demo projects those tests run on.

`FakeRegistry` honours the contract `Registry` documents (only a passed gate is registered, and
only the bundle it judged; a download is verified; an unknown model is a UsageError, an unset
alias None) and records every call, so a test can assert what a use case asked of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters.mlflow import CHALLENGER, CHAMPION, Registry, RunContext, VersionInfo
from mlgate.app.scaffold import init_demo
from mlgate.core.config import Project
from mlgate.core.records.gate import GateReport
from mlgate.errors import BundleError, GateFailed, InfraError, UsageError
from mlgate.store.bundle import load_bundle
from mlgate.store.project import load_project
from mlgate.store.trust import Trust

DEMO_ROWS = 600
# A fit of a second or two: few trees, one core (the machine is shared), no ONNX conversion,
# and a bootstrap small enough that a champion comparison stays cheap.
CHEAP_CONFIG = (
    ("n_estimators: 100", "n_estimators: 20"),
    ("n_jobs: -1", "n_jobs: 1"),
    ("  imbalance: auto", "  onnx: never\n  imbalance: auto"),
)
CHEAP_EVALUATION = "evaluation:\n  bootstrap_resamples: 100\n"
# The demo's ROC-AUC gate made out of reach: a model that trains, then fails its quality gate.
REACHABLE_GATE = "  - metric: roc_auc\n    min_gain_over_baseline: 0.1\n"
UNREACHABLE_GATE = "  - metric: roc_auc\n    threshold: 0.999\n"


@dataclass(frozen=True)
class Call:
    """One method call the fake received (the arguments that identify what was asked)."""

    method: str
    args: tuple[object, ...] = ()


@dataclass(frozen=True)
class Registration:
    """What `register` was given."""

    bundle_dir: Path
    gate_report: GateReport
    context: RunContext
    trust: Trust | None


@dataclass
class _Stored:
    run_id: str
    metrics: dict[str, float]
    lineage: dict[str, str]
    files: dict[str, bytes]
    tags: dict[str, str] = field(default_factory=dict)


class FakeRegistry:
    """An in-memory `Registry`: versions, aliases and champion history per model name.

    `unreachable`: the error `check_reachable` raises. `abandoned`: the run ids the first
    `fail_abandoned_runs` reports (marked FAILED, they are not reported again).
    """

    def __init__(
        self,
        uri: str = "fake://registry",
        *,
        unreachable: InfraError | None = None,
        abandoned: Sequence[str] = (),
    ) -> None:
        self.uri = uri
        self.unreachable = unreachable
        self.calls: list[Call] = []
        self.registrations: list[Registration] = []
        self._abandoned = list(abandoned)
        self._versions: dict[str, dict[int, _Stored]] = {}
        self._aliases: dict[str, dict[str, int]] = {}
        self._history: dict[str, list[int]] = {}

    @property
    def methods(self) -> list[str]:
        """The names of the methods called, in order."""
        return [c.method for c in self.calls]

    def aliases(self, name: str) -> dict[str, int]:
        """The model's aliases and the versions they name (empty for an unknown model)."""
        return dict(self._aliases.get(name, {}))

    def check_reachable(self) -> None:
        """Raise `unreachable` when one was given."""
        self.calls.append(Call("check_reachable"))
        if self.unreachable is not None:
            raise self.unreachable

    def register(
        self,
        bundle_dir: Path,
        gate_report: GateReport,
        context: RunContext,
        *,
        trust: Trust | None = None,
    ) -> VersionInfo:
        """Keep a copy of the verified bundle as a new version and alias it `challenger`."""
        self.calls.append(Call("register", (bundle_dir,)))
        bundle = load_bundle(bundle_dir, trust=trust)
        if not gate_report.passed:
            raise GateFailed(f"bundle {bundle_dir} did not pass its gate")
        if gate_report.bundle_digest != bundle.content_digest:
            raise BundleError(f"bundle {bundle_dir} is not the bundle its gate judged")
        name = bundle.meta.name
        versions = self._versions.setdefault(name, {})
        version = max(versions, default=0) + 1
        files = {
            p.relative_to(bundle_dir).as_posix(): p.read_bytes()
            for p in sorted(bundle_dir.rglob("*"))
            if p.is_file()
        }
        versions[version] = _Stored(
            run_id=f"fake-run-{name}-{version}",
            metrics=dict(gate_report.challenger),
            lineage={
                "config_hash": bundle.meta.config_hash,
                "data_fingerprint": bundle.meta.data.fingerprint,
            },
            files=files,
        )
        self._aliases.setdefault(name, {})[CHALLENGER] = version
        self.registrations.append(Registration(bundle_dir, gate_report, context, trust))
        return self._info(name, version)

    def fail_abandoned_runs(self, name: str) -> list[str]:
        """The abandoned run ids given at construction, once."""
        self.calls.append(Call("fail_abandoned_runs", (name,)))
        failed, self._abandoned = self._abandoned, []
        return failed

    def get_alias(self, name: str, alias: str) -> VersionInfo | None:
        """The version `alias` names; None when unset; UsageError for an unknown model."""
        self.calls.append(Call("get_alias", (name, alias)))
        version = self._model(name).get(alias)
        return None if version is None else self._info(name, version)

    def promote(self, name: str, version: int | None, *, reason: str, actor: str) -> VersionInfo:
        """Move `champion` to `version` (default: the challenger)."""
        self.calls.append(Call("promote", (name, version)))
        aliases = self._model(name)
        if version is None:
            if CHALLENGER not in aliases:
                raise UsageError(f"model {name!r} has no alias {CHALLENGER!r} to promote")
            version = aliases[CHALLENGER]
        self._stored(name, version)
        aliases[CHAMPION] = version
        self._history.setdefault(name, []).append(version)
        return self._info(name, version)

    def rollback(self, name: str, *, reason: str, actor: str) -> VersionInfo:
        """Move `champion` back to the version that held it before."""
        self.calls.append(Call("rollback", (name,)))
        aliases = self._model(name)
        history = self._history.get(name, [])
        if len(history) < 2:
            raise UsageError(f"model {name!r} has no previous {CHAMPION!r} to roll back to")
        history.pop()
        aliases[CHAMPION] = history[-1]
        return self._info(name, history[-1])

    def reject(self, name: str, version: int, *, reason: str, actor: str) -> VersionInfo:
        """Record on `version` that its release was rolled back; no alias moves."""
        self.calls.append(Call("reject", (name, version)))
        self._model(name)
        self._stored(name, version).tags.update(
            {"mlgate.rejected_by": actor, "mlgate.rejection_reason": reason}
        )
        return self._info(name, version)

    def record_override(
        self, name: str, version: int, *, reason: str, actor: str, overridden: str
    ) -> VersionInfo:
        """Record on `version` that the release policy's refusal was overridden."""
        self.calls.append(Call("record_override", (name, version)))
        self._model(name)
        self._stored(name, version).tags.update(
            {"mlgate.override_by": actor, "mlgate.override_reason": reason}
        )
        return self._info(name, version)

    def list_versions(self, name: str) -> list[VersionInfo]:
        """Every version, newest first."""
        self.calls.append(Call("list_versions", (name,)))
        self._model(name)
        return [self._info(name, v) for v in sorted(self._versions[name], reverse=True)]

    def download(self, name: str, version: int, dst: Path, *, trust: Trust | None = None) -> Path:
        """Write the version's bundle into `dst/v<version>` and verify it."""
        self.calls.append(Call("download", (name, version)))
        self._model(name)
        target = dst / f"v{version}"
        for relative, data in self._stored(name, version).files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        load_bundle(target, trust=trust)
        return target

    def _model(self, name: str) -> dict[str, int]:
        if name not in self._aliases:
            raise UsageError(f"model {name!r} is not registered in {self.uri}")
        return self._aliases[name]

    def _stored(self, name: str, version: int) -> _Stored:
        try:
            return self._versions[name][version]
        except KeyError:
            raise UsageError(f"model {name!r} has no version {version}") from None

    def _info(self, name: str, version: int) -> VersionInfo:
        stored = self._stored(name, version)
        aliases = tuple(sorted(a for a, v in self._aliases[name].items() if v == version))
        return VersionInfo(
            name=name,
            version=version,
            aliases=aliases,
            run_id=stored.run_id,
            created_at="2025-01-01T00:00:00+00:00",
            metrics=dict(stored.metrics),
            lineage=dict(stored.lineage),
            tags=dict(stored.tags),
        )


if TYPE_CHECKING:
    # mypy --strict proves the fake satisfies the protocol the use cases receive.
    _conforms: Registry = FakeRegistry()


def edit(root: Path, old: str, new: str, *, file: str = "mlgate.yaml") -> None:
    """Replace one snippet of a project file, asserting it was there."""
    path = root / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new))


def cheap_demo(root: Path) -> Project:
    """The demo project, `DEMO_ROWS` rows, configured for a fit of a second or two."""
    init_demo(root, rows=DEMO_ROWS)
    for old, new in CHEAP_CONFIG:
        edit(root, old, new)
    config = root / "mlgate.yaml"
    config.write_text(config.read_text() + CHEAP_EVALUATION)
    return load_project(root)


def copy_project(template: Path, dest: Path) -> Project:
    """A private copy of a project directory, loaded."""
    shutil.copytree(template, dest)
    return load_project(dest)


def registry_with_champion(gated: Project) -> FakeRegistry:
    """A fake whose v1, the `gated` project's bundle, is the champion; no calls recorded yet."""
    registry = FakeRegistry()
    report = load_bundle(gated.bundle_dir).gate_report()
    assert report is not None, f"{gated.bundle_dir} has not been gated"
    registry.register(gated.bundle_dir, report, RunContext(actor="test", source="test"))
    registry.promote(gated.config.name, 1, reason="the first model", actor="test")
    registry.calls.clear()
    registry.registrations.clear()
    return registry
