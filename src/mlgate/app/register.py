"""`mlgate register`: register a gated bundle in the project's registry (alias `challenger`)."""

from __future__ import annotations

from mlgate.adapters.mlflow import Registry, RunContext, VersionInfo, open_registry
from mlgate.core.config import Project
from mlgate.errors import UsageError
from mlgate.store.bundle import load_bundle
from mlgate.store.locking import project_lock
from mlgate.store.trust import project_trust


def register_gated(
    project: Project,
    *,
    registry: Registry | None = None,
    source: str = "mlgate register",
    wait: bool = True,
) -> VersionInfo:
    """`mlgate register`: register the project's bundle with the report its gate wrote into it
    (which names the digest of the bundle it judged), holding the project lock."""
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
