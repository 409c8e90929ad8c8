"""Registry commands: `register`, `promote`, `rollback`, `models`, and the PR `report`.

Each opens the project's registry with `mlgate.adapters.mlflow.open_registry` and makes one
call on it (or on `mlgate.app.register` / `mlgate.app.report`). MLflow is imported only when a
command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from mlgate.adapters.mlflow import Registry, VersionInfo
    from mlgate.core.config import Project

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why: recorded on the model version.")]


@app.command("register")
def register_cmd(
    config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False, no_wait: NoWaitOpt = False
) -> None:
    """Register the gated bundle: an MLflow run + model version, alias `challenger`."""
    from mlgate.app.register import register_gated

    project, registry = _open(config)
    info = register_gated(project, registry=registry, wait=not no_wait)
    _show(info, "registered", registry.uri, as_json)


@app.command("promote")
def promote_cmd(
    version: Annotated[
        int | None,
        typer.Argument(
            metavar="VERSION", help="Version to make champion (default: the challenger).", min=1
        ),
    ] = None,
    reason: ReasonOpt = "",
    override: Annotated[
        str | None,
        typer.Option(
            "--override",
            metavar="REASON",
            help="Promote a version the release policy refuses (not registered by mlgate, or "
            "rejected by a release); the reason is recorded on the version with your name.",
        ),
    ] = None,
    model: ModelOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """Move alias `champion` to the challenger (or VERSION); records who, when and why.
    A version a release rejected is refused unless --override says why."""
    from mlgate.adapters.mlflow import current_actor
    from mlgate.app.register import promote_checked

    project, registry = _open(config)
    info = promote_checked(
        project,
        version,
        reason=reason,
        actor=current_actor(),
        override=override,
        model=model,
        registry=registry,
    )
    _show(info, "champion is now", registry.uri, as_json)


@app.command("rollback")
def rollback_cmd(
    reason: ReasonOpt = "",
    model: ModelOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """Move alias `champion` back to the previous champion."""
    _move_champion(
        config,
        model,
        as_json,
        "rolled back: champion is now",
        lambda registry, name, actor: registry.rollback(name, reason=reason, actor=actor),
    )


# (registry, model name, actor) -> the version `champion` now points at
Move = Callable[["Registry", str, str], "VersionInfo"]


def _move_champion(config: Path, model: str | None, as_json: bool, verb: str, move: Move) -> None:
    """Open the project's registry, move `champion` as the CI actor or local user, show it."""
    from mlgate.adapters.mlflow import current_actor

    project, registry = _open(config)
    info = move(registry, model or project.config.name, current_actor())
    _show(info, verb, registry.uri, as_json)


def _open(config: Path) -> tuple[Project, Registry]:
    """The project at `config` and its registry (nothing contacted yet)."""
    from mlgate.adapters.mlflow import open_registry
    from mlgate.store.project import load_project

    project = load_project(config)
    return project, open_registry(project)


def _show(info: VersionInfo, verb: str, uri: str, as_json: bool) -> None:
    if as_json:
        print_json(info.to_dict())
    else:
        render.version(console(), verb, info, uri)


@app.command("models")
def models_cmd(
    model: ModelOpt = None, config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False
) -> None:
    """List the registered versions with aliases, metrics and lineage."""
    project, registry = _open(config)
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
