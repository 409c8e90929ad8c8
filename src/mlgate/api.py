"""The public Python API: what each `mlgate` command does, as one function call.

    project = mlgate.open_project("path/to/project")
    result = mlgate.run(project)
    result.passed, result.stages, result.registered

Verdicts are values (`passed` on the result or report: a failed gate is not an exception);
everything else that goes wrong raises a `mlgate.errors.MlgateError` subclass (UsageError,
ConfigError, DataError, BundleError, InfraError...). The registry is the project's, as for the
CLI: `MLFLOW_TRACKING_URI`, else `registry.tracking_uri`, else the embedded SQLite file.

Importing this module loads no pandas, scikit-learn or MLflow: each call imports what it needs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.adapters.mlflow import VersionInfo, current_actor, open_registry
from mlgate.app import pipeline, scaffold
from mlgate.app import report as report_mod
from mlgate.app.gate import gate_project
from mlgate.app.image.build import BuildOptions, BuildResult, build_image
from mlgate.app.monitor.alerts import AlertTargets
from mlgate.app.monitor.project import monitor_project
from mlgate.app.monitor.service import MonitorOptions, MonitorOutcome
from mlgate.app.pipeline import Progress, StageResult
from mlgate.app.register import promote_checked, register_gated
from mlgate.app.run import run_with_registry
from mlgate.app.scaffold import InitResult
from mlgate.core.ci import CiEnv
from mlgate.core.config import Project
from mlgate.core.records.gate import GateReport
from mlgate.core.validate import ValidationReport
from mlgate.store.project import load_project

if TYPE_CHECKING:
    from mlgate.app.run import RunOutcome

__all__ = [
    "AlertTargets",
    "BuildOptions",
    "BuildResult",
    "CiEnv",
    "GateReport",
    "InitResult",
    "MonitorOptions",
    "MonitorOutcome",
    "Progress",
    "Project",
    "RunResult",
    "StageResult",
    "ValidationReport",
    "VersionInfo",
    "build",
    "gate",
    "init",
    "monitor",
    "open_project",
    "promote",
    "register",
    "report",
    "rollback",
    "run",
    "validate",
    "versions",
]


@dataclass(frozen=True)
class RunResult:
    """The verdict of `run`: passed, each stage in order, the champion, what was registered."""

    passed: bool
    stages: tuple[StageResult, ...]
    registered: VersionInfo | None
    champion: VersionInfo | None
    registry_uri: str
    notes: tuple[str, ...]
    validation: ValidationReport | None
    gate: GateReport | None
    bundle: Path | None
    _release: RunOutcome = field(repr=False, compare=False)

    @classmethod
    def of(cls, release: RunOutcome) -> RunResult:
        """The public view of a governed release."""
        run = release.run
        return cls(
            passed=release.passed,
            stages=tuple(run.stages),
            registered=release.registered,
            champion=release.champion,
            registry_uri=release.registry_uri,
            notes=tuple(release.notes),
            validation=run.validation,
            gate=run.gate,
            bundle=run.training.bundle_dir if run.training is not None else None,
            _release=release,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON `mlgate run --json` prints."""
        return self._release.to_dict()


def open_project(path: Path | str = ".") -> Project:
    """The project whose mlgate.yaml `path` names or contains (ConfigError when invalid)."""
    return load_project(path)


def init(
    directory: Path | str,
    *,
    demo: bool = False,
    data: Path | str | None = None,
    target: str | None = None,
    name: str | None = None,
    drop: tuple[str, ...] = (),
    roles: Mapping[str, str] | None = None,
    rows: int = 12_000,
    force: bool = False,
    dvc: bool = True,
    remote: str | None = None,
) -> InitResult:
    """`mlgate init`: write a project for the demo data or for `data` predicting `target`."""
    request = scaffold.InitRequest(
        root=Path(directory),
        demo=demo,
        data=Path(data) if data is not None else None,
        target=target,
        name=name,
        drop=tuple(drop),
        # The same check as `--role`: an unknown role is a UsageError naming it.
        roles=scaffold.parse_roles([f"{c}={r}" for c, r in (roles or {}).items()]),
        rows=rows,
        force=force,
        dvc=dvc,
        remote=remote,
    )
    return scaffold.init_project(request)


def validate(project: Project, data: Path | str | None = None) -> ValidationReport:
    """`mlgate validate`: the data gate on `data` (default: the project's data.path)."""
    return pipeline.validate_file(project, Path(data) if data is not None else None)


def gate(
    project: Project,
    *,
    champion_bundle: Path | str | None = None,
    use_registry: bool = True,
    wait: bool = True,
) -> GateReport:
    """`mlgate gate`: the quality gate of the trained bundle against the champion."""
    champion = Path(champion_bundle) if champion_bundle is not None else None
    return gate_project(project, champion_bundle=champion, use_registry=use_registry, wait=wait)


def run(
    project: Project,
    *,
    register: bool = True,
    progress: Progress | None = None,
    wait: bool = True,
    ci: CiEnv | None = None,
) -> RunResult:
    """`mlgate run`: validate, train, gate against the champion, register when all passed.

    `ci`: what the CI runner says of the commit, recorded in the lineage when the checkout has
    no git metadata (default: GitHub Actions' variables in this process's environment)."""
    release = run_with_registry(
        project,
        register=register,
        source="mlgate.run",
        progress=progress,
        wait=wait,
        ci=CiEnv.from_environ(os.environ) if ci is None else ci,
    )
    return RunResult.of(release)


def register(project: Project, *, wait: bool = True) -> VersionInfo:
    """`mlgate register`: register the gated bundle as a new version, alias `challenger`."""
    return register_gated(project, source="mlgate.register", wait=wait)


def promote(
    project: Project,
    version: int | None = None,
    *,
    reason: str = "",
    model: str | None = None,
    actor: str | None = None,
    override: str | None = None,
) -> VersionInfo:
    """`mlgate promote`: move alias `champion` to the challenger (or `version`) when the
    release policy allows it (a version whose gate passed, that no release rejected), or past
    it with `override` (the reason, recorded on the version); a refusal raises GateFailed."""
    return promote_checked(
        project,
        version,
        reason=reason,
        actor=actor or current_actor(),
        override=override,
        model=model,
    )


def rollback(
    project: Project, *, reason: str = "", model: str | None = None, actor: str | None = None
) -> VersionInfo:
    """`mlgate rollback`: move alias `champion` back to the previous champion."""
    name = model or project.config.name
    who = actor or current_actor()
    return open_registry(project).rollback(name, reason=reason, actor=who)


def versions(project: Project, *, model: str | None = None) -> list[VersionInfo]:
    """`mlgate models`: every registered version, newest first."""
    return open_registry(project).list_versions(model or project.config.name)


def report(project: Project, *, out: Path | str | None = None) -> str:
    """`mlgate report`: the Markdown report, also written to `out` when given."""
    return report_mod.project_report(project, out=Path(out) if out is not None else None)


def monitor(
    project: Project,
    bundle: Path | str | None = None,
    options: MonitorOptions | None = None,
) -> MonitorOutcome:
    """`mlgate monitor`: the served model (`bundle`, `models:/...` or `@alias`) vs its log."""
    source = str(bundle) if bundle is not None else None
    return monitor_project(project, source, options or MonitorOptions())


def build(options: BuildOptions) -> BuildResult:
    """`mlgate build`: the serving image of a bundle, smoke-tested unless told not to."""
    return build_image(options)
