"""Fetch the bundle a `models:/NAME@ALIAS` or `models:/NAME/VERSION` URI names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters.mlflow.types import Registry
from mlgate.adapters.mlflow.uri import ModelUri, parse_model_uri
from mlgate.errors import UsageError

if TYPE_CHECKING:
    from mlgate.store.trust import Trust


def fetch_model(
    registry: Registry, uri: str | ModelUri, workdir: Path, *, trust: Trust | None = None
) -> Path:
    """Download the version `uri` names into `workdir`, verified; return the bundle directory."""
    ref = parse_model_uri(uri) if isinstance(uri, str) else uri
    version = ref.version
    if ref.alias is not None:
        info = registry.get_alias(ref.name, ref.alias)
        if info is None:
            raise UsageError(
                f"model {ref.name!r} has no alias {ref.alias!r} in the registry at {registry.uri}",
                hint=f"see `mlgate models --model {ref.name}`",
            )
        version = info.version
    if version is None:  # parse_model_uri guarantees an alias or a version
        raise UsageError(f"{ref}: names neither an alias nor a version")
    return registry.download(ref.name, version, workdir, trust=trust)
