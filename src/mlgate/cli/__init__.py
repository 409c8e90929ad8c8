"""The `mlgate` command line: parse, call one library function, render; and `main`, the one
place where exceptions become exit codes.

    0   passed                      2   bad usage, config or input (MlgateError subclasses,
    1   a gate failed (a verdict)       and every usage error Typer itself reports)
    3   infrastructure unavailable  70  a bug in mlgate: the traceback is printed
    130 interrupted

Command modules, one per group, each adding its commands to the one app in `cli/app.py`:
project (init, config, schema, demo-data), pipeline (validate, train, gate, run), registry
(register, promote, rollback, models, report), ship (build, push), deploy, canary (analyze,
webhook, status, stop), serve, monitor.
Heavy libraries (pandas, scikit-learn, MLflow) are imported inside the commands, so
`mlgate --help` and usage errors stay fast.
"""

from __future__ import annotations

import os
import sys

# Importing a group module adds its commands; the order here is the order of `mlgate --help`.
from mlgate.cli import project, pipeline, registry, ship, deploy, canary, serve, monitor  # noqa: F401  # isort: skip
from mlgate.cli.app import JsonOutput, app, err_console, print_json
from mlgate.core.redact import redact_text
from mlgate.errors import GateFailed, InfraError, MlgateError

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).

__all__ = ["app", "main"]

# MLflow retries HTTP for minutes by default (7 retries, backoff 2, 120 s timeout): a CI job
# pointed at a dead server should fail in seconds with exit 3, not hang. The command sets these
# for its own process only where the operator has not (a library caller keeps MLflow's).
PROCESS_ENVIRONMENT = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    # A tqdm bar per champion download is noise in CI logs.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # MLflow writes "View run ... at: URL" to stdout after each run against a server, which
    # would corrupt `--json` output; the version listing carries the run id instead.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}

BUG = 70
INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; the one place errors become exit codes."""
    for key, value in PROCESS_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    JsonOutput.written = False
    try:
        # Standalone mode: Typer reports its own usage errors (unknown command or option,
        # missing argument, bad value) with the usage line and a suggestion, and exits 2,
        # whatever exception class the installed Typer uses for them.
        app(args=argv, prog_name="mlgate", standalone_mode=True)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except MlgateError as exc:
        _report("gate failed" if isinstance(exc, GateFailed) else "error", str(exc))
        if _wants_json(argv):
            _report_json(_kind(exc), type(exc).__name__, exc.message, exc.hint, exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception as exc:
        import traceback  # only on this path: it costs a usage error tens of milliseconds

        traceback.print_exc()
        sys.stderr.write(
            "\nThis is a bug in mlgate, not in your project: please report it with the "
            "traceback above.\n"
        )
        if _wants_json(argv):
            _report_json("bug", type(exc).__name__, str(exc), "see the traceback on stderr", BUG)
        return BUG
    return 0


def _wants_json(argv: list[str] | None) -> bool:
    """`--json` among the command's options (before a `--` that ends them), and the command's
    own JSON document not written yet."""
    if JsonOutput.written:
        return False
    args = sys.argv[1:] if argv is None else argv
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def _kind(exc: MlgateError) -> str:
    """The error's family, as its exit code says it: a verdict, bad input, or infrastructure."""
    if isinstance(exc, GateFailed):
        return "gate_failed"
    return "infrastructure" if isinstance(exc, InfraError) else "input"


def _report_json(kind: str, name: str, message: str, hint: str | None, code: int) -> None:
    """With `--json` an error is also a JSON object on stdout, where the script reads."""
    error = {
        "kind": kind,
        "type": name,
        "message": redact_text(message),
        "hint": None if hint is None else redact_text(hint),
        "exit_code": code,
    }
    print_json({"error": error})


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    # sys.exit("message") prints the message and means failure.
    sys.stderr.write(f"{code}\n")
    return 1


def _report(prefix: str, message: str) -> None:
    console = err_console()
    console.print(f"[bold red]{prefix}:[/] ", end="")
    # The last line of defence: a credential in a URI that a message quotes is never shown.
    console.print(redact_text(message), markup=False)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
