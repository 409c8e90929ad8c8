"""Registry commands: `register`, `promote`, `rollback`, `models`, and the PR `report`.

Each opens the project's registry with `mlgate.adapters.mlflow.open_registry` and makes one
call on it (or on `mlgate.app.lifecycle` / `mlgate.app.report`). MLflow is imported only when a
command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mlgate.cli import render
from mlgate.cli.app import (
    DEFAULT_CONFIG,
    ConfigOpt,
    JsonOpt,
    ModelOpt,
    NoWaitOpt,
    app,
    console,
    print_json,
)

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why: recorded on the model version.")]


@app.command("register")
def register_cmd(
    config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False, no_wait: NoWaitOpt = False
) -> None:
    """Register the gated bundle: an MLflow run + model version, alias `challenger`."""
    from mlgate.adapters.mlflow import open_registry
    from mlgate.app.lifecycle import register_gated
    from mlgate.store.project import load_project

    project = load_project(config)
    registry = open_registry(project)
    info = register_gated(project, registry=registry, wait=not no_wait)
    if as_json:
        print_json(info.to_dict())
    else:
        render.version(console(), "registered", info, registry.uri)


@app.command("promote")
def promote_cmd(
    version: Annotated[
        int | None,
        typer.Argument(
            metavar="VERSION", help="Version to make champion (default: the challenger).", min=1
        ),
    ] = None,
    reason: ReasonOpt = "",
    model: ModelOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """Move alias `champion` to the challenger (or VERSION); records who, when and why."""
    from mlgate.adapters.mlflow import current_actor, open_registry
    from mlgate.store.project import load_project

    project = load_project(config)
    registry = open_registry(project)
    name = model or project.config.name
    info = registry.promote(name, version, reason=reason, actor=current_actor())
    if as_json:
        print_json(info.to_dict())
    else:
        render.version(console(), "champion is now", info, registry.uri)


@app.command("rollback")
def rollback_cmd(
    reason: ReasonOpt = "",
    model: ModelOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """Move alias `champion` back to the previous champion."""
    from mlgate.adapters.mlflow import current_actor, open_registry
    from mlgate.store.project import load_project

    project = load_project(config)
    registry = open_registry(project)
    name = model or project.config.name
    info = registry.rollback(name, reason=reason, actor=current_actor())
    if as_json:
        print_json(info.to_dict())
    else:
        render.version(console(), "rolled back: champion is now", info, registry.uri)


@app.command("models")
def models_cmd(
    model: ModelOpt = None, config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False
) -> None:
    """List the registered versions with aliases, metrics and lineage."""
    from mlgate.adapters.mlflow import open_registry
    from mlgate.store.project import load_project

    project = load_project(config)
    registry = open_registry(project)
    name = model or project.config.name
    versions = registry.list_versions(name)
    if as_json:
        print_json([v.to_dict() for v in versions])
    else:
        render.versions(console(), name, registry.uri, versions)


@app.command("report")
def report_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the Markdown here instead of stdout.", dir_okay=False),
    ] = None,
) -> None:
    """Markdown report for a pull-request comment or `$GITHUB_STEP_SUMMARY`."""
    from mlgate.app.report import project_report
    from mlgate.store.project import load_project

    text = project_report(load_project(config), out=out)
    if out is None:
        sys.stdout.write(text)
