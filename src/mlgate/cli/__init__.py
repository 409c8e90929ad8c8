"""The `mlgate` command line: parse, call one function, render, map errors to exit codes.

Heavy libraries (pandas, scikit-learn, MLflow) are imported inside the commands, so
`mlgate --help` stays fast.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgate import registry_cli, ship_cli
from mlgate.clikit import DEFAULT_CONFIG, ConfigOpt, JsonOpt
from mlgate.clikit import console as _console
from mlgate.clikit import err_console as _err_console
from mlgate.clikit import print_json as _print_json
from mlgate.errors import GateFailed, MlgateError
from mlgate.serve.command import serve_cmd

app = typer.Typer(
    name="mlgate",
    help="CI/CD and continuous training for ML models: validate, train, gate, register, ship.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain: `[/path]` or `[default]` in them is text, not rich markup.
    rich_markup_mode=None,
)
schema_app = typer.Typer(help="Infer or show the committed data schema.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")


@app.command("config")
def config_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    schema: Annotated[bool, typer.Option("--schema", help="Print the JSON schema.")] = False,
) -> None:
    """Check mlgate.yaml and print the effective config (or its JSON schema)."""
    from mlgate import config as cfg

    if schema:
        _print_json(cfg.json_schema())
        return
    project = cfg.load_project(config)
    _print_json(project.config.model_dump(mode="json"))


@app.command("init")
def init_cmd(
    directory: Annotated[Path, typer.Argument(help="Project directory to write.")] = Path("."),
    demo: Annotated[bool, typer.Option("--demo", help="Use the embedded demo dataset.")] = False,
    data: Annotated[
        Path | None, typer.Option("--data", help="Your CSV/Parquet file.", dir_okay=False)
    ] = None,
    target: Annotated[str | None, typer.Option("--target", help="Column to predict.")] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="A column that is not a feature.")
    ] = None,
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
) -> None:
    """Write a ready project: mlgate.yaml, schema and reference profile (and demo data).

    Inside a git repository the data is also tracked with DVC, with a default remote and a
    dvc.yaml whose stages call mlgate.
    """
    from mlgate import scaffold
    from mlgate.errors import UsageError

    if demo == (data is not None):
        raise UsageError("pass exactly one of --demo or --data CSV --target COLUMN")
    if demo:
        result = scaffold.init_demo(directory, rows=rows, force=force)
    else:
        if target is None:
            raise UsageError("--data needs --target COLUMN (the column to predict)")
        assert data is not None
        result = scaffold.init_from_data(
            directory, data=data, target=target, name=name, drop=tuple(drop or ()), force=force
        )
    tracked = _init_dvc(directory, remote) if dvc else None
    console = _console()
    console.print(f"[green]initialised[/] {result.root} ({result.task})")
    for f in result.files:
        console.print(f"  wrote {f}", markup=False)
    if tracked is not None:
        console.print(f"  data tracked with DVC, remote {tracked.remote}", markup=False)
        console.print("  commit the new files: git add -A && git commit", markup=False)
    console.print(f"next: cd {result.root} && mlgate run", markup=False)


def _init_dvc(directory: Path, remote: str | None) -> Any:
    """Track the data with DVC when the project lives in a git repository; else do nothing."""
    from mlgate import versioning
    from mlgate.errors import UsageError

    try:
        versioning.git_toplevel(directory)
    except UsageError:
        if remote is not None:
            raise
        return None
    if versioning.git_ignored(directory):
        if remote is not None:
            raise UsageError(
                f"{directory} is ignored by git, so DVC cannot track data there",
                hint="un-ignore the directory, or leave out --remote",
            )
        _console().print(f"note: {directory} is ignored by git; data not tracked with DVC")
        return None
    # Stage nothing and commit nothing: the user reviews and commits what init wrote.
    return versioning.init_dvc(directory, remote, commit=False)


@app.command("demo-data")
def demo_data_cmd(
    out: Annotated[Path, typer.Argument(help="CSV file to write.", dir_okay=False)],
    rows: Annotated[int, typer.Option("--rows", min=1)] = 12_000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    drift: Annotated[bool, typer.Option("--drift", help="Write the drifted variant.")] = False,
) -> None:
    """Write a sample of the demo distribution (or its drifted variant) as CSV."""
    from mlgate import atomic
    from mlgate.data import demo as demo_mod

    with atomic.replacing(out) as tmp:
        demo_mod.generate(rows, seed=seed, drift=drift).to_csv(tmp, index=False)
    _console().print(f"wrote {rows} {'drifted ' if drift else ''}rows to {out}", markup=False)


@schema_app.command("infer")
def schema_infer_cmd(config: ConfigOpt = DEFAULT_CONFIG) -> None:
    """Infer the schema and reference profile from data.path and write them (commit both)."""
    from mlgate import scaffold
    from mlgate.config import load_project

    project = load_project(config)
    for f in scaffold.infer_reference(project.root):
        _console().print(f"wrote {f}", markup=False)


@app.command("validate")
def validate_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    data: Annotated[
        Path | None, typer.Option("--data", help="Validate this file instead of data.path.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Data gate: check the data against the committed schema and reference distribution."""
    from mlgate import pipeline, render
    from mlgate.config import load_project
    from mlgate.data.io import load_table

    project = load_project(config)
    frame = load_table(data if data is not None else project.data_path)
    report = pipeline.validate(project, frame)
    if as_json:
        _print_json(report.to_dict())
    else:
        render.validation(_console(), report)
    if not report.passed:
        raise GateFailed(render.validation_failure(report))


