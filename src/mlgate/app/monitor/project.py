"""`mlgate monitor` for a project: the bundle that answered the logged requests (by default),
a directory, or a `models:/` URI resolved in its registry, against its prediction log.

Without `--bundle`, the log names the bundle: every record carries the version (content
address) of the bundle that answered it. The newest record's version is the project's bundle,
or a registered version whose recorded digest it begins (`mlgate.bundle_digest`), which is
downloaded and verified; a version found in neither is an error naming it, never a silent
comparison with another model.

Whichever bundle is judged, the reports name the registry version that recorded its digest
(`churn v3 (champion)`), when the project has a registry: an embedded one that does not exist
yet is not created by asking (`existing_registry`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mlgate.adapters.mlflow import (
    CHAMPION,
    Registry,
    fetch_model,
    is_model_uri,
    open_registry,
)
from mlgate.adapters.mlflow.integrity import DIGEST_TAG
from mlgate.adapters.mlflow.uri import sqlite_path
from mlgate.app.monitor.logs import LIVE_FILE, LOG_GLOB, discover
from mlgate.app.monitor.run import MonitorRequest
from mlgate.app.monitor.service import MonitorOptions, MonitorOutcome
from mlgate.app.monitor.service import monitor as run
from mlgate.app.monitor.skew import STORE, StoreSkew
from mlgate.core.config import Project
from mlgate.core.records.monitor import Registered
from mlgate.errors import DataError, InfraError, UsageError
from mlgate.store.bundle import load_bundle
from mlgate.store.trust import Trust, project_trust

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

    logs = fields.logs or (project.path(project.config.monitor.logs),)
    skew = skew_source(project, fields.skew)

    def request(bundle: Path) -> MonitorRequest:
        known, notes = registered_as(project, bundle, trust)
        return MonitorRequest(
            trust=trust,
            bundle_dir=bundle,
            logs=logs,
            policy=project.config.monitor,
            drift=project.config.drift,
            since=fields.since or project.config.monitor.since,
            labels=fields.labels,
            chunk_rows=fields.chunk_rows,
            cache=fields.cache,
            registered=known,
            notes=notes,
            skew=skew,
        )

    out = fields.out or project.reports_dir / "monitor"
    if source is None:
        source = served_source(project, logs)
    if source is not None and source.startswith("@"):
        # `@champion`: that alias of this project's model in its registry.
        source = f"models:/{project.config.name}{source}"
    if source is None or not is_model_uri(source):
        bundle = Path(source) if source is not None else project.bundle_dir
        return run(request(bundle), out, fields.targets, fields.dispatch_file)
    registry = existing_registry(project)
    if registry is None:
        raise UsageError(
            f"{source}: the registry of project {project.root} ({open_registry(project).uri}) "
            "does not exist yet: no model has been registered there",
            hint="register one first (`mlgate run` or `mlgate register`), or monitor a bundle "
            "directory (--bundle PATH)",
        )
    with tempfile.TemporaryDirectory(prefix="mlgate-monitor-") as workdir:
        bundle = fetch_model(registry, source, Path(workdir), trust=trust)
        return run(request(bundle), out, fields.targets, fields.dispatch_file)


def skew_source(project: Project, given: str | None) -> Path | StoreSkew | None:
    """What `--skew` names: the project's feature repository for `feast`, else a file."""
    if given != STORE:
        return None if given is None else Path(given)
    source = project.config.data.feast
    if project.config.data.source != "feast" or source is None:
        raise UsageError(
            f"--skew {STORE}: project {project.root} does not train from a feature store "
            f"(data.source: {project.config.data.source})",
            hint="set data.source: feast with data.feast.repo, or pass --skew FILE (a file "
            f"named {STORE} in this directory: --skew ./{STORE})",
        )
    return StoreSkew(project.path(source.repo))


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
    registry = existing_registry(project)
    for info in registry.list_versions(name) if registry is not None else []:
        if info.tags.get(DIGEST_TAG, "").removeprefix("sha256:").startswith(served):
            return f"models:/{name}/{info.version}"
    where = registry.uri if registry is not None else open_registry(project).uri
    raise DataError(
        f"the logged requests were answered by bundle {served}, which is neither "
        f"{project.bundle_dir} nor a version of {name!r} in the registry at {where}",
        hint="name the served model with --bundle (a bundle directory or models:/NAME@ALIAS)",
    )


def existing_registry(project: Project) -> Registry | None:
    """The project's registry when there is one to ask: a server always; the embedded SQLite
    file only once something was registered (asking would create an empty one, `mlruns/`)."""
    registry = open_registry(project)
    db = sqlite_path(registry.tracking_uri)
    return registry if db is None or db.is_file() else None


def registered_as(
    project: Project, bundle: Path, trust: Trust
) -> tuple[Registered | None, tuple[str, ...]]:
    """The registry version that recorded `bundle`'s digest (None when the project has no
    registry yet or none records it), and a note when the registry could not be asked."""
    registry = existing_registry(project)
    if registry is None:
        return None, ()
    judged = load_bundle(bundle, trust=trust)
    try:
        versions = registry.list_versions(judged.meta.name)
    except UsageError:  # the model is not in the registry: no version records this bundle
        return None, ()
    except InfraError as exc:
        # The verdict does not depend on the version's name: the report says it is unnamed.
        return None, (f"the registry version of the bundle is unknown: {exc.message}",)
    for info in versions:
        if info.tags.get(DIGEST_TAG) == judged.sums_digest:
            aliases = sorted(info.aliases, key=lambda alias: alias != CHAMPION)  # champion first
            return Registered(name=info.name, version=info.version, aliases=tuple(aliases)), ()
    return None, ()
