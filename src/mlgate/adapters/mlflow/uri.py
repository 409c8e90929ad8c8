"""Where a registry is (tracking URIs) and what a model reference names (`models:/` URIs).

Pure functions: no MLflow, no network, no environment writes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlgate.errors import UsageError

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
LOCAL_DIR = "mlruns"
MODEL_URI_PREFIX = "models:/"


def default_tracking_uri(project_root: Path) -> str:
    """The embedded registry: a SQLite file under the project (`mlruns/` is git-ignored)."""
    return f"sqlite:///{(project_root / LOCAL_DIR / 'mlflow.db').resolve()}"


def resolve_tracking_uri(
    project_root: Path,
    *,
    explicit: str | None = None,
    configured: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The argument, then `MLFLOW_TRACKING_URI`, then config, then the project's SQLite file."""
    env = os.environ if environ is None else environ
    for uri in (explicit, env.get(TRACKING_URI_ENV), configured):
        if uri:
            return uri
    return default_tracking_uri(project_root)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


@dataclass(frozen=True)
class ModelUri:
    """A parsed `models:/NAME@ALIAS` or `models:/NAME/VERSION` (MLflow's forms)."""

    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{MODEL_URI_PREFIX}{self.name}@{self.alias}"
        return f"{MODEL_URI_PREFIX}{self.name}/{self.version}"


def is_model_uri(text: str) -> bool:
    """True when `text` is meant as a registry reference rather than a path."""
    return text.startswith(MODEL_URI_PREFIX)


def parse_model_uri(uri: str) -> ModelUri:
    """`models:/NAME@ALIAS` or `models:/NAME/VERSION`; anything else is a UsageError."""
    body = uri.removeprefix(MODEL_URI_PREFIX) if is_model_uri(uri) else ""
    if "@" in body:
        name, _, alias = body.partition("@")
        if name and alias and "/" not in name:
            return ModelUri(name=name, alias=alias)
    else:
        name, _, version = body.partition("/")
        if name and version.isdigit() and int(version) > 0:
            return ModelUri(name=name, version=int(version))
    raise UsageError(
        f"not a model URI: {uri!r}",
        hint="use models:/NAME@ALIAS (e.g. models:/churn@champion) or models:/NAME/VERSION",
    )
