"""Observations from Prometheus: the PromQL built in one place, the HTTP API's answers (over
real HTTP on 127.0.0.1), and the windows `observe` makes of query results."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from mlgate.adapters import procs
from mlgate.adapters.prometheus.query import (
    Prometheus,
    Selectors,
    check_matchers,
    class_counts_query,
    duration,
    observe,
    watched_queries,
)
from mlgate.core.canary import Progress
from mlgate.errors import InfraError, UsageError

pytestmark = pytest.mark.unit

SEL = Selectors(http='upstream="a"', model='instance="a"')
Series = list[tuple[dict[str, str], float]]


def test_durations_and_matchers() -> None:
    assert duration(1.5) == "1500ms"
    assert duration(0.0) == "1ms"
    assert check_matchers('{pod="a", app="b"}', "--x") == 'pod="a", app="b"'
    with pytest.raises(UsageError, match="--canary-selector 'pod' is not a PromQL"):
        check_matchers("pod", "--canary-selector")


def test_selectors_of_a_server_and_of_a_variant_behind_the_splitter() -> None:
    assert Selectors.of_instance("http://10.0.0.1:8000/") == Selectors.same(
        'instance="10.0.0.1:8000"'
    )
    local = Selectors.behind_splitter("127.0.0.1:1", "127.0.0.1:2")
    assert local.http == 'job="mlgate-splitter",upstream="127.0.0.1:1"'
    assert local.model == 'job="mlgate",instance="127.0.0.1:2"'


def test_the_queries_select_the_variant() -> None:
    scraped, splitter = watched_queries(SEL)
    assert scraped == 'sum(count_over_time(up{instance="a"}[1h]))'
    assert splitter == 'sum(count_over_time(mlgate_requests_total{upstream="a",status="500"}[1h]))'
    assert class_counts_query(SEL, 2.0) == (
        'sum by (class_) (increase(mlgate_predictions_by_class_total{instance="a"}[2000ms]))'
    )


class Canned(Prometheus):
    """Answers each query from a table of (pattern, series), first match wins."""

    def __init__(self, answers: list[tuple[str, Series]]) -> None:
        super().__init__("http://canned")
        self.answers = answers
        self.asked: list[str] = []

    def query(self, promql: str, at: float | None = None) -> Series:
        self.asked.append(promql)
        for pattern, series in self.answers:
            if re.search(pattern, promql):
                return series
        return []


def variant_answers(instance: str, requests: float, errors: float) -> list[tuple[str, Series]]:
    sel = f'instance="{instance}"'
    latency = [
        ({"le": "0.01"}, requests * 0.9),
        ({"le": "0.1"}, requests),
        ({"le": "+Inf"}, requests),
    ]
    classes = [({"class_": "no"}, 70.0), ({"class_": "yes"}, 30.0)]
    drift = [({"feature": "age"}, 1.0), ({"feature": "plan"}, 0.0)]
    feedback = [({"outcome": "correct"}, 8.0), ({"outcome": "incorrect"}, 2.0)]
    return [
        (rf"upstream=\"{instance}\".*status=~\"5..\"", [({}, errors)]),
        (rf"mlgate_requests_total{{upstream=\"{instance}\",route", [({}, requests)]),
        (rf"latency_seconds_bucket{{upstream=\"{instance}\"", latency),
        (rf"up{{{sel}}}", [({}, 1.0)]),
        (rf"predictions_by_class_total{{{sel}}}", classes),
        (rf"mlgate_feature_drifted{{{sel}}}", drift),
        (rf"mlgate_feedback_total{{{sel}}}", feedback),
    ]


def test_observe_reads_both_variants_over_the_same_window() -> None:
    prom = Canned(variant_answers("s", 400, 0) + variant_answers("c", 200, 10))
    obs = observe(
        prom,
        Selectors('upstream="s"', 'instance="s"'),
        Selectors('upstream="c"', 'instance="c"'),
        progress=Progress(weight=20),
        window_s=10.0,
        since_s=30.0,
        at=1000.0,
    )
    assert (obs.stable.requests, obs.canary.requests, obs.canary.errors) == (400, 200, 10)
    assert obs.canary.error_rate == pytest.approx(5.0)
    assert obs.canary.up
    assert obs.canary.predictions == {"no": 70.0, "yes": 30.0}
    assert obs.canary.drifted == {"age": True, "plan": False}
    assert obs.canary.feedback is not None
    assert obs.canary.feedback.correct == 8.0
    assert obs.canary.latency_s is not None
    assert 0.01 < obs.canary.latency_s <= 0.1
    assert not obs.regression
    assert obs.progress.weight == 20
    # Requests over the interval; predictions since the candidate got traffic.
    assert any("[10000ms]" in q and "mlgate_requests_total" in q for q in prom.asked)
    assert any("[30000ms]" in q and "predictions_by_class" in q for q in prom.asked)


def test_watching_needs_two_samples_of_both_series() -> None:
    scraped, splitter = (re.escape(q) for q in watched_queries(SEL))
    assert Canned([(scraped, [({}, 3.0)]), (splitter, [({}, 2.0)])]).watching(SEL)
    assert not Canned([(scraped, [({}, 3.0)]), (splitter, [({}, 1.0)])]).watching(SEL)
    assert not Canned([]).watching(SEL)


class Api(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, Any]]] = {}

    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query).get("query", [""])[0]
        status, body = self.answers.get(query, (200, {"status": "success", "data": {
            "resultType": "vector", "result": []}}))  # fmt: skip
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_http_api_answers_and_refusals(api: str) -> None:
    vector = {"resultType": "vector", "result": [{"metric": {"class_": "a"}, "value": [1, "4"]}]}
    Api.answers = {
        "ok": (200, {"status": "success", "data": vector}),
        "bad": (400, b"parse error at char 3"),
        "matrix": (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
    }
    prom = Prometheus(api + "/")
    assert prom.query("ok") == [({"class_": "a"}, 4.0)]
    assert prom.scalar("ok") == 4.0
    assert prom.scalar("nothing") is None
    with pytest.raises(InfraError, match="refused `bad`: parse error"):
        prom.query("bad")
    with pytest.raises(InfraError, match="unexpected answer"):
        prom.query("matrix")


def test_an_unreachable_prometheus_is_an_infra_error() -> None:
    prom = Prometheus(f"http://127.0.0.1:{procs.free_port()}", timeout=2)
    with pytest.raises(InfraError, match="is unreachable"):
        prom.query("up")
    assert not prom.ready()