@app.command("train")
def train_cmd(config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False) -> None:
    """Fit the pipeline from config and write the model bundle."""
    from mlgate.config import load_project
    from mlgate.model.train import train

    project = load_project(config)
    result = train(project)
    if as_json:
        _print_json({"bundle": str(result.bundle_dir), **result.meta.model_dump(mode="json")})
        return
    meta = result.meta
    console = _console()
    console.print(f"[green]trained[/] {meta.estimator} ({meta.task})")
    console.print(f"  bundle   {result.bundle_dir}", markup=False)
    console.print(f"  data     {meta.data.fingerprint}, {meta.data.rows} rows", markup=False)
    console.print(f"  holdout  {meta.data.holdout_rows} rows", markup=False)
    for k, v in meta.metrics.items():
        console.print(f"  {k:<9}{v:.4f}", markup=False)


def _champion(path: Path | None) -> Any:
    from mlgate.model.evaluate import Champion

    return None if path is None else Champion(bundle_dir=path, label=str(path))


ChampionOpt = Annotated[
    Path | None,
    typer.Option("--champion", help="Bundle of the model to beat, evaluated on the same holdout."),
]


@app.command("gate")
def gate_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    champion: ChampionOpt = None,
    use_registry: Annotated[
        bool,
        typer.Option(
            "--registry/--no-registry",
            help="Without --champion, compare with the registry's champion (if there is one).",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Quality gate: holdout metrics vs absolute thresholds and vs the champion."""
    from mlgate import render
    from mlgate.config import load_project
    from mlgate.model.evaluate import run_gate

    project = load_project(config)
    with tempfile.TemporaryDirectory(prefix="mlgate-champion-") as workdir:
        chosen = _champion(champion)
        if chosen is None and use_registry:
            from mlgate.registry import registry_for
            from mlgate.release import champion_for_gate

            _, chosen = champion_for_gate(registry_for(project), project.config.name, Path(workdir))
        report = run_gate(project, champion=chosen)
    if as_json:
        _print_json(report.to_dict())
    else:
        render.gate(_console(), report)
    if not report.passed:
        raise GateFailed("; ".join(c.message for c in report.verdict.failures))


# Release commands come after the build-a-model ones in `mlgate --help`.
registry_cli.mount(app, with_run=True)
app.command("build")(ship_cli.build_cmd)
app.command("push")(ship_cli.push_cmd)
app.command("serve")(serve_cmd)
app.command("deploy")(ship_cli.deploy_cmd)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; the one place errors become exit codes."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except GateFailed as exc:
        _report("gate failed", str(exc))
        return exc.exit_code
    except MlgateError as exc:
        _report("error", str(exc))
        return exc.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        _err_console().print("aborted")
        return 130
    except _click_exception() as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        sys.stderr.write(
            "\nThis is a bug in mlgate, not in your project: please report it with the "
            "traceback above.\n"
        )
        return 70
    return rv if isinstance(rv, int) else 0


def _report(prefix: str, message: str) -> None:
    console = _err_console()
    console.print(f"[bold red]{prefix}:[/] ", end="")
    console.print(message, markup=False)


def _click_exception() -> type[Any]:
    import click

    return click.ClickException


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
