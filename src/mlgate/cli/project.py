"""Project commands: `init`, `config`, `schema infer`, `demo-data`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlgate.cli import render
from mlgate.cli.app import DEFAULT_CONFIG, ConfigOpt, Group, app, console, print_json

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).

schema_app = typer.Typer(
    help="Infer or show the committed data schema.", no_args_is_help=True, cls=Group
)
app.add_typer(schema_app, name="schema")


RoleOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--role",
        metavar="COLUMN=ROLE",
        help="Override an inferred role: feature, id, text or ignored (repeatable).",
    ),
]


@app.command("init")
def init_cmd(
    directory: Annotated[
        Path, typer.Argument(metavar="DIRECTORY", help="Project directory to write.")
    ] = Path("."),
    demo: Annotated[bool, typer.Option("--demo", help="Use the embedded demo dataset.")] = False,
    data: Annotated[
        Path | None, typer.Option("--data", help="Your CSV/Parquet file.", dir_okay=False)
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Column to predict.")] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="A column that is not a feature.")
    ] = None,
    role: RoleOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Model name.")] = None,
    rows: Annotated[int, typer.Option("--rows", min=200, help="Demo rows.")] = 12_000,
    force: Annotated[bool, typer.Option("--force", help="Overwrite mlgate.yaml.")] = False,
    remote: Annotated[
        str | None,
        typer.Option("--remote", help="DVC remote for the data (s3://..., a directory...)."),
    ] = None,
    dvc: Annotated[
        bool,
        typer.Option("--dvc/--no-dvc", help="In a git repository, version the data with DVC."),
    ] = True,
    code: Annotated[
        bool,
        typer.Option(
            "--code",
            help="Scaffold the team's model code (src/PACKAGE: a custom transformer and the "
            "Pipeline, with unit tests) and train with it (model.pipeline).",
        ),
    ] = False,
    feast: Annotated[
        Path | None,
        typer.Option(
            "--feast",
            metavar="REPO",
            help="Train from this Feast feature repository; --data is then the entity file "
            "(keys, event timestamps, the target). Needs the feast extra.",
        ),
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            help="--feast: a feature service, or view:feature,view:feature (default: the "
            "repository's only feature service).",
        ),
    ] = None,
    timestamp: Annotated[
        str, typer.Option("--timestamp", help="--feast: the entity file's event timestamp column.")
    ] = "event_timestamp",
) -> None:
    """Write a ready project: mlgate.yaml, schema and reference profile (and demo data).

    Inside a git repository the data is also tracked with DVC, with a default remote and a
    dvc.yaml whose stages call mlgate.
    """
    from mlgate.app.scaffold import InitRequest, init_project, parse_roles

    result = init_project(
        InitRequest(
            root=directory,
            demo=demo,
            data=data,
            target=target,
            name=name,
            drop=tuple(drop or ()),
            roles=parse_roles(role or []),
            rows=rows,
            force=force,
            dvc=dvc,
            remote=remote,
            code=code,
            feast=feast,
            features=features,
            timestamp=timestamp,
        )
    )
    render.initialised(console(), result)


@app.command("config")
def config_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    schema: Annotated[bool, typer.Option("--schema", help="Print the JSON schema.")] = False,
) -> None:
    """Check mlgate.yaml and print the effective config (or its JSON schema)."""
    from mlgate.core import config as cfg
    from mlgate.store.project import load_project

    if schema:
        print_json(cfg.json_schema())
        return
    print_json(load_project(config).config.model_dump(mode="json"))


@app.command("demo-data")
def demo_data_cmd(
    out: Annotated[
        Path,
        typer.Argument(
            metavar="OUT",
            help="CSV file to write; a .json name writes a POST /predict body of the rows.",
            dir_okay=False,
        ),
    ],
    rows: Annotated[int, typer.Option("--rows", min=1)] = 12_000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    drift: Annotated[bool, typer.Option("--drift", help="Write the drifted variant.")] = False,
) -> None:
    """Write a sample of the demo distribution (or its drifted variant) as CSV, or as a
    /predict request body (OUT ending in .json)."""
    from mlgate.store.demo import write_csv

    write_csv(out, rows, seed=seed, drift=drift)
    console().print(f"wrote {rows} {'drifted ' if drift else ''}rows to {out}", markup=False)


@schema_app.command("infer")
def schema_infer_cmd(config: ConfigOpt = DEFAULT_CONFIG, role: RoleOpt = None) -> None:
    """Infer the schema and reference profile from data.path and write them (commit both)."""
    from mlgate.app.scaffold import parse_roles
    from mlgate.app.schema_infer import infer_reference

    schema, files = infer_reference(config, dict(parse_roles(role or [])))
    render.column_roles(console(), schema, "schema infer")
    for f in files:
        console().print(f"wrote {render.shown_path(f)}", markup=False)
