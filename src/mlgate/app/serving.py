"""`mlgate serve`: serve a bundle directory or a registry version."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from mlgate.adapters.mlflow import (
    TRACKING_URI_ENV,
    Registry,
    fetch_model,
    is_model_uri,
    open_registry,
)
from mlgate.adapters.mlflow.uri import sqlite_path
from mlgate.errors import BundleError, UsageError
from mlgate.serve.server import ServeOptions, run
from mlgate.store.project import config_file, find_project
from mlgate.store.trust import command_trust


def serve(source: str, *, config: Path, options: ServeOptions) -> None:
    """`mlgate serve`: serve a bundle directory, or the version a `models:/` URI names in the
    registry of the project at `config` (downloaded and verified; the copy lives as long as the
    server and is removed when it stops, SIGTERM included). Blocks until the server stops.
    A refusal (no project, no registry) creates nothing on disk."""
    settings = options.settings
    trust = command_trust(config, settings.public_key, settings.trusted_types)
    settings = settings.model_copy(
        update={
            "public_key": trust.public_key,
            "trusted_types": trust.types,
            "code_root": trust.code_root,
        }
    )
    trust = replace(trust, allow_code_drift=settings.allow_code_drift)
    options = replace(options, settings=settings)
    if not is_model_uri(source):
        if not Path(source).is_dir():
            raise BundleError(
                f"model bundle not found: {Path(source).absolute()}",
                hint="give the bundle directory `mlgate train` writes (paths.bundle in "
                "mlgate.yaml), or a registered version: models:/NAME@ALIAS, models:/NAME/VERSION",
            )
        run(Path(source), options)
        return
    registry = source_registry(source, config)
    with tempfile.TemporaryDirectory(prefix="mlgate-serve-") as workdir:
        run(fetch_model(registry, source, Path(workdir), trust=trust), options)


def source_registry(source: str, config: Path) -> Registry:
    """The registry a `models:/` URI is resolved in: that of the project at `config`, or
    `MLFLOW_TRACKING_URI`'s. No project and no such variable, or an embedded registry that
    does not exist yet, is a UsageError saying where to look instead; nothing is created."""
    project = find_project(config)
    if project is None and not os.environ.get(TRACKING_URI_ENV):
        raise UsageError(
            f"no mlgate.yaml at {config_file(config).absolute()}: {source} names a model in a "
            "project's registry, and there is no project here",
            hint="pass --config PATH/TO/mlgate.yaml, run from the project's directory (or set "
            f"{TRACKING_URI_ENV}), or serve a bundle directory (paths.bundle of mlgate.yaml)",
        )
    registry = open_registry(project if project is not None else config)
    db = sqlite_path(registry.tracking_uri)
    if db is not None and not db.is_file():
        where = f"project {project.root}" if project is not None else TRACKING_URI_ENV
        raise UsageError(
            f"{source}: the registry of {where} ({registry.uri}) does not exist yet: "
            "no model has been registered there",
            hint="register one first (`mlgate run` or `mlgate register`), or serve a bundle "
            "directory (paths.bundle of mlgate.yaml)",
        )
    return registry
