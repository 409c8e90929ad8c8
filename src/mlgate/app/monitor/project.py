"""`mlgate monitor` for a project: its bundle, a directory, or a `models:/` URI resolved in its
registry, against its prediction log."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlgate.adapters.mlflow import fetch_model, is_model_uri, open_registry
from mlgate.app.monitor.run import MonitorRequest
from mlgate.app.monitor.service import MonitorOptions, MonitorOutcome
from mlgate.app.monitor.service import monitor as run
from mlgate.core.config import Project
from mlgate.store.trust import project_trust


def monitor_project(
    project: Project,
    source: str | None,
    fields: MonitorOptions,
) -> MonitorOutcome:
    """`mlgate monitor`: the project's bundle (or a directory, or a `models:/` URI resolved in
    its registry) against its prediction log."""

    trust = project_trust(project)

    def request(bundle: Path) -> MonitorRequest:
        return MonitorRequest(
            trust=trust,
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
        bundle = fetch_model(open_registry(project), source, Path(workdir), trust=trust)
        return run(request(bundle), out, fields.targets, fields.dispatch_file)
