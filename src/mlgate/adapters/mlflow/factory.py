"""The one way to open a project's registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters.mlflow.uri import resolve_tracking_uri, sqlite_path
from mlgate.core.config import Project
from mlgate.store.project import find_project

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.writes import MlflowRegistry

# Deferred imports: the registry's implementation loads when a registry is opened, not when this
# package is imported for its types and URI parsing. MLflow itself loads later still, on the first
# call that needs its client (registering, downloading): lookups, listing and alias moves go
# through `mlgate.adapters.mlflow.meta`'s light clients.


def open_registry(
    where: Project | Path | None = None,
    *,
    uri: str | None = None,
    allow_unrecorded: bool | None = None,
) -> MlflowRegistry:
    """The registry of a project: `uri`, else `MLFLOW_TRACKING_URI`, else the config's
    `registry.tracking_uri`, else a SQLite file under the project (`mlruns/mlflow.db`).

    `where` is a loaded project, or a project directory / mlgate.yaml (read when it exists;
    a directory without one still has an embedded registry). Nothing is contacted yet.
    Credentials in the URI (`https://user:password@host`) are sent, never shown: the
    registry's `uri` is redacted. `allow_unrecorded`: download versions registered without a
    bundle digest (with a warning) instead of refusing them; None reads
    `MLGATE_ALLOW_UNRECORDED_BUNDLES` at each download (`mlgate.adapters.mlflow.integrity`).
    """
    from mlgate.adapters.mlflow.writes import MlflowRegistry

    project = _project(where)
    root = project.root if isinstance(project, Project) else project
    configured = project.config.registry.tracking_uri if isinstance(project, Project) else None
    resolved = resolve_tracking_uri(root, explicit=uri, configured=configured)
    db = sqlite_path(resolved)
    # The embedded registry keeps its artifacts beside its database, inside the project.
    artifacts = db.parent / "artifacts" if db is not None else None
    return MlflowRegistry(resolved, artifact_root=artifacts, allow_unrecorded=allow_unrecorded)


def _project(where: Project | Path | None) -> Project | Path:
    if isinstance(where, Project):
        return where
    path = Path.cwd() if where is None else where
    project = find_project(path)
    if project is not None:
        return project
    return (path if path.is_dir() or not path.suffix else path.parent).resolve()
