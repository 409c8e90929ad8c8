"""The pure parts of a local release: the exporter's log parsing, A/B keys, routes, the
scrape-mode statistics, the state file and the controller's lock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.adapters.nginx import AbKey, Route, render_router
from mlgate.adapters.prometheus.scrape import Samples, window_of
from mlgate.app.kubernetes.argo import weights
from mlgate.app.rollout import state as release_state
from mlgate.app.rollout.exporter import SplitterMetrics, attempts
from mlgate.core.histograms import histogram_quantile
from mlgate.core.policy import CanaryConfig
from mlgate.errors import UsageError

pytestmark = pytest.mark.unit


def test_attempts_split_retries_per_upstream() -> None:
    entry = {
        "addr": "127.0.0.1:9001, 127.0.0.1:9000",
        "ustatus": "502, 200",
        "utime": "0.000, 0.004",
    }
    assert attempts(entry) == [("127.0.0.1:9001", "502", 0.0), ("127.0.0.1:9000", "200", 0.004)]
    # No server tried (the group was down): nothing to count per upstream.
    assert attempts({"addr": "mlgate_stable", "ustatus": "502", "utime": "-"}) == []
    assert attempts({"addr": "127.0.0.1:9000", "ustatus": "-", "utime": "-"}) == [
        ("127.0.0.1:9000", "502", None)
    ]


def test_a_client_that_gives_up_is_no_upstream_error() -> None:
    # nginx logs 499 and no upstream status when the client closes during the attempt.
    entry = {"addr": "127.0.0.1:9000", "ustatus": "-", "utime": "-", "status": "499"}
    assert attempts(entry) == [("127.0.0.1:9000", "499", None)]
    retried = {"addr": "127.0.0.1:9001, 127.0.0.1:9000", "ustatus": "-, -", "status": "499"}
    assert [s for _, s, _ in attempts(retried)] == ["502", "499"]


def test_the_exporter_counts_what_clients_saw_per_upstream() -> None:
    from prometheus_client import generate_latest

    metrics = SplitterMetrics()
    metrics.announce("127.0.0.1:9001")
    line = {"route": "/predict", "addr": "127.0.0.1:9001", "ustatus": "500", "utime": "0.2"}
    metrics.record(json.dumps(line))
    metrics.record("not json")
    text = generate_latest(metrics.registry).decode()
    assert (
        'mlgate_requests_total{route="/predict",status="500",upstream="127.0.0.1:9001"} 1.0' in text
    )
    # Announced series exist at zero before any traffic of theirs.
    assert 'status="503",upstream="127.0.0.1:9001"} 0.0' in text


@pytest.mark.parametrize(
    ("text", "variable"),
    [("header:X-User-ID", "$http_x_user_id"), ("cookie:session", "$cookie_session")],
)
def test_ab_keys(text: str, variable: str) -> None:
    assert AbKey.parse(text).variable == variable


@pytest.mark.parametrize("text", ["X-User-ID", "header:", "header:X User", "cookie:a-b",
                                  "header:Host", "header:X-Request-ID", "query:user"])  # fmt: skip
def test_bad_ab_keys_name_the_fix(text: str) -> None:
    with pytest.raises(UsageError, match="--ab-key"):
        AbKey.parse(text)


def test_routes_render_the_split_they_describe(tmp_path: Path) -> None:
    canary = render_router(tmp_path, 9100, Route("127.0.0.1:1", "127.0.0.1:2", "canary", 30))
    assert "server 127.0.0.1:1 weight=70" in canary
    assert "server 127.0.0.1:2 weight=30" in canary
    assert "mirror /__mlgate_shadow;" not in canary.split("location = /__mlgate_shadow")[0]
    shadow = render_router(tmp_path, 9100, Route("127.0.0.1:1", "127.0.0.1:2", "shadow"))
    assert "mirror /__mlgate_shadow;" in shadow
    ab = render_router(
        tmp_path, 9100, Route("127.0.0.1:1", "127.0.0.1:2", "ab", 40, AbKey("header", "X-U"))
    )
    assert 'split_clients "$http_x_u"' in ab
    assert "40% mlgate_canary;" in ab
    alone = render_router(tmp_path, 9100, Route("127.0.0.1:1"))
    assert "127.0.0.1:2" not in alone
    with pytest.raises(ValueError, match="canary address"):
        Route("127.0.0.1:1", mode="canary", weight=10)


def test_histogram_quantile_interpolates_as_prometheus() -> None:
    buckets = {0.1: 50.0, 0.2: 90.0, 0.5: 100.0, float("inf"): 100.0}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.47)
    assert histogram_quantile(0.99, {float("inf"): 0.0}) is None


def test_a_window_from_two_scrapes() -> None:
    def samples(ok: float, bad: float, ones: float) -> Samples:
        return {
            ("mlgate_requests_total", (("route", "/predict"), ("status", "200"))): ok,
            ("mlgate_requests_total", (("route", "/predict"), ("status", "500"))): bad,
            ("mlgate_requests_total", (("route", "/metrics"), ("status", "200"))): 99,
            ("mlgate_predictions_by_class_total", (("class_", "1"),)): ones,
        }

    w = window_of(samples(10, 1, 2), samples(40, 6, 12))
    assert (w.requests, w.errors) == (35, 5)
    assert w.predictions == {"1": 10}
    assert window_of(None, samples(1, 1, 1)).up is False
    # A counter that went down was reset: it counts from zero.
    assert window_of(samples(100, 0, 0), samples(5, 0, 0)).requests == 5


def test_argo_weights_follow_the_policy() -> None:
    assert weights(CanaryConfig()) == [20, 40, 60, 80, 100]
    assert weights(CanaryConfig(step_weight=30, max_weight=50)) == [30, 50]


def test_the_lock_admits_one_controller(tmp_path: Path) -> None:
    first, second = release_state.ControllerLock(tmp_path), release_state.ControllerLock(tmp_path)
    assert first.acquire()
    assert not second.acquire()
    assert second.holder() is not None
    first.release()
    assert second.acquire()
    second.release()


def test_a_state_file_of_another_shape_is_a_usage_error(tmp_path: Path) -> None:
    assert release_state.load(tmp_path).rollout is None
    (tmp_path / release_state.STATE_FILE).write_text('{"rollout": 3}')
    with pytest.raises(UsageError, match="release state"):
        release_state.load(tmp_path)
