"""The one path of a prediction request: parse, validate against the schema, predict, log,
respond.

Two forms take it: the article's `POST /predict` (`{"features": [...]}` or `{"instances":
[...]}`, `ARTICLE` here) and the Open Inference Protocol's `POST /v2/models/{name}/infer`
(`v2.V2`). A form turns a JSON body into a validated `PredictRequest` and shapes the answer;
everything between (readiness, the body, the model call, the metrics and the log) is this
module's, once.

`POST /predict` is the hot route. Starlette's routing, `Request` object and FastAPI's endpoint
wrapper cost more per request than validating a row and running the model (measured: about
300 µs of framework time against about 60 µs of work), so it is answered by a plain ASGI app,
`PredictEndpoint`, straight from the scope. FastAPI still documents the route (`AsgiRoute`),
and fastpath.py hands it the requests before the router looks at them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mlgate.serve.contract import answer
from mlgate.serve.errors import ClientDisconnected
from mlgate.serve.validate import PredictRequest
from mlgate.serve.wire import Body, json_response, probabilities_flag

if TYPE_CHECKING:
    from mlgate.serve.runtime import Output
    from mlgate.serve.state import ServerState

PREDICT = "/predict"
REQUEST_ID = b"x-request-id"


@dataclass(frozen=True, slots=True)
class Parsed:
    """A prediction request as a form read it."""

    request: PredictRequest
    asked: bool
    """Whether the answer carries the probabilities (the log may keep them either way)."""
    given_id: str | None = None
    """The request's own id, for protocols that carry one in the body (V2)."""


@dataclass(slots=True)  # not frozen: built per request, and a frozen init costs more
class Answered:
    """A predicted request, for its form to answer."""

    parsed: Parsed
    out: Output
    predictions: list[Any]
    """The predictions as JSON values."""
    request_id: str
    """The id the answer carries: signed, so that /feedback can tell it was issued here."""


class Form(Protocol):
    """How one protocol reads a prediction request and answers it."""

    def parse(self, state: ServerState, payload: Any, query: str) -> Parsed:
        """The validated request of a JSON body, or a RequestError naming the field."""
        ...

    def answer(self, state: ServerState, done: Answered) -> dict[str, Any]:
        """The JSON answer to a predicted request."""
        ...


async def serve_prediction(
    state: ServerState, form: Form, body: Body, query: str, request_id: str
) -> Response:
    """Answer one prediction request of `form`; refusals are raised as RequestError.

    The answer's request id is `request_id` signed with the number of rows (wire.py,
    `RequestIds`): the id /feedback takes labels for. A refused request keeps the plain id."""
    start = time.perf_counter()
    predictor = state.ready_predictor()
    payload = await body.json(state.settings.max_body_bytes)
    if state.online is not None and form is ARTICLE:  # rows with entity keys only: online.py
        payload = await state.online.complete(payload)
    parsed = form.parse(state, payload, query)
    req = parsed.request
    if state.logs_scores and not req.probabilities:
        req = dataclasses.replace(req, probabilities=True)
    out = await state.predict(predictor, req)
    signed = state.ids.sign(request_id, req.batch.rows)
    preds = state.record(signed, req.batch, out, req.probabilities, time.perf_counter() - start)
    response = json_response(form.answer(state, Answered(parsed, out, preds, signed)))
    # Appended last, where `answer` looks for it (cheaper than a headers mapping here).
    response.raw_headers.append((REQUEST_ID, signed.encode("latin-1")))
    return response


class ArticleForm:
    """`POST /predict`: `{"features": row | rows}` or `{"instances": [objects]}`, and the
    `probabilities` flag in the body or the query string."""

    def parse(self, state: ServerState, payload: Any, query: str) -> Parsed:
        """The request of a /predict body (the query's flag is judged first)."""
        flag = probabilities_flag(query)
        req = state.validator.predict_request(payload, flag)
        return Parsed(req, req.probabilities)

    def answer(self, state: ServerState, done: Answered) -> dict[str, Any]:
        """Model, version and predictions; the single row's prediction, ids, probabilities."""
        parsed, out, predictions = done.parsed, done.out, done.predictions
        req = parsed.request
        body: dict[str, Any] = {
            "model": state.meta.name,
            "version": state.version,
            "predictions": predictions,
        }
        if req.single:
            body["prediction"] = predictions[0]
        if req.batch.ids is not None:
            body["id_column"] = state.validator.id_column
            body["ids"] = req.batch.ids
        if parsed.asked and out.probabilities is not None:
            body["classes"] = state.classes
            body["probabilities"] = out.probabilities
        return body


ARTICLE = ArticleForm()


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # Not an empty or truncated body to judge: there is nobody left to answer.
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


class PredictEndpoint:
    """`POST /predict` as a plain ASGI app, under the same contract as every route."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.latency = state.route_latency(PREDICT)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request in `scope`."""
        headers: dict[bytes, bytes] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key, value)
        ctype = headers.get(b"content-type")
        declared = headers.get(b"content-length")
        given = headers.get(b"x-request-id")
        body = Body(
            "" if ctype is None else ctype.decode("latin-1"),
            None if declared is None else declared.decode("latin-1"),
            _chunks(receive),
        )
        query = scope.get("query_string", b"").decode("latin-1")
        state = self.state

        def work(request_id: str) -> Awaitable[Response]:
            return serve_prediction(state, ARTICLE, body, query, request_id)

        response = await answer(
            state,
            PREDICT,
            self.latency,
            None if given is None else given.decode("latin-1"),
            work,
        )
        await response(scope, receive, send)


class AsgiRoute(APIRoute):
    """A POST route FastAPI documents like any other, answered by a plain ASGI app."""

    def __init__(
        self, path: str, app: ASGIApp, *, summary: str, openapi_extra: dict[str, Any]
    ) -> None:
        # FastAPI documents an endpoint function and names the operation after it
        # (`endpoint_<path>_post`, as every route's); requests go to `app`, never to it.
        async def endpoint(request: Request) -> Response:
            raise NotImplementedError

        super().__init__(
            path, endpoint, methods=["POST"], summary=summary, openapi_extra=openapi_extra
        )
        self.app = app
