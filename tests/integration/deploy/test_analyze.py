"""`mlgate canary analyze` (an Argo Rollouts Job metric: exit 0 / 1) and `mlgate canary webhook`
(Flagger's webhook format: 200 / 412) on real servers and a real Prometheus scraping them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mlgate.adapters import procs
from mlgate.adapters.prometheus.query import Prometheus
from mlgate.app.rollout import local, variants
from mlgate.cli import main
from tests.integration.deploy.conftest import Bundles, Load, wait_until
from tests.integration.serve.conftest import Server

pytestmark = pytest.mark.integration

# Long enough to hold the requests below even on a loaded machine (a window is a PromQL range,
# not a wait per analysis).
WINDOW = "20s"
# Enough requests per window that the shifted candidate's divergence is significant (the G
# test): at about 50 it was not, and the analysis passed it.
MIN_REQUESTS = 150
THRESHOLDS = ["--min-requests", "5", "--max-p99-increase-ms", "1000"]


@dataclass(frozen=True)
class Scraped:
    """Three servers under load and the Prometheus scraping them."""

    urls: dict[str, str]
    prometheus: str


def _server(bundle: Path, log: Path) -> Server:
    port = procs.free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            procs.python_module("mlgate", "serve", str(bundle), "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(proc, f"http://127.0.0.1:{port}", log)


@pytest.fixture(scope="module")
def scraped(bundles: Bundles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    workdir = tmp_path_factory.mktemp("analyze")
    servers = {name: _server(bundles[name], workdir / f"{name}.log") for name in
               ("stable", "good", "shifted")}  # fmt: skip
    env = None
    loads = []
    try:
        for server in servers.values():
            wait_until(server.ready, 120, f"{server.url} ready")
        named = {
            name: variants.external_variant(s.url, source=s.url, label=name)
            for name, s in servers.items()
        }
        env = local.start_environment(
            workdir, host="127.0.0.1", port=0, stable=named["stable"], scrape_s=0.25
        )
        local.set_targets(workdir, env, named)
        loads = [
            Load(s.url, bundles.rows, bundles.labels, clients=2).__enter__()
            for s in servers.values()
        ]
        prom = Prometheus(env.prometheus_url)
        for server in servers.values():
            address = server.url.removeprefix("http://")
            query = f'sum(increase(mlgate_requests_total{{instance="{address}"}}[{WINDOW}]))'
            wait_until(
                lambda q=query: (prom.scalar(q) or 0) >= MIN_REQUESTS,  # type: ignore[misc]
                180,
                f"{address} traffic",
            )
        yield Scraped({n: s.url for n, s in servers.items()}, env.prometheus_url)
    finally:
        for load in loads:
            load.__exit__()
        if env is not None:
            local.stop_environment(env)
        for server in servers.values():
            server.stop()


def analyze(scraped: Scraped, canary: str, *extra: str) -> list[str]:
    return [
        "canary", "analyze", "--stable", scraped.urls["stable"], "--canary", scraped.urls[canary],
        *THRESHOLDS, *extra,
    ]  # fmt: skip


def test_analyze_passes_a_good_candidate_and_fails_a_shifted_one(
    scraped: Scraped, capsys: pytest.CaptureFixture[str]
) -> None:
    prom = ["--prometheus", scraped.prometheus, "--window", WINDOW]
    assert main([*analyze(scraped, "good", *prom), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["passed"] is True
    assert {c["name"] for c in verdict["checks"] if c["status"] == "passed"} >= {
        "traffic", "error-rate", "latency", "prediction-divergence",
    }  # fmt: skip
    code = main(analyze(scraped, "shifted", *prom))
    captured = capsys.readouterr()
    assert code == 1, captured.out
    assert "prediction-divergence" in captured.err
    assert "FAIL" in captured.out


def test_analyze_without_prometheus_scrapes_both_servers(
    scraped: Scraped, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*analyze(scraped, "shifted", "--window", "3s"), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["source"] == "scraped /metrics"
    failed = [c["name"] for c in verdict["checks"] if c["status"] == "failed"]
    assert failed == ["prediction-divergence"]


def test_analyze_names_a_bad_selector_and_an_unreachable_prometheus(
    scraped: Scraped, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = analyze(scraped, "good", "--prometheus", scraped.prometheus, "--canary-selector", "pod")
    assert main(bad) == 2
    assert "--canary-selector" in capsys.readouterr().err
    gone = analyze(scraped, "good", "--prometheus", f"http://127.0.0.1:{procs.free_port()}")
    assert main(gone) == 3
    assert "unreachable" in capsys.readouterr().err


@pytest.fixture(scope="module")
def webhook(scraped: Scraped, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = procs.free_port()
    log = tmp_path_factory.mktemp("webhook") / "webhook.log"
    argv = procs.python_module(
        "mlgate", "canary", "webhook", "--port", str(port), "--prometheus", scraped.prometheus,
        *THRESHOLDS,
    )  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: procs.http_ok(f"{url}/healthz"), 60, "the webhook")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def flagger_payload(scraped: Scraped, canary: str) -> dict[str, object]:
    """What Flagger POSTs to a rollout webhook (name, namespace, phase, metadata, checksum)."""

    def matcher(name: str) -> str:
        return f'instance="{scraped.urls[name].removeprefix("http://")}"'

    return {
        "name": "churn",
        "namespace": "models",
        "phase": "Progressing",
        "checksum": "7b5f",
        "metadata": {
            "stable_selector": matcher("stable"),
            "canary_selector": matcher(canary),
            "window": WINDOW,
        },
    }


def test_the_webhook_answers_flagger(webhook: str, scraped: Scraped) -> None:
    ok = httpx.post(webhook, json=flagger_payload(scraped, "good"), timeout=30)
    assert ok.status_code == 200, ok.text
    assert ok.json()["canary"] == "churn.models"
    bad = httpx.post(webhook, json=flagger_payload(scraped, "shifted"), timeout=30)
    assert bad.status_code == 412
    assert any("prediction-divergence" in f for f in bad.json()["failed"])
    # A threshold in the webhook's metadata overrides the server's.
    lenient = flagger_payload(scraped, "shifted")
    lenient["metadata"] = {**lenient["metadata"], "max_divergence": "0.9"}  # type: ignore[dict-item]
    assert httpx.post(webhook, json=lenient, timeout=30).status_code == 200


BASE = {"name": "a", "namespace": "m", "phase": "Progressing"}
SELECTORS = {"stable_selector": 'a="1"', "canary_selector": 'a="2"'}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"namespace": "m", "phase": "Progressing"}, "name"),
        ({**BASE, "metadata": {}}, "stable_selector"),
        ({**BASE, "metadata": {**SELECTORS, "colour": "x"}}, "colour"),
        ({**BASE, "metadata": {**SELECTORS, "window": "soon"}}, "window"),
    ],
)
def test_the_webhook_refuses_a_payload_that_is_not_flaggers(
    webhook: str, payload: dict[str, object], field: str
) -> None:
    r = httpx.post(webhook, json=payload, timeout=30)
    assert r.status_code == 400
    assert field in r.json()["error"]
