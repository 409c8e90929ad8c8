"""The demo server under real traffic, then `mlgate monitor` on its log: in-distribution
traffic is healthy (exit 0); labels that disagree with the predictions are concept drift while
input drift stays quiet; the drifted variant (`mlgate demo-data --drift`) alerts on exactly
the shifted features, reaches a real webhook receiver, and sends the documented
repository_dispatch request to a local stand-in of GitHub's API."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlgate.cli import main
from mlgate.serve.predlog import CURRENT
from mlgate.store.demo import DRIFTED_FEATURES
from tests.integration.monitor.conftest import Project, Received, Receiver
from tests.integration.serve.conftest import ServerFactory, wait_until

pytestmark = pytest.mark.integration

ROWS = 1600
BATCH = 20
TOKEN = "ghs_test-token-123"


def send(url: str, frame: pd.DataFrame) -> dict[str, list[Any]]:
    """POST every row in batches; the predictions by request id."""
    names = [c for c in frame.columns if c not in ("customer_id", "churned")]
    rows = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in frame[names].to_dict(orient="records")
    ]
    out: dict[str, list[Any]] = {}
    with httpx.Client(timeout=30) as client:
        for i in range(0, len(rows), BATCH):
            r = client.post(f"{url}/predict", json={"instances": rows[i : i + BATCH]})
            assert r.status_code == 200, r.text
            out[r.headers["x-request-id"]] = r.json()["predictions"]
    return out


def logged_records(log_dir: Path) -> int:
    path = log_dir / CURRENT
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def demo_csv(tmp_path: Path, *, drift: bool, seed: int) -> pd.DataFrame:
    path = tmp_path / f"traffic-{seed}.csv"
    args = ["demo-data", str(path), "--rows", str(ROWS), "--seed", str(seed)]
    assert main([*args, "--drift"] if drift else args) == 0
    return pd.read_csv(path)


def monitor(project: Project, logs: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["monitor", str(logs), "-c", str(project.root), "--out", str(out), *extra])
    return code, json.loads((out / "monitor.json").read_text())


def test_healthy_then_concept_drift_from_feedback(
    project: Project, serve: ServerFactory, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    server = serve(project.bundle, "--log-dir", str(logs))
    predictions = send(server.url, demo_csv(tmp_path, drift=False, seed=21))
    wait_until(
        lambda: logged_records(logs) == len(predictions), 30, "the log to hold every request"
    )

    code, report = monitor(project, logs, tmp_path / "healthy")
    assert code == 0, report["alerts"]
    assert report["status"] == "healthy"
    assert report["drifted_features"] == []
    assert report["observations"]["rows"] == ROWS
    assert report["observations"]["realised"] is None  # no labels yet
    estimated = report["observations"]["estimated"]
    assert abs(estimated - report["observations"]["reference"]) < 0.05

    # Labels arrive: the model is wrong on 45% of rows, though the inputs look as in training.
    items = []
    for n, (rid, preds) in enumerate(sorted(predictions.items())):
        items.append(
            {
                "request_id": rid,
                "labels": [p if (n + i) % 20 >= 9 else 1 - p for i, p in enumerate(preds)],
            }
        )
    r = httpx.post(f"{server.url}/feedback", json={"feedback": items}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": len(items), "matched": len(items), "logged": True}
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'mlgate_feedback_total{outcome="incorrect"}' in metrics

    code, report = monitor(project, logs, tmp_path / "labelled")
    assert code == 1
    checks = {a["check"] for a in report["verdict"]["findings"] if a["severity"] == "alert"}
    assert checks == {"concept_drift"}
    assert report["drifted_features"] == []
    obs = report["observations"]
    assert obs["labelled"] == ROWS
    assert obs["realised"] == pytest.approx(0.55, abs=0.01)


def _github(received: Received) -> int:
    """GitHub's documented contract for POST /repos/{owner}/{repo}/dispatches: 204, or 4xx."""
    h = received.headers
    ok = (
        received.path == "/repos/acme/churn/dispatches"
        and h.get("authorization") == f"Bearer {TOKEN}"
        and h.get("accept") == "application/vnd.github+json"
        and h.get("x-github-api-version") == "2022-11-28"
        and h.get("content-type") == "application/json"
        and isinstance(received.body, dict)
        and set(received.body) == {"event_type", "client_payload"}
        and isinstance(received.body["event_type"], str)
        and 0 < len(received.body["event_type"]) <= 100
        and isinstance(received.body["client_payload"], dict)
        and len(received.body["client_payload"]) <= 10
    )
    return 204 if ok else 422


def test_drifted_traffic_alerts_on_the_shifted_features_only(
    project: Project,
    serve: ServerFactory,
    receiver: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = tmp_path / "logs"
    server = serve(project.bundle, "--log-dir", str(logs))
    sent = send(server.url, demo_csv(tmp_path, drift=True, seed=22))
    wait_until(lambda: logged_records(logs) == len(sent), 30, "the log to hold every request")
    hook: Receiver = receiver(lambda _r: 200)
    github: Receiver = receiver(_github)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("MLGATE_GITHUB_TOKEN", raising=False)

    code, report = monitor(
        project, logs, tmp_path / "drifted",
        "--webhook", f"{hook.url}/hook", "--dispatch", "acme/churn", "--github-api", github.url,
    )  # fmt: skip
    assert code == 1
    assert set(report["drifted_features"]) == set(DRIFTED_FEATURES)
    input_alert = next(f for f in report["verdict"]["findings"] if f["check"] == "input_drift")
    assert input_alert["severity"] == "alert"

    assert len(hook.requests) == 1
    body = hook.requests[0].body
    assert body["text"].startswith("mlgate monitor: churn")
    assert "ALERT" in body["text"]
    assert set(body["mlgate"]["drifted_features"]) == set(DRIFTED_FEATURES)
    assert body["mlgate"]["version"] == report["version"]

    assert len(github.requests) == 1
    dispatch = github.requests[0]
    assert _github(dispatch) == 204, (dispatch.path, dispatch.headers, dispatch.body)
    assert dispatch.body["event_type"] == "mlgate-retrain"
    payload = dispatch.body["client_payload"]
    assert payload["model"] == "churn"
    assert payload["status"] == "alert"
    assert set(payload["drifted_features"]) == set(DRIFTED_FEATURES)
    assert any("features drifted" in reason for reason in payload["reasons"])


def test_a_refused_dispatch_is_an_infrastructure_error(
    project: Project,
    receiver: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.integration.monitor.test_monitor_offline import write_log

    logs = tmp_path / "logs"
    write_log(project, logs, drift=True, rows=600)
    github: Receiver = receiver(lambda _r: 401)
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    code = main(["monitor", str(logs), "-c", str(project.root), "--out", str(tmp_path / "o"),
                 "--dispatch", "acme/churn", "--github-api", github.url])  # fmt: skip
    assert code == 3
    assert "answered 401" in capsys.readouterr().err
