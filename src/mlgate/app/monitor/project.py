"""`mlgate monitor` for a project: the bundle that answered the logged requests (by default),
a directory, or a `models:/` URI resolved in its registry, against its prediction log.

Without `--bundle`, the log names the bundle: every record carries the version (content
address) of the bundle that answered it. The newest record's version is the project's bundle,
or a registered version whose recorded digest it begins (`mlgate.bundle_digest`), which is
downloaded and verified; a version found in neither is an error naming it, never a silent
comparison with another model.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mlgate.adapters.mlflow import fetch_model, is_model_uri, open_registry
from mlgate.adapters.mlflow.integrity import DIGEST_TAG
from mlgate.app.monitor.logs import LIVE_FILE, LOG_GLOB, discover
from mlgate.app.monitor.run import MonitorRequest
from mlgate.app.monitor.service import MonitorOptions, MonitorOutcome
from mlgate.app.monitor.service import monitor as run
from mlgate.core.config import Project
from mlgate.errors import DataError
from mlgate.store.bundle import load_bundle
from mlgate.store.trust import project_trust

TAIL_BYTES = 1 << 20
"""How much of the newest log file is read to find its last record."""


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
    if source is None:
        source = served_source(project, request(project.bundle_dir).logs)
    if source is not None and source.startswith("@"):
        # `@champion`: that alias of this project's model in its registry.
        source = f"models:/{project.config.name}{source}"
    if source is None or not is_model_uri(source):
        bundle = Path(source) if source is not None else project.bundle_dir
        return run(request(bundle), out, fields.targets, fields.dispatch_file)
    with tempfile.TemporaryDirectory(prefix="mlgate-monitor-") as workdir:
        bundle = fetch_model(open_registry(project), source, Path(workdir), trust=trust)
        return run(request(bundle), out, fields.targets, fields.dispatch_file)


def last_logged_version(paths: Sequence[Path]) -> str | None:
    """The bundle version of the newest answered record in the JSON-lines logs under `paths`
    (None when there is none: an empty log, or only Parquet caches)."""
    try:
        files = [f for f in discover(paths, None) if f.match(LOG_GLOB) or f.name == LIVE_FILE]
    except DataError:
        return None  # no log at all: the monitor itself says so, naming the path
    for path in reversed(files):
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - TAIL_BYTES))
            tail = fh.read().splitlines()
        if size > TAIL_BYTES:
            tail = tail[1:]  # the first line read may be cut
        for line in reversed(tail):
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line being written, or not a record: the reader reports those
            if isinstance(record, dict) and isinstance(record.get("version"), str):
                return str(record["version"])
    return None


def served_source(project: Project, logs: Sequence[Path]) -> str | None:
    """What `monitor` judges without `--bundle`: None for the project's bundle, else the
    `models:/NAME/VERSION` of the registered version that answered the newest logged request."""
    served = last_logged_version(logs)
    if served is None:
        return None
    local = project.bundle_dir
    if local.is_dir() and load_bundle(local, trust=project_trust(project)).version == served:
        return None
    name = project.config.name
    registry = open_registry(project)
    for info in registry.list_versions(name):
        if info.tags.get(DIGEST_TAG, "").removeprefix("sha256:").startswith(served):
            return f"models:/{name}/{info.version}"
    raise DataError(
        f"the logged requests were answered by bundle {served}, which is neither "
        f"{project.bundle_dir} nor a version of {name!r} in the registry at {registry.uri}",
        hint="name the served model with --bundle (a bundle directory or models:/NAME@ALIAS)",
    )
