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

app = typer.Typer(
    name="mlgate",
    help="CI/CD and continuous training for ML models: validate, train, gate, register, ship.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="Infer or show the committed data schema.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")

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

    return Console(stderr=True, highlight=False)


def _click_exception() -> type[Any]:
    import click

    return click.ClickException


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
