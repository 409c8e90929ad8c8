"""The hot route's plumbing: one ASGI app answers `POST /predict`, whether the router or the
fast path hands it the request, and FastAPI documents it like every other route."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from mlgate.serve.fastpath import PredictFastPath
from mlgate.serve.predict import AsgiRoute

pytestmark = pytest.mark.unit


class Recorder:
    """An ASGI app that answers with its name and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await PlainTextResponse("answered by the endpoint")(scope, receive, send)


def app_with(endpoint: Recorder, fast: bool) -> FastAPI:
    app = FastAPI()
    app.router.routes.append(
        AsgiRoute("/predict", endpoint, summary="Predict", openapi_extra={"x-form": "article"})
    )
    if fast:
        app.add_middleware(PredictFastPath, path="/predict", endpoint=endpoint)
    return app


def send(app: FastAPI, method: str, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, url)

    return asyncio.run(go())


@pytest.mark.parametrize("fast", [True, False])
def test_post_predict_reaches_the_one_endpoint(fast: bool) -> None:
    endpoint = Recorder()
    r = send(app_with(endpoint, fast), "POST", "/predict")
    assert (r.status_code, r.text) == (200, "answered by the endpoint")
    assert endpoint.calls == 1


def test_other_methods_and_paths_go_to_the_router() -> None:
    endpoint = Recorder()
    app = app_with(endpoint, fast=True)
    assert send(app, "GET", "/predict").status_code == 405
    assert send(app, "POST", "/predict/").status_code in (307, 404)
    assert endpoint.calls == 0


def test_the_route_is_documented_like_the_others() -> None:
    spec: dict[str, Any] = send(app_with(Recorder(), fast=True), "GET", "/openapi.json").json()
    operation = spec["paths"]["/predict"]["post"]
    assert operation["operationId"] == "endpoint_predict_post"
    assert operation["summary"] == "Predict"
    assert operation["x-form"] == "article"
    assert "description" not in operation


def test_the_fast_path_answers_before_the_router() -> None:
    endpoint = Recorder()
    app = FastAPI()  # no route at all: only the fast path can answer
    app.add_middleware(PredictFastPath, path="/predict", endpoint=endpoint)
    assert send(app, "POST", "/predict").text == "answered by the endpoint"
    assert send(app, "POST", "/other").status_code == 404
    assert endpoint.calls == 1
