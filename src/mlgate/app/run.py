"""`mlgate run` as a governed release: champion from the registry -> validate -> train -> gate
-> register.

Only a run whose every stage passed is registered, and only the `challenger` alias moves;
promotion to `champion` is a separate, recorded decision.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from mlgate.adapters.mlflow import Registry, RunContext, VersionInfo, open_registry
from mlgate.app import pipeline
from mlgate.app.champion import bundle_champion, champion_for_gate, no_champion_note
from mlgate.app.compute import check_compute
from mlgate.app.pipeline import Progress, RunResult, StageResult
from mlgate.core.ci import NO_CI, CiEnv
from mlgate.core.config import Project
from mlgate.store.locking import clean_leftovers, project_lock, scratch_dir
from mlgate.store.trust import project_trust


@dataclass
class RunOutcome:
    """The pipeline run, the champion it was compared with, and what was registered."""

    run: RunResult
    registry_uri: str
    champion: VersionInfo | None
    registered: VersionInfo | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every stage (registration included) passed."""
        return self.run.passed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for `mlgate run --json`."""
        return {
            **self.run.to_dict(),
            "registry": self.registry_uri,
            "champion": self.champion.to_dict() if self.champion else None,
            "registered": self.registered.to_dict() if self.registered else None,
            "notes": self.notes,
        }


def run_with_registry(
    project: Project,
    *,
    registry: Registry | None = None,
    register: bool = True,
    source: str = "mlgate run",
    progress: Progress | None = None,
    wait: bool = True,
    ci: CiEnv = NO_CI,
) -> RunOutcome:
    """Champion lookup -> `pipeline.run(project, champion=...)` -> register when every gate passed.

    `registry` defaults to the project's (`MLFLOW_TRACKING_URI` or the embedded SQLite file).
    With `register=False` (pull requests) the run is gated against the champion but nothing is
    written to the registry. A registry that cannot be reached fails before any work is done.

    The whole run holds the project lock (`wait=False`: InfraError when another run holds it),
    first removes what killed runs left (staging copies, scratch directories, temporary files)
    and marks FAILED the registrations a dead process of this machine left RUNNING.
    """
    # Before anything is written (the registry's file, the lock file): the cluster, the registry.
    check_compute(project.config)
    reg: Registry = registry if registry is not None else open_registry(project)
    reg.check_reachable()
    with project_lock(project, wait=wait, say=progress, what=source):
        return _run_locked(project, reg, register, source, progress, ci)


def _run_locked(
    project: Project,
    reg: Registry,
    register: bool,
    source: str,
    progress: Progress | None,
    ci: CiEnv,
) -> RunOutcome:
    say = progress or (lambda _msg: None)
    trust = project_trust(project)
    name = project.config.name
    notes: list[str] = []
    cleaned = clean_leftovers(project)
    if cleaned:
        notes.append(f"removed {len(cleaned)} leftover(s) of killed runs")
    say(f"looking up the champion in {reg.uri}")
    if register and (abandoned := reg.fail_abandoned_runs(name)):
        notes.append(f"marked {len(abandoned)} registration(s) of dead processes FAILED")
    scratch = scratch_dir(project)
    try:
        champion_info, champion = champion_for_gate(reg, name, scratch, trust)
        if champion is None:
            champion = bundle_champion(project, trust)
        result = RunOutcome(
            run=pipeline.run(project, champion=champion, progress=progress, ci=ci),
            registry_uri=reg.uri,
            champion=champion_info,
            notes=notes,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if champion_info is None and project.config.evaluation.champion_bundle is None:
        result.notes.append(no_champion_note(project, reg.uri))
    stages = result.run.stages
    if not result.run.passed or result.run.gate is None:
        stages.append(StageResult("register", "skipped", "a gate failed: nothing registered", 0))
        return result
    if not register:
        stages.append(StageResult("register", "skipped", "--no-register", 0.0))
        return result
    say(f"registering in {reg.uri}")
    t0 = time.perf_counter()
    artifacts = [project.reports_dir / "validation.json", project.reports_dir / "gate.json"]
    # The gate's own report: it names the digest of the bundle it judged, which the registry
    # checks against the bundle it uploads.
    result.registered = reg.register(
        project.bundle_dir, result.run.gate, RunContext.current(source, artifacts), trust=trust
    )
    stages.append(
        StageResult(
            "register",
            "passed",
            f"{name} v{result.registered.version} -> alias challenger ({reg.uri})",
            time.perf_counter() - t0,
        )
    )
    return result
