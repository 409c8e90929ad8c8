"""`mlgate serve`: the CLI entry of the model server (imports nothing heavy at import time)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve_cmd(
    bundle: Annotated[Path, typer.Argument(help="Model bundle directory.")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Serve a model bundle over HTTP."""
    from mlgate.errors import UsageError

    raise UsageError(f"serving {bundle} on {host}:{port} is not available in this build")
