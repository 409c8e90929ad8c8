"""`mlgate serve`: serve a bundle directory or a registry version."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from mlgate.adapters.mlflow import fetch_model, is_model_uri, open_registry
from mlgate.serve.server import ServeOptions, run
from mlgate.store.trust import command_trust


def serve(source: str, *, config: Path, options: ServeOptions) -> None:
    """`mlgate serve`: serve a bundle directory, or the version a `models:/` URI names in the
    registry of the project at `config` (downloaded and verified; the copy lives as long as the
    server and is removed when it stops, SIGTERM included). Blocks until the server stops."""
    settings = options.settings
    trust = command_trust(config, settings.public_key, settings.trusted_types)
    settings = settings.model_copy(
        update={"public_key": trust.public_key, "trusted_types": trust.types}
    )
    options = replace(options, settings=settings)
    if not is_model_uri(source):
        run(Path(source), options)
        return
    with tempfile.TemporaryDirectory(prefix="mlgate-serve-") as workdir:
        run(fetch_model(open_registry(config), source, Path(workdir), trust=trust), options)
