"""Which `RegistryMeta` client a tracking URI gets (`mlgate.adapters.mlflow.meta`)."""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlgate.adapters.mlflow.meta import MlflowMeta, RegistryMeta
from mlgate.adapters.mlflow.rest import RestMeta
from mlgate.adapters.mlflow.sqlitestore import SqliteMeta
from mlgate.adapters.mlflow.uri import sqlite_path
from mlgate.errors import UsageError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

# Client settings of MLflow's that only MLflow's own client applies (request-auth plugins,
# AWS SigV4 signing): with one set, the registry is read through MLflow.
MLFLOW_ONLY_ENV = ("MLFLOW_TRACKING_AUTH", "MLFLOW_TRACKING_AWS_SIGV4")
# `mlflow` reads and moves everything through MLflow's client, as before the light clients
# existed (to compare them, or to step around one); unset or `auto` picks by URI.
CLIENT_ENV = "MLGATE_REGISTRY_CLIENT"
_CHOICES = ("auto", "mlflow")


def open_meta(tracking_uri: str, client: Callable[[], MlflowClient]) -> RegistryMeta:
    """REST for an http(s) server, sqlite3 for a `sqlite:///` file, else MLflow's client
    (always MLflow's with `MLGATE_REGISTRY_CLIENT=mlflow`).

    `client` makes MLflow's client when one is needed: for other stores, for an MLflow client
    setting only MLflow applies (`MLFLOW_TRACKING_AUTH`, `MLFLOW_TRACKING_AWS_SIGV4`), and for
    a SQLite file whose schema revision the sqlite3 client does not know. Nothing is contacted.
    """
    fallback = MlflowMeta(client)
    choice = os.environ.get(CLIENT_ENV, "").strip().lower() or "auto"
    if choice not in _CHOICES:
        raise UsageError(
            f"{CLIENT_ENV}={os.environ[CLIENT_ENV]!r}: expected one of {', '.join(_CHOICES)}",
            hint=f"unset {CLIENT_ENV} to let mlgate pick the client for the registry's URI",
        )
    if choice == "mlflow":
        return fallback
    if urllib.parse.urlsplit(tracking_uri).scheme in {"http", "https"}:
        only_mlflow = [name for name in MLFLOW_ONLY_ENV if os.environ.get(name)]
        if only_mlflow:
            log.debug("%s is set: the registry is read through MLflow's client", only_mlflow[0])
            return fallback
        return RestMeta(tracking_uri)
    db = sqlite_path(tracking_uri)
    if db is not None:
        return SqliteMeta(db, fallback=fallback)
    return fallback
