"""What every command module shares: the common options and the consoles.

Typer and rich only; nothing heavy, so `mlgate --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_CONFIG = Path("mlgate.yaml")
ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", help="mlgate.yaml, or the directory that holds it."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def console() -> Any:
    """A console on stdout; soft wrap keeps paths and messages whole for copy and grep."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def err_console() -> Any:
    """A console on stderr, for errors and verdicts."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Write `data` as indented JSON on stdout (for scripts)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
