"""Where a registry is (tracking URIs) and what a model reference names (`models:/` URIs).

Pure functions: no MLflow, no network, no environment writes. What a URI shows of itself goes
through `mlgate.core.redact` (no password or token in any message).
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlgate.core.redact import redact_uri
from mlgate.errors import UsageError

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
LOCAL_DIR = "mlruns"
MODEL_URI_PREFIX = "models:/"
# MLflow's SQL stores keep version numbers in a 32-bit integer column (PostgreSQL's `integer`).
MAX_VERSION = 2**31 - 1
_DIGITS = re.compile(r"[0-9]+")


def default_tracking_uri(project_root: Path) -> str:
    """The embedded registry: a SQLite file under the project (`mlruns/` is git-ignored)."""
    return f"sqlite:///{(project_root / LOCAL_DIR / 'mlflow.db').resolve()}"


def resolve_tracking_uri(
    project_root: Path,
    *,
    explicit: str | None = None,
    configured: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The argument, then `MLFLOW_TRACKING_URI`, then config, then the project's SQLite file."""
    env = os.environ if environ is None else environ
    for uri in (explicit, env.get(TRACKING_URI_ENV), configured):
        if uri:
            return uri
    return default_tracking_uri(project_root)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


@dataclass(frozen=True)
class ModelUri:
    """A parsed `models:/NAME@ALIAS` or `models:/NAME/VERSION` (MLflow's forms)."""

    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{MODEL_URI_PREFIX}{self.name}@{self.alias}"
        return f"{MODEL_URI_PREFIX}{self.name}/{self.version}"


def is_model_uri(text: str) -> bool:
    """True when `text` is meant as a registry reference rather than a path."""
    return text.startswith(MODEL_URI_PREFIX)


def check_version(version: int, what: str = "version") -> int:
    """`version` when a registry can hold it (1 to MAX_VERSION), else a UsageError naming it."""
    if not 1 <= version <= MAX_VERSION:
        raise UsageError(
            f"{what} {version} is out of range: model versions run from 1 to {MAX_VERSION}",
            hint="`mlgate models` lists the versions",
        )
    return version


def parse_model_uri(uri: str) -> ModelUri:
    """`models:/NAME@ALIAS` or `models:/NAME/VERSION`; anything else is a UsageError (naming
    the version when that is what is wrong)."""
    body = uri.removeprefix(MODEL_URI_PREFIX) if is_model_uri(uri) else ""
    if "@" in body:
        name, _, alias = body.partition("@")
        if name and alias and "/" not in name:
            return ModelUri(name=name, alias=alias)
    else:
        name, slash, version = body.partition("/")
        if name and _DIGITS.fullmatch(version):
            return ModelUri(name=name, version=check_version(int(version), f"{uri}: version"))
        if name and slash and version:
            raise UsageError(
                f"{uri}: version {version!r} is not a version number (a whole number from 1 to "
                f"{MAX_VERSION})",
                hint=f"use models:/{name}/VERSION (e.g. models:/{name}/3) or models:/{name}@ALIAS",
            )
    raise UsageError(
        f"not a model URI: {uri!r}",
        hint="use models:/NAME@ALIAS (e.g. models:/churn@champion) or models:/NAME/VERSION",
    )


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """`uri` without its `user:password@`, and the user and password (percent-decoded)."""
    parts = urllib.parse.urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"{redact_uri(uri)}: the port is not a number",
            hint="percent-encode a password that contains '/', '@' or ':' (%2F, %40, %3A)",
        ) from None
    if parts.username is None and parts.password is None:
        return uri, None, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    user = urllib.parse.unquote(parts.username or "")
    password = None if parts.password is None else urllib.parse.unquote(parts.password)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), user, password
