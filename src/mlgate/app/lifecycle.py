"""The registry-aware side of the pipeline: `mlgate run` as a governed release (champion from the
registry -> validate -> train -> gate -> register), the gate against the registry's champion,
registering a gated bundle, and serving or monitoring a `models:/` URI.

The champion is downloaded from the registry and re-evaluated on the current holdout by the
gate (its logged metrics are never trusted). Only a run whose every stage passed is registered,
and only the `challenger` alias moves; promotion to `champion` is a separate, recorded decision.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.app.pipeline import Progress, RunResult, StageResult
from mlgate.core.config import Project

if TYPE_CHECKING:
    from mlgate.adapters.mlflow import Registry, VersionInfo
    from mlgate.app.monitor.service import MonitorOptions, MonitorOutcome
    from mlgate.model.evaluate import GateReport
    from mlgate.serve.server import ServeOptions
    from mlgate.store.trust import Trust

NO_CHAMPION_NOTE = "no champion in the registry: only the absolute and baseline gates were applied"


def no_champion_note(project: Project, uri: str) -> str:
    """Why the champion gates did not run, and how to keep a champion between CI runs."""
    skipped = [
        g.metric
        for g in project.config.gates
        if g.min_absolute_change is not None or g.min_relative_change is not None
    ]
    what = f"the champion gate(s) on {', '.join(skipped)} did not run; " if skipped else ""
    return (
        f"{NO_CHAMPION_NOTE} ({uri}): {what}a CI job without MLFLOW_TRACKING_URI starts with an "
        "empty registry every time. Set that secret, or keep the champion's bundle in the DVC "
        "remote and name it in evaluation.champion_bundle (README: keeping a champion)"
    )


def _bundle_champion(project: Project, trust: Trust | None = None) -> Any:
    """The champion bundle named in evaluation.champion_bundle, when the registry has none."""
    from mlgate.model.evaluate import Champion

    configured = project.config.evaluation.champion_bundle
    if configured is None:
        return None
    path = project.path(configured)
    if not path.is_dir():
        from mlgate.errors import UsageError

        raise UsageError(
            f"evaluation.champion_bundle: {path} is not a directory",
            hint="run `dvc pull` to fetch it, or remove the key",
        )
    return Champion(bundle_dir=path, label=f"champion bundle {configured}", trust=trust)


@dataclass
class ReleaseResult:
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


def champion_for_gate(
    registry: Registry, name: str, workdir: Path, trust: Trust | None = None
) -> tuple[VersionInfo | None, Any]:
    """The champion's version and a verified local copy of its bundle, or (None, None).

    The copy lives in `workdir` and is checked like any bundle (SHA256SUMS, and the signature
    when `trust` has a public key); `run_gate(project, champion=...)` re-evaluates it on the
    current holdout, so its logged metrics are never used.
    """
    from mlgate.model.evaluate import Champion

    info = _champion_info(registry, name)
    if info is None:
        return None, None
    bundle_dir = registry.download(name, info.version, workdir, trust=trust)
    label = f"champion v{info.version}"
    return info, Champion(bundle_dir=bundle_dir, label=label, trust=trust)


def _champion_info(registry: Registry, name: str) -> VersionInfo | None:
    from mlgate.adapters.mlflow import CHAMPION
    from mlgate.errors import UsageError

    try:
        return registry.get_alias(name, CHAMPION)
    except UsageError:
        # The model is not registered yet: the first run has nothing to beat.
        return None


def run_with_registry(
    project: Project,
    *,
    registry: Registry | None = None,
    register: bool = True,
    source: str = "mlgate run",
    progress: Progress | None = None,
    wait: bool = True,
) -> ReleaseResult:
    """Champion lookup -> `pipeline.run(project, champion=...)` -> register when every gate passed.

    `registry` defaults to the project's (`MLFLOW_TRACKING_URI` or the embedded SQLite file).
    With `register=False` (pull requests) the run is gated against the champion but nothing is
    written to the registry. A registry that cannot be reached fails before any work is done.

    The whole run holds the project lock (`wait=False`: InfraError when another run holds it),
    first removes what killed runs left (staging copies, scratch directories, temporary files)
    and marks FAILED the registrations a dead process of this machine left RUNNING.
    """
    from mlgate.adapters.mlflow import open_registry
    from mlgate.store.locking import project_lock

    reg: Registry = registry if registry is not None else open_registry(project)
    # Before anything is written, the lock file included.
    reg.check_reachable()
    with project_lock(project, wait=wait, say=progress, what=source):
        return _run_locked(project, reg, register, source, progress)


def _run_locked(
    project: Project,
    reg: Registry,
    register: bool,
    source: str,
    progress: Progress | None,
) -> ReleaseResult:
    from mlgate.adapters.mlflow import RunContext
    from mlgate.app import pipeline
    from mlgate.store.locking import clean_leftovers, scratch_dir
    from mlgate.store.trust import project_trust

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
            champion = _bundle_champion(project, trust)
        result = ReleaseResult(
            run=pipeline.run(project, champion=champion, progress=progress),
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
    gate = result.run.gate.to_dict()
    artifacts = [project.reports_dir / "validation.json", project.reports_dir / "gate.json"]
    # The gate's own report: it names the digest of the bundle it judged, which the registry
    # checks against the bundle it uploads.
    result.registered = reg.register(
        project.bundle_dir, gate, RunContext.current(source, artifacts), trust=trust
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


def gate(
    project: Project,
    *,
    champion_bundle: Path | None = None,
    registry: Registry | None = None,
    use_registry: bool = True,
    wait: bool = True,
) -> GateReport:
    """`mlgate gate`: the quality gate against `champion_bundle`, else the registry's champion
    (when `use_registry` and there is one), else the absolute thresholds alone. Holds the
    project lock: it writes its verdict into the bundle."""
    from mlgate.adapters.mlflow import open_registry
    from mlgate.model.evaluate import Champion, run_gate
    from mlgate.store.locking import clean_leftovers, project_lock, scratch_dir
    from mlgate.store.trust import project_trust

    trust = project_trust(project)
    with project_lock(project, wait=wait, what="mlgate gate"):
        clean_leftovers(project)
        if champion_bundle is not None:
            label = str(champion_bundle)
            chosen = Champion(bundle_dir=champion_bundle, label=label, trust=trust)
            return run_gate(project, champion=chosen)
        if not use_registry:
            return run_gate(project)
        reg: Registry = registry if registry is not None else open_registry(project)
        scratch = scratch_dir(project)
        try:
            _, champion = champion_for_gate(reg, project.config.name, scratch, trust)
            return run_gate(project, champion=champion)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def register_gated(
    project: Project,
    *,
    registry: Registry | None = None,
    source: str = "mlgate register",
    wait: bool = True,
) -> VersionInfo:
    """`mlgate register`: register the project's bundle with the report its gate wrote into it
    (which names the digest of the bundle it judged), holding the project lock."""
    from mlgate.adapters.mlflow import RunContext, open_registry
    from mlgate.errors import UsageError
    from mlgate.store.bundle import load_bundle
    from mlgate.store.locking import project_lock
    from mlgate.store.trust import project_trust

    trust = project_trust(project)
    with project_lock(project, wait=wait, what=source):
        gate_report = load_bundle(project.bundle_dir, trust=trust).gate_report()
        if gate_report is None:
            raise UsageError(
                f"bundle {project.bundle_dir} has not been gated (no gate.json)",
                hint="run `mlgate gate` (or `mlgate run`) first",
            )
        reg: Registry = registry if registry is not None else open_registry(project)
        reg.fail_abandoned_runs(project.config.name)
        artifacts = [project.reports_dir / "validation.json", project.reports_dir / "gate.json"]
        context = RunContext.current(source, artifacts)
        return reg.register(project.bundle_dir, gate_report, context, trust=trust)


def serve(source: str, *, config: Path, options: ServeOptions) -> None:
    """`mlgate serve`: serve a bundle directory, or the version a `models:/` URI names in the
    registry of the project at `config` (downloaded and verified; the copy lives as long as the
    server and is removed when it stops, SIGTERM included). Blocks until the server stops."""
    from dataclasses import replace

    from mlgate.adapters.mlflow import fetch_model, is_model_uri, open_registry
    from mlgate.serve.server import run
    from mlgate.store.trust import command_trust

    settings = options.settings
    trust = command_trust(config, settings.public_key, settings.trusted_types)
    settings = settings.model_copy(
        update={"public_key": trust.public_key, "trusted_types": trust.types}
    )
    options = replace(options, settings=settings)
    if not is_model_uri(source):
        run(Path(source), options)
        return
    with tempfile.TemporaryDirectory(prefix="mlgate-serve-") as workdir:
        run(fetch_model(open_registry(config), source, Path(workdir), trust=trust), options)


def monitor(
    project: Project,
    source: str | None,
    fields: MonitorOptions,
) -> MonitorOutcome:
    """`mlgate monitor`: the project's bundle (or a directory, or a `models:/` URI resolved in
    its registry) against its prediction log."""
    from mlgate.adapters.mlflow import fetch_model, is_model_uri, open_registry
    from mlgate.app.monitor.run import MonitorRequest
    from mlgate.app.monitor.service import monitor as run
    from mlgate.store.trust import project_trust

    def request(bundle: Path) -> MonitorRequest:
        return MonitorRequest(
            bundle_dir=bundle,
            logs=fields.logs or (project.path(project.config.monitor.logs),),
            policy=project.config.monitor,
            drift=project.config.drift,
            since=fields.since or project.config.monitor.since,
            labels=fields.labels,
            chunk_rows=fields.chunk_rows,
            cache=fields.cache,
        )

    out = fields.out or project.reports_dir / "monitor"
    if source is not None and source.startswith("@"):
        # `@champion`: that alias of this project's model in its registry.
        source = f"models:/{project.config.name}{source}"
    if source is None or not is_model_uri(source):
        bundle = Path(source) if source is not None else project.bundle_dir
        return run(request(bundle), out, fields.targets, fields.dispatch_file)
    with tempfile.TemporaryDirectory(prefix="mlgate-monitor-") as workdir:
        trust = project_trust(project)
        bundle = fetch_model(open_registry(project), source, Path(workdir), trust=trust)
        return run(request(bundle), out, fields.targets, fields.dispatch_file)
