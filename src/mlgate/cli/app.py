"""The one Typer app, and what every command module shares: options, consoles, JSON output.

A command is added in exactly one way: a function decorated with `@app.command("name")` in the
module of its group (project, pipeline, registry, ship, serve), which `mlgate.cli` imports.
The same thing has the same option name on every command: `--config/-c`, `--json`, `--model`,
`--engine`. Typer and rich only; nothing heavy, so `mlgate --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).


def _version(value: bool) -> None:
    if value:
        # Only `--version` pays for reading the installed metadata.
        from mlgate import __version__

        sys.stdout.write(f"mlgate {__version__}\n")
        raise typer.Exit(0)


class Group(TyperGroup):
    """A command group whose usage errors stay cheap.

    Typer coerces every parameter of a group before it looks the command up, through a
    pydantic TypeAdapter (importing pydantic: a quarter of a second on a busy machine) unless
    the value is already a bool; its own `--help` flag defaults to None. Defaulting it to
    False skips that, so an unknown command or option costs no more than `--help`
    (benchmarks/RESULTS_cli.md).
    """

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


app = typer.Typer(
    name="mlgate",
    cls=Group,
    help="CI/CD and continuous training for ML models: validate, train, gate, register, ship.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain: `[/path]` or `[default]` in them is text, not rich markup.
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """CI/CD and continuous training for ML models: validate, train, gate, register, ship."""
    show_notices()


# Library modules that report news (waiting for a lock, a cleanup that failed) through a logger
# instead of printing; a command shows their records on stderr as `mlgate: ...`.
NOTICE_LOGGERS = ("mlgate.store.locking", "mlgate.adapters.mlflow.writes")


def show_notices() -> None:
    """Route the notice loggers to stderr for this process (once, however often called)."""
    # Here rather than at import: `mlgate --help` and usage errors never pay for logging.
    import logging

    class Notices(logging.Handler):
        """`mlgate: message` on the stderr of the moment (a test may have swapped it)."""

        mlgate_notices = True

        def emit(self, record: logging.LogRecord) -> None:
            try:
                sys.stderr.write(f"mlgate: {record.getMessage()}\n")
            except Exception:
                self.handleError(record)

    for name in NOTICE_LOGGERS:
        logger = logging.getLogger(name)
        if any(getattr(h, "mlgate_notices", False) for h in logger.handlers):
            continue
        logger.addHandler(Notices())
        logger.setLevel(logging.INFO)
        # Shown once here; a handler the root logger may have must not show it again.
        logger.propagate = False


DEFAULT_CONFIG = Path("mlgate.yaml")
ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", help="mlgate.yaml, or the directory that holds it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="Registered model name (default: `name` from mlgate.yaml)."),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        envvar="MLGATE_ENGINE",
        help="podman or docker (default: the first found on PATH).",
    ),
]


PublicKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--public-key",
        help="Refuse a bundle whose signature this PEM public key does not verify "
        "(default: MLGATE_PUBLIC_KEY, else trust.public_key of --config).",
    ),
]
TrustTypeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trust-type",
        help="A type (module.Class) the model file may contain beyond the default allow-list "
        "(the image built trusts it too); repeat for several.",
    ),
]
NoWaitOpt = Annotated[
    bool,
    typer.Option(
        "--no-wait",
        help="Exit 3 at once when another mlgate run holds the project lock, instead of waiting.",
    ),
]


def console() -> Any:
    """A console on stdout; soft wrap keeps paths and messages whole for copy and grep."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def err_console() -> Any:
    """A console on stderr, for errors and verdicts."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


class JsonOutput:
    """Whether this command wrote its JSON document: an error after it (a failed gate's exit
    1, say) must not add a second document to stdout."""

    written = False


def print_json(data: Any) -> None:
    """Write `data` as indented JSON on stdout (for scripts)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    JsonOutput.written = True
