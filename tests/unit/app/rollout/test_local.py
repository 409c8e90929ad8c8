"""The environment of a local release, its pure parts: Prometheus' config and timing, the
address check that runs before anything starts, and the real splitter as the controller's
`Splitter`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from mlgate.adapters.prometheus.query import Prometheus
from mlgate.app.rollout import local
from mlgate.app.rollout.ports import Ports, Splitter
from mlgate.errors import UsageError
from tests.unit.app.rollout.fakes import environment, variant

pytestmark = pytest.mark.unit


def test_prometheus_scrapes_each_variant_by_role_and_the_exporter() -> None:
    text = local.prometheus_config(
        9400, 0.5, {"stable": variant("127.0.0.1:1", "v1"), "canary": variant("127.0.0.1:2", "v2")}
    )
    config = yaml.safe_load(text)
    assert config["global"]["scrape_interval"] == "500ms"
    model, exporter = config["scrape_configs"]
    assert model["job_name"] == "mlgate"
    assert model["static_configs"] == [
        {"targets": ["127.0.0.1:1"], "labels": {"variant": "stable", "model_version": "v1"}},
        {"targets": ["127.0.0.1:2"], "labels": {"variant": "canary", "model_version": "v2"}},
    ]
    assert exporter["static_configs"] == [{"targets": ["127.0.0.1:9400"]}]


@pytest.mark.parametrize(("interval", "scrape"), [(0.1, 0.25), (2.0, 0.4), (60.0, 5.0)])
def test_at_least_four_scrapes_a_window_within_bounds(interval: float, scrape: float) -> None:
    assert local.scrape_interval(interval) == scrape


def test_the_metrics_lag_is_one_scrape_and_the_log_buffers() -> None:
    assert local.metrics_lag(environment()) == pytest.approx(0.25 + 0.3)


def test_a_busy_address_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=f"127.0.0.1:{port} is in use"):
            local.start_environment(
                tmp_path, host="127.0.0.1", port=port, stable=variant("127.0.0.1:1"), scrape_s=1
            )
    assert list(tmp_path.iterdir()) == []


def test_the_real_ports_are_the_local_ones(tmp_path: Path) -> None:
    ports = Ports.local(tmp_path, engine="podman")
    splitter: Splitter = ports.splitter
    assert isinstance(splitter, local.LocalSplitter)
    assert splitter.workdir == tmp_path
    assert splitter.lag(environment()) == local.metrics_lag(environment())
    observer = ports.observer("http://127.0.0.1:9090/")
    assert isinstance(observer, Prometheus)
    assert observer.url == "http://127.0.0.1:9090"
