"""Pipeline commands: `validate`, `train`, `gate`, and `run` (all of them, then register)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from mlgate.cli import render
from mlgate.cli.app import (
    DEFAULT_CONFIG,
    ConfigOpt,
    JsonOpt,
    NoWaitOpt,
    app,
    console,
    print_json,
    progress,
)
from mlgate.errors import GateFailed

if TYPE_CHECKING:
    from mlgate.core.compute import ComputeEngine
    from mlgate.core.config import Project

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).

ComputeOpt = Annotated[
    Literal["local", "ray"] | None,
    typer.Option(
        "--compute",
        help="Where the fit and the search trials run: local or ray (default: compute.engine).",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="The Ray cluster, HOST:PORT or ray://HOST:PORT (default: compute.address, then "
        "RAY_ADDRESS).",
    ),
]


def _computed(project: Project, engine: ComputeEngine | None, address: str | None) -> Project:
    """The project with `--compute` / `--address` (and RAY_ADDRESS) over its `compute:`."""
    from dataclasses import replace

    from mlgate.app.compute import with_compute

    config = with_compute(project.config, engine, address, os.environ.get("RAY_ADDRESS"))
    return replace(project, config=config)


@app.command("validate")
def validate_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    data: Annotated[
        Path | None, typer.Option("--data", help="Validate this file instead of data.path.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Data gate: check the data against the committed schema and reference distribution."""
    from mlgate.store.project import load_project

    # A config that does not load is an error before any progress line.
    project = load_project(config)
    with progress("validating data", to_stderr=as_json):
        from mlgate.app.pipeline import validate_file

        report = validate_file(project, data)
    if as_json:
        print_json(report.to_dict())
    else:
        render.validation(console(), report)
    if not report.passed:
        raise GateFailed(render.validation_failure(report))


@app.command("train")
def train_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
    no_wait: NoWaitOpt = False,
    compute: ComputeOpt = None,
    address: AddressOpt = None,
) -> None:
    """Fit the pipeline from config and write the model bundle."""
    from mlgate.store.project import load_project

    project = _computed(load_project(config), compute, address)
    with progress("training", to_stderr=as_json):
        from mlgate.app.pipeline import train_project
        from mlgate.core.ci import CiEnv

        ci = CiEnv.from_environ(os.environ)
        result = train_project(project, wait=not no_wait, ci=ci)
    if as_json:
        print_json({"bundle": str(result.bundle_dir), **result.meta.model_dump(mode="json")})
        return
    render.training(console(), result)


@app.command("gate")
def gate_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    champion: Annotated[
        Path | None,
        typer.Option(
            "--champion", help="Bundle of the model to beat, evaluated on the same holdout."
        ),
    ] = None,
    use_registry: Annotated[
        bool,
        typer.Option(
            "--registry/--no-registry",
            help="Without --champion, compare with the registry's champion (if there is one).",
        ),
    ] = True,
    as_json: JsonOpt = False,
    no_wait: NoWaitOpt = False,
) -> None:
    """Quality gate: holdout metrics vs absolute thresholds and vs the champion."""
    from mlgate.store.project import load_project

    project = load_project(config)
    with progress("evaluating and gating", to_stderr=as_json):
        from mlgate.app.gate import gate_project

        report = gate_project(
            project,
            champion_bundle=champion,
            use_registry=use_registry,
            wait=not no_wait,
        )
    if as_json:
        print_json(report.to_dict())
    else:
        render.gate(console(), report)
    if not report.passed:
        raise GateFailed("; ".join(c.message for c in report.verdict.failures))


@app.command("run")
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
    no_wait: NoWaitOpt = False,
    compute: ComputeOpt = None,
    address: AddressOpt = None,
) -> None:
    """The whole pipeline: champion from the registry -> validate -> train -> gate -> register.

    One run at a time per project: a second run waits for the first (and says so)."""
    from mlgate.store.project import load_project

    project = _computed(load_project(config), compute, address)
    # Live on a terminal; in a log, a line per stage and a heartbeat (on stderr under --json),
    # the first before the use case loads (MLflow, pandas, scikit-learn: seconds in CI).
    with progress("starting", to_stderr=as_json) as say:
        from mlgate.app.run import run_with_registry
        from mlgate.core.ci import CiEnv

        ci = CiEnv.from_environ(os.environ)
        result = run_with_registry(
            project, register=register, progress=say, wait=not no_wait, ci=ci
        )
    if as_json:
        print_json(result.to_dict())
    else:
        render.release(console(), project.config.name, result)
    if not result.passed:
        failed = [s for s in result.run.stages if s.status == "failed"]
        raise GateFailed("; ".join(f"{s.name}: {s.detail}" for s in failed))
