"""The model registry: register gated bundles, move the `challenger` / `champion` aliases, look
up and download versions.

    types.py            the `Registry` protocol, `VersionInfo`, `RunContext`, alias names
    uri.py              tracking-URI resolution and `models:/NAME@ALIAS` parsing (pure)
    factory.py          `open_registry`: the one way to get a project's registry
    reads.py            the registry's reads (lookups, listing, download) and error translation
    writes.py           the writes (register, promote, rollback, reject)
    meta.py             `RegistryMeta`: the metadata beneath reads and alias/tag moves; MLflow's
    rest.py             ... over the tracking server's REST API (urllib, no MLflow)
    sqlitestore.py      ... over the embedded SQLite file (sqlite3, no MLflow)
    sqltables.py        MLflow's SQLite tables: known schema revisions, queries, checks
    clients.py          which of them a tracking URI gets
    download.py         fetch the bundle a `models:/` URI names
    integrity.py        the bundle digest a version records, checked on every download
    probe.py            the tracking server's health probe (with the client's credentials)
    process.py          which process made a registration (to tell a dead one from a live one)

By default the registry is MLflow on a SQLite file under the project (`mlruns/mlflow.db`,
artifacts beside it; `mlruns/` is git-ignored by `mlgate init`); `MLFLOW_TRACKING_URI` or
`registry.tracking_uri` point at a team's server instead. Importing this package imports no
MLflow, and neither do lookups, listing and alias moves (docs/registry.md).
"""

from __future__ import annotations

from mlgate.adapters.mlflow.download import fetch_model
from mlgate.adapters.mlflow.factory import open_registry
from mlgate.adapters.mlflow.types import (
    CHALLENGER,
    CHAMPION,
    Registry,
    RunContext,
    VersionInfo,
    current_actor,
)
from mlgate.adapters.mlflow.uri import (
    TRACKING_URI_ENV,
    ModelUri,
    is_model_uri,
    parse_model_uri,
    resolve_tracking_uri,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "TRACKING_URI_ENV",
    "ModelUri",
    "Registry",
    "RunContext",
    "VersionInfo",
    "current_actor",
    "fetch_model",
    "is_model_uri",
    "open_registry",
    "parse_model_uri",
    "resolve_tracking_uri",
]
