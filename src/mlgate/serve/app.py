"""The app: the server state, its routes, the lifespan that loads the model and flushes the log.

The routes are module-level handlers of the state (routes.py, v2.py); every prediction,
whichever protocol asked, takes the one path of predict.py. The hot route reads the raw body
and validates it by hand (see validate.py) instead of declaring a pydantic body: the OpenAPI
document still describes the body (`openapi_extra`), so clients and schemathesis see the
contract, but a request does not pay for a model instance per row.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import AsyncIterator
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
from mlgate.serve.state import ServerState
from mlgate.store.bundle import load_bundle

ENV_BUNDLE = "MLGATE_SERVE_BUNDLE"
ENV_SETTINGS = "MLGATE_SERVE_SETTINGS"


def create_app(bundle_dir: Path, settings: ServeSettings | None = None) -> FastAPI:
    """A FastAPI app serving the bundle at `bundle_dir` (verified now, loaded in the background)."""
    settings = settings or ServeSettings()
    bundle = load_bundle(bundle_dir, check=settings.verify, trust=settings.trust())
    state = ServerState(bundle, settings)
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
