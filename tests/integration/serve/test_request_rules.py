"""What a real server takes beyond JSON numbers and what it refuses by name: numbers sent as
strings (as a CSV reader gives them) on both runtimes and the V2 route alike, query parameters
no route takes, and probabilities asked of a regression model."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlgate.cli import main
from tests.integration.serve.conftest import Server, ServerFactory, Trained

pytestmark = pytest.mark.integration


def _csv_rows(trained: Trained, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`n` holdout rows as JSON numbers, and the same rows as a CSV reader gives them."""
    frame = trained.x_holdout.dropna().head(n)
    numbers = json.loads(frame.to_json(orient="records"))
    text = io.StringIO(frame.to_csv(index=False))
    strings: list[dict[str, Any]] = json.loads(
        pd.read_csv(text, dtype=str).to_json(orient="records")
    )
    return numbers, strings


def _v2(rows: list[dict[str, Any]], kinds: dict[str, str]) -> dict[str, Any]:
    inputs = []
    for name, kind in kinds.items():
        datatype = "BYTES" if kind == "categorical" else "FP64"
        values = [row[name] for row in rows]
        inputs.append({"name": name, "datatype": datatype, "shape": [len(rows)], "data": values})
    return {"inputs": inputs, "parameters": {"probabilities": True}}


def _answers(server: Server, rows: list[dict[str, Any]], kinds: dict[str, str]) -> Any:
    predict = httpx.post(
        f"{server.url}/predict?probabilities=true", json={"instances": rows}, timeout=30
    )
    infer = httpx.post(f"{server.url}/v2/models/churn/infer", json=_v2(rows, kinds), timeout=30)
    assert predict.status_code == 200, predict.text
    assert infer.status_code == 200, infer.text
    outputs = {o["name"]: o["data"] for o in infer.json()["outputs"]}
    body = predict.json()
    return body["predictions"], body["probabilities"], outputs["predictions"], outputs


def test_numbers_sent_as_strings_answer_as_numbers_on_both_runtimes_and_v2(
    trained: Trained, serve: ServerFactory
) -> None:
    numbers, strings = _csv_rows(trained, 40)
    assert any(type(v) is str and v[0].isdigit() for v in strings[0].values())
    answers = {}
    for runtime in ("onnx", "sklearn"):
        server = serve(trained.bundle_dir, "--runtime", runtime)
        kinds = {f["name"]: f["kind"] for f in httpx.get(f"{server.url}/metadata").json()["schema"]}
        as_numbers = _answers(server, numbers, kinds)
        as_strings = _answers(server, strings, kinds)
        assert as_strings[0] == as_numbers[0]  # /predict
        assert as_strings[2] == as_numbers[2] == as_numbers[0]  # V2
        for a, b in zip(as_strings[1], as_numbers[1], strict=True):
            assert a == pytest.approx(b)
        answers[runtime] = as_strings[0]

        # A string that is not exactly a number is refused alike on both routes, naming it.
        bad = [dict(strings[0], monthly_charges="70,5")]
        predict = httpx.post(f"{server.url}/predict", json={"instances": bad})
        infer = httpx.post(f"{server.url}/v2/models/churn/infer", json=_v2(bad, kinds))
        for r in (predict, infer):
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["field"] == "monthly_charges"
            assert "'70,5'" in error["message"]
            assert "a JSON number (3.5)" in error["message"]
        server.stop()
    assert answers["onnx"] == answers["sklearn"]


ROUTES = [
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metadata"),
    ("GET", "/metrics"),
    ("POST", "/feedback"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/churn"),
    ("GET", "/v2/models/churn/ready"),
    ("POST", "/v2/models/churn/infer"),
]


def test_every_route_refuses_a_query_parameter_by_name(
    trained: Trained, serve: ServerFactory
) -> None:
    server = serve(trained.bundle_dir)
    for method, path in ROUTES:
        r = httpx.request(method, f"{server.url}{path}?verbose=1&x=2", json={})
        assert r.status_code == 400, (path, r.text)
        error = r.json()["error"]
        assert error["kind"] == "unknown_parameter"
        assert error["field"] == "verbose"
        assert "takes no query parameters" in error["message"]
        if method == "GET":
            assert httpx.get(f"{server.url}{path}").status_code == 200, path
    r = httpx.post(f"{server.url}/predict?verbose=1", json={"instances": []})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "verbose")
    assert "takes only probabilities" in r.json()["error"]["message"]
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'mlgate_errors_total{kind="unknown_parameter"} 12.0' in metrics


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regression bundle: scikit-learn's diabetes table through `init` and `train`."""
    from sklearn import datasets

    root = tmp_path_factory.mktemp("regressor")
    csv = root / "diabetes.csv"
    datasets.load_diabetes(as_frame=True).frame.to_csv(csv, index=False)
    project = root / "project"
    assert main(["init", "--data", str(csv), "--target", "target", str(project)]) == 0
    assert main(["train", "--config", str(project)]) == 0
    return project / "models" / "model"


def test_a_regression_model_refuses_probabilities_wherever_they_are_asked(
    regressor: Path, serve: ServerFactory
) -> None:
    server = serve(regressor)
    frame = pd.read_csv(regressor.parents[2] / "diabetes.csv").head(3)
    rows = json.loads(frame.drop(columns="target").to_json(orient="records"))
    name = httpx.get(f"{server.url}/metadata").json()["name"]
    infer = f"{server.url}/v2/models/{name}/infer"
    tensors = [
        {"name": k, "datatype": "FP64", "shape": [len(rows)], "data": [r[k] for r in rows]}
        for k in rows[0]
    ]
    plain = httpx.post(f"{server.url}/predict", json={"instances": rows})
    assert plain.status_code == 200, plain.text
    assert "probabilities" not in plain.json()
    assert all(math.isfinite(p) for p in plain.json()["predictions"])
    assert httpx.post(infer, json={"inputs": tensors}).status_code == 200

    refused = [
        (httpx.post(f"{server.url}/predict?probabilities=true", json={"instances": rows}), 400),
        (httpx.post(f"{server.url}/predict?probabilities=false", json={"instances": rows}), 400),
        (httpx.post(f"{server.url}/predict", json={"instances": rows, "probabilities": True}), 422),
        (httpx.post(infer, json={"inputs": tensors, "parameters": {"probabilities": True}}), 422),
        (httpx.post(infer, json={"inputs": tensors, "outputs": [{"name": "probabilities"}]}), 422),
    ]
    for r, status in refused:
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert "probabilities" in error["field"] or error["field"] == "outputs"
        assert "probabilities" in error["message"]
        if error["field"] != "outputs":
            assert "regression model" in error["message"]
