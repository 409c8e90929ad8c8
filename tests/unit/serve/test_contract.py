"""The answer contract: refusals, bugs and gone clients answered alike on every route, each
answer with its request id and counted; refused predictions reach the log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from starlette.responses import Response

from mlgate.serve.contract import answer
from mlgate.serve.errors import ClientDisconnected, RequestError
from mlgate.serve.metrics import ServerMetrics
from mlgate.serve.state import ServerState
from mlgate.serve.wire import json_response

pytestmark = pytest.mark.unit


class LogOfRefusals:
    """What `answer` needs of the server state: its metrics, and where refusals are logged."""

    def __init__(self) -> None:
        self.metrics = ServerMetrics()
        self.refused: list[tuple[str, str, int]] = []

    def record_refusal(self, request_id: str, error: RequestError, latency: float) -> None:
        self.refused.append((request_id, error.kind, error.status))


def run(
    route: str, work: Callable[[str], Awaitable[Response]], given: str | None = "req-7"
) -> tuple[Response, LogOfRefusals]:
    state = LogOfRefusals()
    latency = state.metrics.latency.labels(route)
    response = asyncio.run(answer(cast(ServerState, state), route, latency, given, work))
    return response, state


def count(state: LogOfRefusals, name: str, **labels: str) -> float | None:
    value: Any = state.metrics.registry.get_sample_value(name, labels)
    return None if value is None else float(value)


def body_of(response: Response) -> Any:
    return json.loads(bytes(response.body))


async def ok(request_id: str) -> Response:
    return json_response({"id": request_id})


def test_an_answer_carries_the_request_id_and_is_counted() -> None:
    response, state = run("/health", ok)
    assert response.status_code == 200
    assert body_of(response) == {"id": "req-7"}
    assert response.headers["x-request-id"] == "req-7"
    assert count(state, "mlgate_requests_total", route="/health", status="200") == 1
    assert count(state, "mlgate_request_latency_seconds_count", route="/health") == 1


@pytest.mark.parametrize("given", [None, "", "x" * 129, "tab\there"])
def test_a_missing_or_unfit_request_id_is_replaced(given: str | None) -> None:
    response, _ = run("/health", ok, given)
    fresh = response.headers["x-request-id"]
    assert fresh != given
    assert len(fresh) == 32
    assert body_of(response) == {"id": fresh}


async def refuse(request_id: str) -> Response:
    raise RequestError(422, "validation", "age must be a number", field="age", row=0)


@pytest.mark.parametrize("route", ["/predict", "/v2/models/{name}/infer"])
def test_a_refused_prediction_is_answered_counted_and_logged(route: str) -> None:
    response, state = run(route, refuse)
    assert response.status_code == 422
    assert body_of(response) == {
        "error": {"kind": "validation", "message": "age must be a number", "field": "age", "row": 0}
    }
    assert response.headers["x-request-id"] == "req-7"
    assert count(state, "mlgate_errors_total", kind="validation") == 1
    assert count(state, "mlgate_requests_total", route=route, status="422") == 1
    assert state.refused == [("req-7", "validation", 422)]


def test_refusals_of_other_routes_are_not_prediction_log_records() -> None:
    response, state = run("/feedback", refuse)
    assert response.status_code == 422
    assert state.refused == []


async def break_(request_id: str) -> Response:
    raise KeyError("a bug")


def test_a_bug_is_a_generic_500_with_the_detail_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="mlgate.serve"):
        response, state = run("/predict", break_)
    assert response.status_code == 500
    assert body_of(response) == {
        "error": {
            "kind": "internal",
            "message": "internal server error",
            "field": None,
            "row": None,
        }
    }
    assert b"a bug" not in bytes(response.body)
    assert any("request req-7" in r.getMessage() and r.exc_info for r in caplog.records)
    assert count(state, "mlgate_errors_total", kind="internal") == 1
    assert state.refused == []


async def leave(request_id: str) -> Response:
    raise ClientDisconnected


def test_a_client_gone_mid_body_is_its_own_metric_not_an_error() -> None:
    response, state = run("/predict", leave)
    assert response.status_code == 499
    assert count(state, "mlgate_client_disconnects_total", route="/predict") == 1
    assert count(state, "mlgate_errors_total", kind="internal") is None
    assert state.refused == []
