"""The tracking server's health probe, sending the credentials MLflow's own client sends.

urllib cannot use `user:password@` in a URL (it reads `password@host` as the port), so the
probe takes the credentials out of the URI and sends them as `Authorization: Basic`, in
MLflow's order: the URI's own (the HTTP library under MLflow's client applies them last, so
they win), else `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` (or
`~/.mlflow/credentials`), else `MLFLOW_TRACKING_TOKEN` as a bearer token. No message shows a
password or a token (`mlgate.core.redact`).
"""

from __future__ import annotations

import base64
import configparser
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from mlgate.adapters.mlflow.uri import TRACKING_URI_ENV, split_credentials
from mlgate.core.redact import redact_uri, scrub
from mlgate.errors import InfraError, UsageError

USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"
TIMEOUT = 5.0


def _credentials_file(home: Path) -> tuple[str | None, str | None]:
    """MLflow's credentials file: `[mlflow]` with `mlflow_tracking_username` / `_password`."""
    path = home / ".mlflow" / "credentials"
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None, None
    if "mlflow" not in parser:
        return None, None
    section = parser["mlflow"]
    return section.get(USERNAME_ENV.lower()), section.get(PASSWORD_ENV.lower())


def authorization(
    tracking_uri: str, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> tuple[str, str | None]:
    """The URL to probe (no credentials in it) and the Authorization header to send, if any."""
    env = os.environ if environ is None else environ
    url, user, password = split_credentials(tracking_uri)
    if user is None and password is None:
        file_user, file_password = _credentials_file(home or Path.home())
        user = env.get(USERNAME_ENV) or file_user
        password = env.get(PASSWORD_ENV) or file_password
        if not (user and password):
            token = env.get(TOKEN_ENV)
            return url, f"Bearer {token}" if token else None
    pair = f"{user or ''}:{password or ''}".encode()
    return url, "Basic " + base64.b64encode(pair).decode("ascii")


def check_health(tracking_uri: str, environ: Mapping[str, str] | None = None) -> None:
    """GET `/health` of the tracking server; InfraError (the URI redacted) unless it is 200."""
    shown = redact_uri(tracking_uri)
    url, auth = authorization(tracking_uri, environ)
    health = url.rstrip("/") + "/health"
    request = urllib.request.Request(health, headers={"Authorization": auth} if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            ok = resp.status == 200
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection
        if exc.code in (401, 403):
            raise InfraError(
                f"MLflow registry at {shown} refused the credentials (HTTP {exc.code})",
                hint=f"put user:password in {TRACKING_URI_ENV}, or set {USERNAME_ENV} and "
                f"{PASSWORD_ENV} (or {TOKEN_ENV})",
            ) from None
        raise InfraError(
            f"MLflow registry at {shown} is not healthy ({redact_uri(health)} answered {exc.code})"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = scrub(str(exc), [tracking_uri])
        raise InfraError(
            f"MLflow registry at {shown} is unreachable: {reason}",
            hint=f"start the tracking server or fix {TRACKING_URI_ENV}",
        ) from None
    except (http.client.InvalidURL, ValueError) as exc:
        reason = scrub(str(exc), [tracking_uri])
        raise UsageError(
            f"{TRACKING_URI_ENV} (or registry.tracking_uri) {shown} is not a URL mlgate can use: "
            f"{reason}",
            hint="percent-encode a password's '/', '@' and ':' (%2F, %40, %3A)",
        ) from None
    except http.client.HTTPException as exc:  # not HTTP on the other end, or cut short
        reason = scrub(f"{type(exc).__name__}: {exc}", [tracking_uri])
        raise InfraError(f"MLflow registry at {shown} did not answer HTTP: {reason}") from None
    if not ok:
        raise InfraError(f"MLflow registry at {shown} is not healthy ({redact_uri(health)})")
