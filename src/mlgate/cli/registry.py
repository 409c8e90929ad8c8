"""Typer commands for the registry and the PR report: `register`, `promote`, `rollback`,
`models`, `report`, and the registry-aware `run`.

Each is one call into `mlgate.registry` / `mlgate.release` / `mlgate.report`; mount them on the
main app with `mount(app)` (or `app.command("register")(register_cmd)` one by one). MLflow is
imported only inside the commands, so `mlgate --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlgate.clikit import DEFAULT_CONFIG, ConfigOpt, JsonOpt
from mlgate.clikit import console as _console
from mlgate.clikit import print_json as _print_json
from mlgate.errors import GateFailed, UsageError

if TYPE_CHECKING:
    from mlgate.config import Project
    from mlgate.registry import VersionInfo
    from mlgate.registry_mlflow import MlflowRegistry

ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="Registered model name (default: `name` from mlgate.yaml)."),
]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why: recorded on the model version.")]


def _open(config: Path) -> tuple[Project, MlflowRegistry]:
    from mlgate.config import load_project
    from mlgate.registry import registry_for

    project = load_project(config)
    return project, registry_for(project)


def _show_version(verb: str, info: VersionInfo, uri: str) -> None:
    aliases = f" [{', '.join(info.aliases)}]" if info.aliases else ""
    _console().print(f"{verb} {info.name} v{info.version}{aliases} in {uri}", markup=False)


def register_cmd(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Register the gated bundle: an MLflow run + model version, alias `challenger`."""
    from mlgate.registry import RunContext

    project, registry = _open(config)
    gate_file = project.bundle_dir / "gate.json"
    if not gate_file.is_file():
        raise UsageError(
            f"bundle {project.bundle_dir} has not been gated (no gate.json)",
            hint="run `mlgate gate` (or `mlgate run`) first",
        )
    gate = json.loads(gate_file.read_text(encoding="utf-8"))
    artifacts = [project.reports_dir / "validation.json", project.reports_dir / "gate.json"]
    info = registry.register(
        project.bundle_dir, gate, RunContext.current("mlgate register", artifacts)
    )
    if as_json:
        _print_json(info.to_dict())
    else:
        _show_version("registered", info, registry.uri)


def promote_cmd(
    version: Annotated[
        int | None,
        typer.Argument(help="Version to make champion (default: the challenger).", min=1),
    ] = None,
    reason: ReasonOpt = "",
    model: ModelOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """Move alias `champion` to the challenger (or VERSION); records who, when and why."""
    from mlgate.registry import current_actor

    project, registry = _open(config)
    info = registry.promote(
        model or project.config.name, version, reason=reason, actor=current_actor()
    )
    if as_json:
        _print_json(info.to_dict())
    else:
        _show_version("champion is now", info, registry.uri)


def rollback_cmd(
    reason: ReasonOpt = "",
    model: ModelOpt = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """Move alias `champion` back to the previous champion."""
    from mlgate.registry import current_actor

    project, registry = _open(config)
    info = registry.rollback(model or project.config.name, reason=reason, actor=current_actor())
    if as_json:
        _print_json(info.to_dict())
    else:
        _show_version("rolled back: champion is now", info, registry.uri)


def models_cmd(
    model: ModelOpt = None, config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False
) -> None:
    """List the registered versions with aliases, metrics and lineage."""
    from rich.table import Table

    project, registry = _open(config)
    versions = registry.list_versions(model or project.config.name)
    if as_json:
        _print_json([v.to_dict() for v in versions])
        return
    table = Table(title=f"{model or project.config.name} in {registry.uri}", title_justify="left")
    for col in ("version", "aliases", "created", "metrics", "git", "data", "promoted"):
        table.add_column(col, overflow="fold")
    for v in versions:
        table.add_row(
            str(v.version),
            ", ".join(v.aliases),
            v.created_at,
            ", ".join(f"{k}={x:.4f}" for k, x in sorted(v.metrics.items())),
            v.lineage.get("git_commit", "")[:12],
            v.lineage.get("data_fingerprint", "")[:16],
            " ".join(
                filter(None, (v.tags.get("mlgate.promoted_at"), v.tags.get("mlgate.promoted_by")))
            ),
        )
    _console().print(table)


def report_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the Markdown here instead of stdout.", dir_okay=False),
    ] = None,
) -> None:
    """Markdown report for a pull-request comment or `$GITHUB_STEP_SUMMARY`."""
    from mlgate.config import load_project
    from mlgate.report import render_project_report

    text = render_project_report(load_project(config))
    if out is None:
        sys.stdout.write(text)
        return
    from mlgate import atomic

    atomic.write_text(out, text)


def run_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    register: Annotated[
        bool,
        typer.Option(
            "--register/--no-register",
            help="Register a passing model (alias challenger); --no-register for pull requests.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """The whole pipeline: champion from the registry -> validate -> train -> gate -> register."""
    from mlgate import render
    from mlgate.config import load_project
    from mlgate.release import run_with_registry

    project = load_project(config)
    if as_json:
        result = run_with_registry(project, register=register)
        _print_json(result.to_dict())
    else:
        console = _console()
        with console.status("starting") as status:
            result = run_with_registry(
                project, register=register, progress=lambda msg: status.update(msg)
            )
        # The release's notes name the registry; the gate's own would repeat them.
        render.run_summary(console, project.config.name, result.run, gate_notes=not result.notes)
        for note in result.notes:
            console.print(f"note: {note}", markup=False)
    if not result.passed:
        failed = [s for s in result.run.stages if s.status == "failed"]
        raise GateFailed("; ".join(f"{s.name}: {s.detail}" for s in failed))


COMMANDS: dict[str, Callable[..., None]] = {
    "register": register_cmd,
    "promote": promote_cmd,
    "rollback": rollback_cmd,
    "models": models_cmd,
    "report": report_cmd,
}


def mount(app: typer.Typer, *, with_run: bool = False) -> None:
    """Add the registry commands (and, with `with_run`, the registry-aware `run`) to `app`."""
    for name, fn in COMMANDS.items():
        app.command(name)(fn)
    if with_run:
        app.command("run")(run_cmd)
