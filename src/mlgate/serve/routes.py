"""The serving contract's routes (docs/architecture.md, "Serving"): handlers of the server state.

    POST /predict    predict.py (the hot route)       GET /metadata   bundle lineage
    GET  /           status                           GET /metrics    Prometheus
    GET  /health     liveness                         POST /feedback  true labels (feedback.py)
    GET  /ready      readiness: loaded, warmed, not draining

A handler takes the state of the app that received the request, the request and its id;
contract.py wraps each one with the error contract, the request id and the metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from mlgate.serve import schemas
from mlgate.serve.contract import Mount, mount
from mlgate.serve.limits import DRAINING
from mlgate.serve.metrics import CONTENT_TYPE
from mlgate.serve.predict import PREDICT, AsgiRoute, PredictEndpoint
from mlgate.serve.wire import MAX_ID, Body, json_response

if TYPE_CHECKING:
    from mlgate.serve.state import ServerState


async def status(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /: what is served and whether it is ready."""
    return json_response(state.status())


async def health(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /health: the process is alive (503 once the model failed to load)."""
    # The detail is in the server's log; the body says what happened, not the exception.
    if state.failed:
        return json_response({"status": "failed", "error": state.failed}, 503)
    return json_response({"status": "ok"})


async def ready(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /ready: 200 once every worker's model is warm, 503 before and while draining."""
    is_ready = state.server_ready and not DRAINING.is_set()
    body = {"ready": is_ready, "error": state.failed}
    return json_response(body, 200 if is_ready else 503)


async def metadata(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /metadata: the bundle's lineage and the runtime serving it."""
    return json_response(
        {**state.public, "runtime": state.predictor.name if state.predictor else None}
    )


async def feedback(state: ServerState, request: Request, request_id: str) -> Response:
    """POST /feedback: check, count and log true labels (feedback.py: who may, for which ids)."""
    gate = state.feedback
    gate.authorize(request.headers.get("authorization"))
    payload = await Body.of(request).json(state.settings.max_body_bytes)
    return json_response(await gate.accept(payload))


async def prometheus(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /metrics: the exposition text, drift gauges refreshed first."""

    state.monitoring.live.refresh()
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


NOT_READY: dict[int | str, dict[str, Any]] = {503: {"description": "Not ready yet"}}


def add_routes(app: FastAPI, state: ServerState, predict: PredictEndpoint) -> None:
    """Mount the contract's routes on `app`, /predict answered by `predict`.

    The order is the OpenAPI document's, and that of the latency series (each created at zero
    here, so a scrape shows every route from the start).
    """
    bundle = state.bundle
    state.route_latency(PREDICT)
    app.router.routes.append(
        AsgiRoute(
            PREDICT,
            predict,
            summary="Predict one row or a batch",
            openapi_extra=schemas.predict_openapi(
                bundle.schema.features,
                state.settings.max_rows,
                passthrough=bundle.schema.passthrough,
                classifier=state.classifier,
                id_column=state.validator.id_column,
            ),
        )
    )
    mount(app, state, Mount("/", status, "Status"))
    mount(app, state, Mount("/health", health, "Liveness"))
    mount(
        app,
        state,
        Mount("/ready", ready, "Readiness: model loaded and warmed", responses=NOT_READY),
    )
    mount(app, state, Mount("/metadata", metadata, "Bundle lineage"))
    mount(app, state, Mount("/metrics", prometheus, "Prometheus metrics"))
    mount(
        app,
        state,
        Mount(
            "/feedback",
            feedback,
            "True labels of earlier predictions, by request id",
            method="POST",
            openapi_extra=schemas.feedback_openapi(
                state.classes if state.classifier else None, MAX_ID
            ),
        ),
    )
