"""Predictions over real HTTP (uvicorn on 127.0.0.1) equal offline predictions, under load."""

from __future__ import annotations

import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest

from tests.integration.serve.conftest import ServerFactory, Trained, free_port

pytestmark = pytest.mark.integration

CLIENTS = 16


def json_rows(trained: Trained) -> list[list[Any]]:
    """Holdout rows as JSON values: NaN becomes null."""
    rows = trained.x_holdout.astype(object).to_numpy().tolist()
    return [[None if isinstance(v, float) and math.isnan(v) else v for v in row] for row in rows]


def predict_all(url: str, rows: list[list[Any]], batch: int) -> list[dict[str, Any]]:
    """POST the rows from 16 concurrent clients, `batch` rows per request, in row order."""
    chunks = [rows[i : i + batch] for i in range(0, len(rows), batch)]

    def send(part: list[list[Any]]) -> dict[str, Any]:
        body = {"features": part[0] if batch == 1 else part, "probabilities": True}
        r = client.post(f"{url}/predict", json=body)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    limits = httpx.Limits(max_connections=CLIENTS)
    with httpx.Client(timeout=60, limits=limits) as client, ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(send, chunks))


@pytest.mark.parametrize("runtime", ["sklearn", "onnx"])
@pytest.mark.parametrize("batch", [1, 40])
def test_http_predictions_equal_offline(
    trained: Trained, serve: ServerFactory, runtime: str, batch: int
) -> None:
    """Labels equal exactly; probabilities equal (sklearn) or within the export tolerance."""
    from mlgate.model.onnx import PROBA_ATOL

    server = serve(trained.bundle_dir, "--runtime", runtime, "--max-batch", "16")
    status = httpx.get(f"{server.url}/").json()
    assert status["runtime"] == runtime
    rows = json_rows(trained)
    answers = predict_all(server.url, rows, batch)
    labels = [p for a in answers for p in a["predictions"]]
    proba = np.array([p for a in answers for p in a["probabilities"]])
    assert labels == trained.model.predict(trained.x_holdout).tolist()
    expected = trained.model.predict_proba(trained.x_holdout)
    if runtime == "sklearn":
        np.testing.assert_array_equal(proba, expected)
    else:
        np.testing.assert_allclose(proba, expected, atol=PROBA_ATOL, rtol=0)
    assert httpx.get(f"{server.url}/ready").status_code == 200


def test_v2_infer_equals_offline(trained: Trained, serve: ServerFactory) -> None:
    """The Open Inference Protocol route answers the same predictions."""
    server = serve(trained.bundle_dir)
    meta = httpx.get(f"{server.url}/v2/models/churn").json()
    x = trained.x_holdout.head(25)
    inputs = []
    for spec in meta["inputs"]:
        values = x[spec["name"]].astype(object).tolist()
        data = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
        inputs.append(
            {
                "name": spec["name"],
                "shape": [len(data), 1],
                "datatype": spec["datatype"],
                "data": data,
            }
        )
    r = httpx.post(
        f"{server.url}/v2/models/churn/infer",
        json={"id": "abc", "inputs": inputs, "parameters": {"probabilities": True}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "abc"
    out = {o["name"]: o for o in body["outputs"]}
    assert out["predictions"]["data"] == trained.model.predict(x).tolist()
    assert out["probabilities"]["shape"] == [25, 2]
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/churn/ready"):
        assert httpx.get(f"{server.url}{path}").status_code == 200
    assert httpx.get(f"{server.url}/v2/models/other/ready").status_code == 404


def _counter(metrics_text: str, series: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_metrics_with_two_workers_count_every_request(
    trained: Trained, serve: ServerFactory
) -> None:
    """Each scrape reaches one worker; it must still report what both workers answered."""
    server = serve(trained.bundle_dir, "--workers", "2")
    rows = json_rows(trained)[:60]
    predict_all(server.url, rows, 1)
    series = 'mlgate_requests_total{route="/predict",status="200"}'
    seen = {_counter(httpx.get(f"{server.url}/metrics", timeout=10).text, series) for _ in range(8)}
    assert seen == {60.0}
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert _counter(text, "mlgate_predicted_rows_total") == 60.0
    assert "mlgate_model_info{" in text
    assert "mlgate_ready 1.0" in text


def test_online_features_for_a_bundle_not_trained_from_a_feature_store_is_exit_2(
    trained: Trained,
) -> None:
    """`--online-features` looks up the features of a Feast-trained bundle only; for any other
    the server does not start (tests/feature_store/test_online_features.py serves one)."""
    argv = [sys.executable, "-m", "mlgate", "serve", str(trained.bundle_dir)]
    argv += ["--port", str(free_port()), "--online-features", "http://127.0.0.1:6566"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 2, done.stderr
    assert "--online-features http://127.0.0.1:6566" in done.stderr
    assert "was not trained from a feature store" in done.stderr
    bad = subprocess.run(
        [*argv[:-1], "127.0.0.1:6566"], capture_output=True, text=True, timeout=90, check=False
    )
    assert bad.returncode == 2, bad.stderr
    assert "--online-features" in bad.stderr
