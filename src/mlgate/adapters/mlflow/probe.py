"""Talking to the tracking server as MLflow's own client does: its credentials, its TLS
settings, and the health probe.

urllib cannot use `user:password@` in a URL (it reads `password@host` as the port), so the
probe takes the credentials out of the URI and sends them as `Authorization: Basic`, in
MLflow's order: the URI's own (the HTTP library under MLflow's client applies them last, so
they win), else `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` (or
`~/.mlflow/credentials`), else `MLFLOW_TRACKING_TOKEN` as a bearer token. TLS follows
`MLFLOW_TRACKING_INSECURE_TLS` (no certificate check), `MLFLOW_TRACKING_SERVER_CERT_PATH` (the
CA bundle to trust) and `MLFLOW_TRACKING_CLIENT_CERT_PATH` (a client certificate with its key).
No message shows a password or a token (`mlgate.core.redact`).
"""

from __future__ import annotations

import base64
import configparser
import http.client
import os
import ssl
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
INSECURE_TLS_ENV = "MLFLOW_TRACKING_INSECURE_TLS"
SERVER_CERT_ENV = "MLFLOW_TRACKING_SERVER_CERT_PATH"
CLIENT_CERT_ENV = "MLFLOW_TRACKING_CLIENT_CERT_PATH"
TIMEOUT = 5.0
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"", "false", "0"})


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


def tls_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """The TLS settings MLflow's client takes from the environment, as an SSL context."""
    env = os.environ if environ is None else environ
    raw = env.get(INSECURE_TLS_ENV, "")
    if raw.strip().lower() not in _TRUE | _FALSE:
        raise UsageError(f"{INSECURE_TLS_ENV}={raw!r}: expected true or false")
    insecure = raw.strip().lower() in _TRUE
    server_cert = env.get(SERVER_CERT_ENV) or None
    if insecure and server_cert:
        raise UsageError(
            f"{INSECURE_TLS_ENV} and {SERVER_CERT_ENV} are both set: they cannot be used together",
            hint="unset one of them",
        )
    client_cert = env.get(CLIENT_CERT_ENV) or None
    try:
        context = ssl.create_default_context(cafile=server_cert)
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if client_cert:
            context.load_cert_chain(client_cert)
    except (OSError, ssl.SSLError) as exc:
        named = f"{SERVER_CERT_ENV}={server_cert}" if server_cert else ""
        named += f"{' or ' if named else ''}{CLIENT_CERT_ENV}={client_cert}" if client_cert else ""
        raise UsageError(f"{named}: cannot load it: {exc}") from None
    return context


def send(
    tracking_uri: str,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    timeout: float = TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request to the tracking server at `path` (`/health`, `/api/2.0/...`), with the
    client's credentials and TLS settings: the status and body of any HTTP answer but a refusal
    of the credentials; InfraError (the URI redacted) when there is none, UsageError when the
    URI is not one urllib can use."""
    shown = redact_uri(tracking_uri)
    url, auth = authorization(tracking_uri, environ)
    headers = {"Authorization": auth} if auth else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    target = url.rstrip("/") + path
    context = tls_context(environ) if target.startswith("https:") else None
    request = urllib.request.Request(target, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:  # it holds the connection
            if exc.code in (401, 403):
                raise InfraError(
                    f"MLflow registry at {shown} refused the credentials (HTTP {exc.code})",
                    hint=f"put user:password in {TRACKING_URI_ENV}, or set {USERNAME_ENV} and "
                    f"{PASSWORD_ENV} (or {TOKEN_ENV})",
                ) from None
            return int(exc.code), bytes(exc.read())
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


def check_health(tracking_uri: str, environ: Mapping[str, str] | None = None) -> None:
    """GET `/health` of the tracking server; InfraError (the URI redacted) unless it is 200."""
    status, _body = send(tracking_uri, "/health", environ=environ)
    if status != 200:
        shown = redact_uri(tracking_uri)
        health = redact_uri(split_credentials(tracking_uri)[0].rstrip("/") + "/health")
        raise InfraError(f"MLflow registry at {shown} is not healthy ({health} answered {status})")
