"""The one Typer app, and what every command module shares: options, consoles, JSON output.

A command is added in exactly one way: a function decorated with `@app.command("name")` in the
module of its group (project, pipeline, registry, ship, serve), which `mlgate.cli` imports.
The same thing has the same option name on every command: `--config/-c`, `--json`, `--model`,
`--engine`. Typer and rich only; nothing heavy, so `mlgate --help` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from typer.core import TyperGroup

from mlgate.errors import UsageError

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
# A server's address (`mlgate serve`, `mlgate canary webhook`); each command has its default.
HostOpt = Annotated[str, typer.Option("--host", help="Address to bind.")]
PortOpt = Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to bind.")]


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


Say = Callable[[str], None]
HEARTBEAT_ENV = "MLGATE_HEARTBEAT_SECONDS"
HEARTBEAT_SECONDS = 10.0


def _workflow_data(text: str) -> str:
    """Text as GitHub's workflow commands read it: one line, `%` escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class StageLines:
    """Progress for a log rather than a terminal: a line when a stage starts and when it ends,
    with its time, and one whenever `interval` seconds pass without a line while it runs (a
    CI job that prints nothing for minutes looks hung, and some runners kill it); under GitHub
    Actions each stage is a `::group::` that folds. Lines are flushed as they are written.
    `clock` gives the times shown; the heartbeat keeps real time."""

    def __init__(
        self,
        stream: Callable[[], TextIO],
        *,
        interval: float = HEARTBEAT_SECONDS,
        github: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._interval, self._github, self._clock = stream, interval, github, clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = clock()
        self._stage: tuple[str, float] | None = None
        self._quiet_since = time.monotonic()
        self._beat = threading.Thread(target=self._heartbeat, name="mlgate-progress", daemon=True)

    def __enter__(self) -> StageLines:
        self._beat.start()
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self._stop.set()
        self._beat.join()
        with self._lock:
            self._end("done" if exc is None else "stopped")

    def stage(self, name: str) -> None:
        """End the running stage, if any, and start `name`."""
        name = " ".join(name.split())
        with self._lock:
            self._end("done")
            if self._github:
                self._write(f"::group::{_workflow_data(name)}")
            self._stage = (name, self._clock())
            self._line(f"{name} ...")

    def _end(self, how: str) -> None:
        if self._stage is None:
            return
        name, since = self._stage
        self._stage = None
        if self._github:
            self._write("::endgroup::")
        self._line(f"{name}: {how} after {self._clock() - since:.1f}s")

    def _heartbeat(self) -> None:
        due = self._interval
        while not self._stop.wait(due):
            with self._lock:
                quiet = time.monotonic() - self._quiet_since
                if quiet >= self._interval and self._stage is not None:
                    name, since = self._stage
                    self._line(f"{name} ... still running ({self._clock() - since:.0f}s)")
                    quiet = 0.0
                # Next when `interval` will have passed since the last line of any kind.
                due = self._interval - quiet if quiet < self._interval else self._interval

    def _line(self, text: str) -> None:
        self._write(f"[{self._clock() - self._started:7.1f}s] {text}")

    def _write(self, line: str) -> None:
        stream = self._stream()
        stream.write(line + "\n")
        stream.flush()
        self._quiet_since = time.monotonic()


def heartbeat_interval(environ: Mapping[str, str]) -> float:
    """Seconds between progress lines in a log: MLGATE_HEARTBEAT_SECONDS, else 10."""
    raw = environ.get(HEARTBEAT_ENV)
    if raw is None:
        return HEARTBEAT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise UsageError(
            f"{HEARTBEAT_ENV}={raw!r} is not a number of seconds between 0 and 3600",
            hint=f"unset it for a line every {HEARTBEAT_SECONDS:g}s, or set it to e.g. 30",
        )
    return seconds


@contextlib.contextmanager
def progress(first: str, *, to_stderr: bool = False) -> Iterator[Say]:
    """Show a long command's stages; yields the callable that starts the next one.

    On a terminal, the live status line as ever. Otherwise (CI, a pipe) `StageLines`, with
    `::group::` folding when GITHUB_ACTIONS=true. `to_stderr` keeps stdout for the result
    (`--json`, the pushed reference).
    """

    def stream() -> TextIO:
        # Looked up at each line: a caller (a test) may swap the process's streams.
        return sys.stderr if to_stderr else sys.stdout

    github = os.environ.get("GITHUB_ACTIONS") == "true"
    if stream().isatty() and not github:
        from rich.console import Console  # the CLI's start-up does not pay for rich

        live = Console(file=stream(), highlight=False, soft_wrap=True)
        with live.status(first) as status:
            yield status.update
        return
    interval = heartbeat_interval(os.environ)
    with StageLines(stream, interval=interval, github=github) as lines:
        lines.stage(first)
        yield lines.stage
