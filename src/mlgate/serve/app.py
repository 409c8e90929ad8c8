"""The app: the server state, its routes, the lifespan that loads the model and flushes the log.

The routes are module-level handlers of the state (routes.py, v2.py); every prediction,
whichever protocol asked, takes the one path of predict.py. The hot route reads the raw body
and validates it by hand (see validate.py) instead of declaring a pydantic body: the OpenAPI
document still describes the body (`openapi_extra`), so clients and schemathesis see the
contract, but a request does not pay for a model instance per row.

The feedback keys (state.py, `FeedbackKeys`) are read here, the one place that builds the
state: the secret from `MLGATE_FEEDBACK_SECRET` (at least 16 characters; the same value on
every replica of a deployment, so any of them takes the labels of any other's predictions),
the bearer token of POST /feedback from `MLGATE_FEEDBACK_TOKEN` (unset: no token asked). Settings
fields `feedback_secret` / `feedback_token`, when the settings have them, come first. Without a
secret, one is made when the server starts: one worker keeps it in its memory (so restarting
the server turns away labels for the ids it issued before); several workers share one through
their readiness directory (a file only the server's user reads), made by the first to start.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from mlgate.serve import routes, v2
from mlgate.serve.contract import validation_error
from mlgate.serve.fastpath import PredictFastPath
from mlgate.serve.limits import GUARD_KEY, Guard, Limits
from mlgate.serve.predict import PREDICT, PredictEndpoint
from mlgate.serve.settings import ServeSettings
from mlgate.serve.state import FeedbackKeys, ServerState
from mlgate.serve.workers import ENV_READY_DIR
from mlgate.store.bundle import load_bundle

ENV_BUNDLE = "MLGATE_SERVE_BUNDLE"
ENV_SETTINGS = "MLGATE_SERVE_SETTINGS"
ENV_FEEDBACK_SECRET = "MLGATE_FEEDBACK_SECRET"
MIN_SECRET_CHARS = 16
ENV_FEEDBACK_TOKEN = "MLGATE_FEEDBACK_TOKEN"
SHARED_SECRET_FILE = "feedback-secret"


def create_app(
    bundle_dir: Path, settings: ServeSettings | None = None, keys: FeedbackKeys | None = None
) -> FastAPI:
    """A FastAPI app serving the bundle at `bundle_dir` (verified now, loaded in the background);
    `keys` default to those of the settings and the environment (`feedback_keys`)."""
    settings = settings or ServeSettings()
    bundle = load_bundle(bundle_dir, check=settings.verify, trust=settings.trust())
    state = ServerState(bundle, settings, keys or feedback_keys(settings, os.environ))
    guard = Guard(
        limits_of(settings),
        lambda reason: state.metrics.limited.labels(reason).inc(),
        state.metrics.body_bytes.set,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await state.start()
        # A daemon thread: a load that hangs must not keep a stopping server alive.
        threading.Thread(target=state.load, name="mlgate-model-load", daemon=True).start()
        # The lifespan state reaches every connection's protocol, which applies the limits.
        yield {GUARD_KEY: guard}
        # uvicorn has finished in-flight requests when the lifespan ends.
        await state.stop()
        state.metrics.worker_exited(os.getpid())

    app = FastAPI(
        title=f"mlgate: {bundle.meta.name}",
        version=state.version,
        description=f"Predictions from the {bundle.meta.task} model {bundle.meta.name!r}.",
        lifespan=lifespan,
    )
    app.state.mlgate = state
    predict = PredictEndpoint(state)
    routes.add_routes(app, state, predict)
    v2.add_routes(app, state)
    app.add_middleware(PredictFastPath, path=PREDICT, endpoint=predict)
    app.add_exception_handler(RequestValidationError, validation_error)
    return app


def limits_of(settings: ServeSettings) -> Limits:
    """The connection and request limits the settings ask for."""
    return Limits(
        max_connections=settings.max_connections,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        min_body_rate=settings.min_body_rate,
        body_rate_grace=settings.body_rate_grace,
        max_body_bytes_in_flight=settings.max_body_bytes_in_flight,
        retry_after=settings.retry_after,
    )


def app_from_env() -> FastAPI:
    """The app factory uvicorn workers call: bundle and settings come from the environment."""
    bundle = os.environ.get(ENV_BUNDLE)
    if not bundle:
        raise RuntimeError(f"{ENV_BUNDLE} is not set; start the server with `mlgate serve`")
    raw = os.environ.get(ENV_SETTINGS)
    settings = ServeSettings.model_validate_json(raw) if raw else ServeSettings()
    return create_app(Path(bundle), settings)


def feedback_keys(settings: ServeSettings, environ: Mapping[str, str]) -> FeedbackKeys:
    """The deployment's feedback secret and token: settings fields (when the settings have
    them), else the environment, else a secret made at start (see the module docstring)."""
    secret = _text(getattr(settings, "feedback_secret", None)) or environ.get(ENV_FEEDBACK_SECRET)
    token = _text(getattr(settings, "feedback_token", None)) or environ.get(ENV_FEEDBACK_TOKEN)
    if secret:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(
                f"{ENV_FEEDBACK_SECRET} must be at least {MIN_SECRET_CHARS} characters long"
            )
        return FeedbackKeys(secret.encode("utf-8", "surrogateescape"), token or None)
    shared = environ.get(ENV_READY_DIR)
    if shared:
        return FeedbackKeys(shared_secret(Path(shared)), token or None)
    return FeedbackKeys(secrets.token_bytes(32), token or None)


def _text(value: object) -> str | None:
    """A setting's text: a pydantic SecretStr's value, a string, or None."""
    reveal = getattr(value, "get_secret_value", None)
    if callable(reveal):
        value = reveal()
    return value if isinstance(value, str) and value else None


def shared_secret(directory: Path) -> bytes:
    """The secret in `directory` (private to the server's user), made by the first caller.

    Written beside and linked into place, so a worker that starts at the same time reads the
    whole secret or makes the file itself, never a partial one."""
    path = directory / SHARED_SECRET_FILE
    if not path.exists():
        mine = directory / f".{SHARED_SECRET_FILE}-{os.getpid()}"
        fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(mine, path)
        except FileExistsError:
            pass  # another worker was first: its secret is the one
        finally:
            mine.unlink()
    return path.read_bytes()
