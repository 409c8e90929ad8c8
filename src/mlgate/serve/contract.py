"""What every answer keeps to: the error contract, the request id, the request metrics.

A handler raises `RequestError` for a request it refuses (answered with its status and JSON
body), and lets anything else propagate: that is a bug, logged with its traceback and answered
as a generic 500. A client gone mid-body is neither (499, its own metric: nobody reads the
answer). Every answer carries `x-request-id` (the client's, when sane; an answered prediction's is
signed, see wire.py) and is counted by route and status, with its latency. A route mounted here
takes no query parameters: one sent is a 400 naming it (`/predict`, whose `probabilities` is
the one parameter the server takes, reads its own query)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from mlgate.serve.errors import ClientDisconnected, RequestError
from mlgate.serve.wire import error_response, json_response, new_request_id, no_parameters

if TYPE_CHECKING:
    from mlgate.serve.state import ServerState

log = logging.getLogger("mlgate.serve")

# Routes whose refused requests go to the prediction log (the monitor's error rate).
PREDICT_ROUTES = frozenset({"/predict", "/v2/models/{name}/infer"})

Work = Callable[[str], Awaitable[Response]]
Handler = Callable[["ServerState", Request, str], Awaitable[Response]]

_INTERNAL = {
    "error": {"kind": "internal", "message": "internal server error", "field": None, "row": None}
}


async def answer(
    state: ServerState, route: str, latency: Any, given_id: str | None, work: Work
) -> Response:
    """Run one request's `work` (given its request id) under the contract; `latency` is the
    route's latency histogram child (looked up once per route, not per request)."""
    start = time.perf_counter()
    metrics = state.metrics
    request_id = new_request_id(given_id)
    try:
        response = await work(request_id)
    except RequestError as exc:
        metrics.errors.labels(exc.kind).inc()
        response = error_response(exc)
        if route in PREDICT_ROUTES:
            state.record_refusal(request_id, exc, time.perf_counter() - start)
    except (ClientDisconnected, ClientDisconnect):
        metrics.client_disconnects.labels(route).inc()
        response = json_response({"error": {"kind": "client_disconnected"}}, 499)
    except Exception:
        # Never an input problem: validation raised RequestError before the model ran.
        log.exception("internal error answering %s (request %s)", route, request_id)
        metrics.errors.labels("internal").inc()
        response = json_response(_INTERNAL, 500)
    raw = response.raw_headers
    if not raw or raw[-1][0] != b"x-request-id":  # an answered prediction has its signed id
        raw.append((b"x-request-id", request_id.encode("latin-1")))
    metrics.requests.labels(route, str(response.status_code)).inc()
    latency.observe(time.perf_counter() - start)
    return response


def endpoint(route: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A FastAPI endpoint: `handler` under the contract, labelled `route` in the metrics.

    The handler is given the server state of the app that received the request
    (`app.state.mlgate`), so one handler serves any app.
    """

    # FastAPI names each OpenAPI operation after this function: `endpoint_<path>_<method>`,
    # the ids clients have generated code from.
    async def endpoint(request: Request) -> Response:
        state: ServerState = request.app.state.mlgate
        query: bytes = request.scope.get("query_string", b"")

        async def work(request_id: str) -> Response:
            if query:  # no mounted route takes a query parameter
                no_parameters(query, route)
            return await handler(state, request, request_id)

        return await answer(
            state, route, state.route_latency(route), request.headers.get("x-request-id"), work
        )

    return endpoint


@dataclass(frozen=True)
class Mount:
    """One FastAPI route: path, handler, OpenAPI summary; `route` labels its metrics (the
    path unless given: V2 paths are labelled with `{name}` for their parameter)."""

    path: str
    handler: Handler
    summary: str
    method: str = "GET"
    route: str | None = None
    responses: dict[int | str, dict[str, Any]] | None = None
    openapi_extra: dict[str, Any] | None = None


def mount(app: FastAPI, state: ServerState, spec: Mount) -> None:
    """Add one route to `app`, its latency series created at zero."""
    route = spec.route or spec.path
    state.route_latency(route)
    app.add_api_route(
        spec.path,
        endpoint(route, spec.handler),
        methods=[spec.method],
        summary=spec.summary,
        responses=spec.responses,
        openapi_extra=spec.openapi_extra,
    )


async def validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own request validation (path and query parameters), as a 422 of ours."""
    if not isinstance(exc, RequestValidationError):
        raise exc
    errors = exc.errors()
    first = errors[0] if errors else {}
    field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "path", "query"))
    err = RequestError(
        422, "validation", str(first.get("msg", "invalid request")), field=field or None
    )
    state: ServerState = request.app.state.mlgate
    state.metrics.errors.labels(err.kind).inc()
    return json_response(err.body(), 422)
