"""`mlgate run` as a governed release: champion from the registry -> validate -> train -> gate ->
register.

The champion is downloaded from the registry and re-evaluated on the current holdout by the
gate (its logged metrics are never trusted). Only a run whose every stage passed is registered,
and only the `challenger` alias moves; promotion to `champion` is a separate, recorded decision.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config import Project
from mlgate.pipeline import Progress, RunResult, StageResult

if TYPE_CHECKING:
    from mlgate.registry import Registry, VersionInfo

NO_CHAMPION_NOTE = "no champion in the registry: only absolute gates were applied"


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
    registry: Registry, name: str, workdir: Path
) -> tuple[VersionInfo | None, Any]:
    """The champion's version and a verified local copy of its bundle, or (None, None).

    The copy lives in `workdir`; `run_gate(project, champion=...)` re-evaluates it on the
    current holdout, so its logged metrics are never used.
    """
    from mlgate.model.evaluate import Champion

    info = _champion_info(registry, name)
    if info is None:
        return None, None
    bundle_dir = registry.download(name, info.version, workdir)
    return info, Champion(bundle_dir=bundle_dir, label=f"champion v{info.version}")


def _champion_info(registry: Registry, name: str) -> VersionInfo | None:
    from mlgate.errors import UsageError
    from mlgate.registry import CHAMPION

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
) -> ReleaseResult:
    """Champion lookup -> `pipeline.run(project, champion=...)` -> register when every gate passed.

    `registry` defaults to the project's (`MLFLOW_TRACKING_URI` or the embedded SQLite file).
    With `register=False` (pull requests) the run is gated against the champion but nothing is
    written to the registry. A registry that cannot be reached fails before any work is done.
    """
    from mlgate import pipeline
    from mlgate.registry import RunContext, registry_for

    say = progress or (lambda _msg: None)
    reg: Registry = registry if registry is not None else registry_for(project)
    name = project.config.name
    say(f"looking up the champion in {reg.uri}")
    reg.check_reachable()
    with tempfile.TemporaryDirectory(prefix="mlgate-champion-") as tmp:
        champion_info, champion = champion_for_gate(reg, name, Path(tmp))
        result = ReleaseResult(
            run=pipeline.run(project, champion=champion, progress=progress),
            registry_uri=reg.uri,
            champion=champion_info,
        )
    if champion_info is None:
        result.notes.append(NO_CHAMPION_NOTE)
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
    result.registered = reg.register(
        project.bundle_dir, gate, RunContext.current(source, artifacts)
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


MODEL_URI_PREFIX = "models:/"


def parse_model_uri(uri: str) -> tuple[str, str | None, int | None]:
    """`models:/NAME@ALIAS` or `models:/NAME/VERSION` (MLflow's forms) -> (name, alias, version)."""
    from mlgate.errors import UsageError

    body = uri.removeprefix(MODEL_URI_PREFIX)
    if "@" in body:
        name, _, alias = body.partition("@")
        if name and alias and "/" not in name:
            return name, alias, None
    else:
        name, _, version = body.partition("/")
        if name and version.isdigit():
            return name, None, int(version)
    raise UsageError(
        f"not a model URI: {uri!r}",
        hint="use models:/NAME@ALIAS (e.g. models:/churn@champion) or models:/NAME/VERSION",
    )


def fetch_model(uri: str, project_root: Path, workdir: Path) -> Path:
    """Download the bundle a `models:/` URI names into `workdir` (verified) and return it."""
    from mlgate.errors import UsageError
    from mlgate.registry import open_registry

    name, alias, version = parse_model_uri(uri)
    registry = open_registry(project_root)
    if alias is not None:
        info = registry.get_alias(name, alias)
        if info is None:
            raise UsageError(
                f"model {name!r} has no alias {alias!r}",
                hint=f"see `mlgate models --model {name}`",
            )
        version = info.version
    assert version is not None
    return registry.download(name, version, workdir)
