"""The `mlgate` command line: parse, call one function, render, map errors to exit codes.

Heavy libraries (pandas, scikit-learn, MLflow) are imported inside the commands, so
`mlgate --help` stays fast.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from mlgate.errors import GateFailed, MlgateError
from mlgate.serve.command import serve_cmd

app = typer.Typer(
    name="mlgate",
    help="CI/CD and continuous training for ML models: validate, train, gate, register, ship.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Infer or show the committed data schema.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.command("serve")(serve_cmd)

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", help="mlgate.yaml, or the directory that holds it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
DEFAULT_CONFIG = Path("mlgate.yaml")


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


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
) -> None:
    """Write a ready project: mlgate.yaml, schema and reference profile (and demo data)."""
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
    console = _console()
    console.print(f"[green]initialised[/] {result.root} ({result.task})")
    for f in result.files:
        console.print(f"  wrote {f}", markup=False)
    console.print(f"next: cd {result.root} && mlgate run", markup=False)


@app.command("demo-data")
def demo_data_cmd(
    out: Annotated[Path, typer.Argument(help="CSV file to write.", dir_okay=False)],
    rows: Annotated[int, typer.Option("--rows", min=1)] = 12_000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    drift: Annotated[bool, typer.Option("--drift", help="Write the drifted variant.")] = False,
) -> None:
    """Write a sample of the demo distribution (or its drifted variant) as CSV."""
    from mlgate.data import demo as demo_mod

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    demo_mod.generate(rows, seed=seed, drift=drift).to_csv(tmp, index=False)
    tmp.replace(out)
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
    config: ConfigOpt = DEFAULT_CONFIG, champion: ChampionOpt = None, as_json: JsonOpt = False
) -> None:
    """Quality gate: holdout metrics vs absolute thresholds and vs the champion."""
    from mlgate import render
    from mlgate.config import load_project
    from mlgate.model.evaluate import run_gate

    project = load_project(config)
    report = run_gate(project, champion=_champion(champion))
    if as_json:
        _print_json(report.to_dict())
    else:
        render.gate(_console(), report)
    if not report.passed:
        raise GateFailed("; ".join(c.message for c in report.verdict.failures))


@app.command("run")
def run_cmd(
    config: ConfigOpt = DEFAULT_CONFIG, champion: ChampionOpt = None, as_json: JsonOpt = False
) -> None:
    """The whole pipeline: validate -> train -> gate, with a summary."""
    from mlgate import pipeline, render
    from mlgate.config import load_project

    project = load_project(config)
    if as_json:
        result = pipeline.run(project, champion=_champion(champion))
        _print_json(result.to_dict())
    else:
        console = _console()
        with console.status("starting") as status:
            result = pipeline.run(
                project,
                champion=_champion(champion),
                progress=lambda msg: status.update(msg),
            )
        render.run_summary(console, project.config.name, result)
    if not result.passed:
        failed = [s for s in result.stages if s.status == "failed"]
        raise GateFailed("; ".join(f"{s.name}: {s.detail}" for s in failed))


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
        _console_err().print("aborted")
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
    console = _console_err()
    console.print(f"[bold red]{prefix}:[/] ", end="")
    console.print(message, markup=False)


def _console_err() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _click_exception() -> type[Any]:
    import click

    return click.ClickException


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
