"""The server side of monitoring: POST /feedback, the feedback log, its counters, the drift
gauges on /metrics, and what the prediction log keeps for `mlgate monitor`."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.serve.app import create_app
from mlgate.serve.feedback import FEEDBACK_FILE
from mlgate.serve.predlog import CURRENT
from mlgate.serve.settings import ServeSettings
from tests.integration.serve.asgi import AppClient
from tests.integration.serve.conftest import Trained

pytestmark = pytest.mark.integration


def rows_of(frame: Any) -> list[dict[str, Any]]:
    """Demo rows as JSON instances (NaN -> null)."""
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append(
            {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in rec.items()}
        )
    return out


def demo_rows(trained: Trained, n: int, *, drift: bool, seed: int) -> list[dict[str, Any]]:
    from mlgate.store.demo import generate

    frame = generate(n, seed=seed, drift=drift)
    names = list(trained.x_holdout.columns)
    return rows_of(frame[names])


def metric(text: str, name: str, **labels: str) -> float | None:
    """One sample of the exposition text, or None when the series is absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + want + '}') if want else ''} (\S+)$"
    found = re.search(pattern, text, re.M)
    return None if found is None else float(found.group(1))


def wait_ready(client: AppClient) -> None:
    deadline = time.monotonic() + 30
    while client.get("/ready").status_code != 200:
        assert time.monotonic() < deadline, "not ready"
        time.sleep(0.01)


@pytest.fixture
def client(trained: Trained, tmp_path: Path) -> Iterator[tuple[AppClient, Path]]:
    settings = ServeSettings(log_dir=tmp_path / "logs", drift_window=1500)
    with AppClient(create_app(trained.bundle_dir, settings)) as c:
        wait_ready(c)
        yield c, tmp_path / "logs"


def test_feedback_is_matched_counted_and_logged(
    client: tuple[AppClient, Path], trained: Trained
) -> None:
    c, logs = client
    rows = demo_rows(trained, 5, drift=False, seed=11)
    r = c.post("/predict", json={"instances": rows[:3]}, headers={"x-request-id": "req-1"})
    assert r.status_code == 200
    preds = r.json()["predictions"]
    assert "probabilities" not in r.json()  # not asked: logged, not answered
    first = r.headers["x-request-id"]
    assert first.startswith("req-1.")  # the client's id, signed by the server
    second = c.post("/predict", json={"instances": rows[3:]}).headers["x-request-id"]
    flipped = [preds[0], 1 - preds[1], preds[2]]
    ok = c.post("/feedback", json={"request_id": first, "labels": flipped})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"accepted": 1, "matched": 1, "logged": True}
    batch = c.post("/feedback", json={"feedback": [{"request_id": second, "labels": [0, 0]}]})
    assert batch.json() == {"accepted": 1, "matched": 1, "logged": True}
    forged = c.post("/feedback", json={"request_id": "never-seen", "label": 1})
    assert forged.status_code == 403
    text = c.get("/metrics").text
    assert metric(text, "mlgate_feedback_total", outcome="unmatched") == 0
    correct = metric(text, "mlgate_feedback_total", outcome="correct")
    incorrect = metric(text, "mlgate_feedback_total", outcome="incorrect")
    assert correct is not None
    assert incorrect is not None
    assert correct + incorrect == 5
    lines = [json.loads(x) for x in (logs / FEEDBACK_FILE).read_text().splitlines()]
    assert [x["request_id"] for x in lines] == [first, second]
    assert lines[0]["labels"] == flipped
    assert {x["model"] for x in lines} == {"churn"}
    assert all(isinstance(x["ts"], float) and x["version"] for x in lines)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"request_id": "a", "label": "yes"}, "label"),
        ({"request_id": "a", "labels": [0, 7]}, "labels[1]"),
        ({"request_id": "a", "labels": [True]}, "labels[0]"),
        ({"request_id": "a", "label": 1.0}, "label"),
        ({"request_id": "a"}, "labels"),
        ({"request_id": "a", "label": 1, "labels": [1]}, "labels"),
        ({"label": 1}, "request_id"),
        ({"request_id": "", "label": 1}, "request_id"),
        ({"request_id": "a", "labels": []}, "labels"),
        ({"request_id": "a", "label": 1, "extra": 2}, "extra"),
        ({"feedback": []}, "feedback"),
        ({"feedback": [{"request_id": "a", "label": 1}, 3]}, "feedback[1]"),
        ([1, 2], "body"),
    ],
)
def test_bad_feedback_is_422_naming_the_field(
    client: tuple[AppClient, Path], body: Any, field: str
) -> None:
    c, _ = client
    r = c.post("/feedback", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_labels_are_taken_one_per_row_of_the_request(
    client: tuple[AppClient, Path], trained: Trained
) -> None:
    c, _ = client
    rows = demo_rows(trained, 2, drift=False, seed=12)
    r = c.post("/predict", json={"instances": rows})
    rid = r.headers["x-request-id"]
    short = c.post("/feedback", json={"request_id": rid, "label": 1})
    assert short.status_code == 403
    assert "with 1 row(s)" in short.json()["error"]["message"]
    assert c.post("/feedback", json={"request_id": rid, "labels": [1, 0]}).status_code == 200


def test_drift_gauges_name_the_shifted_features(
    client: tuple[AppClient, Path], trained: Trained
) -> None:
    from mlgate.store.demo import DRIFTED_FEATURES

    c, _ = client
    features = list(trained.x_holdout.columns)
    for start in range(0, 1200, 300):
        rows = demo_rows(trained, 300, drift=False, seed=100 + start)
        assert c.post("/predict", json={"instances": rows}).status_code == 200
    text = c.get("/metrics").text
    assert metric(text, "mlgate_drift_window_rows") == 1200
    for name in features:
        assert metric(text, "mlgate_feature_drifted", feature=name) == 0, name
        assert metric(text, "mlgate_feature_drift", feature=name) is not None
    assert metric(text, "mlgate_unseen_category_rate", feature="contract") == 0
    calm = metric(text, "mlgate_prediction_drift")
    assert calm is not None
    assert calm < 0.1
    for start in range(0, 1500, 300):
        rows = demo_rows(trained, 300, drift=True, seed=200 + start)
        assert c.post("/predict", json={"instances": rows}).status_code == 200
    text = c.get("/metrics").text
    drifted = {n for n in features if metric(text, "mlgate_feature_drifted", feature=n) == 1}
    assert drifted == set(DRIFTED_FEATURES)


def test_refused_predictions_are_logged_for_the_error_rate(
    trained: Trained, tmp_path: Path
) -> None:
    settings = ServeSettings(log_dir=tmp_path / "logs")
    with AppClient(create_app(trained.bundle_dir, settings)) as c:
        wait_ready(c)
        rows = demo_rows(trained, 1, drift=False, seed=5)
        fine = c.post("/predict", json={"instances": rows}, headers={"x-request-id": "fine"})
        assert fine.status_code == 200
        bad = dict(rows[0], age="old")
        refused = c.post("/predict", json={"instances": [bad]}, headers={"x-request-id": "bad"})
        assert refused.status_code == 422
        # A refused request keeps its plain id: there is nothing to label.
        assert refused.headers["x-request-id"] == "bad"
    records = [json.loads(x) for x in (tmp_path / "logs" / CURRENT).read_text().splitlines()]
    by_id = {r["request_id"]: r for r in records}
    answered = by_id[fine.headers["x-request-id"]]
    assert answered["probabilities"]
    assert len(answered["probabilities"][0]) == 2
    assert by_id["bad"]["error"] == {"status": 422, "kind": "validation", "field": "age"}
    assert by_id["bad"]["version"] == answered["version"]


def v2_inputs(trained: Trained, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows as V2 input tensors, one per feature."""
    from mlgate.store.bundle import load_bundle

    kinds = {"categorical": "BYTES", "boolean": "BOOL"}
    return [
        {
            "name": f.name,
            "datatype": kinds.get(f.kind, "FP64"),
            "shape": [len(rows)],
            "data": [row[f.name] for row in rows],
        }
        for f in load_bundle(trained.bundle_dir).schema.features
    ]


def test_both_protocols_take_one_path_and_are_logged_alike(
    trained: Trained, tmp_path: Path
) -> None:
    from mlgate.core.records.predlog import decode

    logs = tmp_path / "logs"
    rows = demo_rows(trained, 3, drift=False, seed=21)
    with AppClient(create_app(trained.bundle_dir, ServeSettings(log_dir=logs))) as c:
        wait_ready(c)
        article = c.post("/predict", json={"instances": rows}, headers={"x-request-id": "article"})
        v2 = c.post(
            "/v2/models/churn/infer",
            json={"inputs": v2_inputs(trained, rows)},
            headers={"x-request-id": "v2"},
        )
    assert article.status_code == v2.status_code == 200, (article.text, v2.text)
    outputs = v2.json()["outputs"]
    assert [o["name"] for o in outputs] == ["predictions"]  # probabilities were not asked for
    assert outputs[0]["data"] == article.json()["predictions"]
    lines = (logs / CURRENT).read_bytes().splitlines()
    records = {r.request_id: r for r in (decode(x, CURRENT) for x in lines) if r is not None}
    assert len(records) == len(lines) == 2
    one, other = records[article.headers["x-request-id"]], records[v2.headers["x-request-id"]]
    assert v2.json()["id"] == v2.headers["x-request-id"]  # V2 answers the id in the body too
    assert one.instances == other.instances == rows
    assert one.predictions == other.predictions
    # Logged for the monitor's label-free estimate whichever protocol asked, answered or not.
    assert one.probabilities is not None
    assert one.probabilities == other.probabilities


def test_the_monitor_reads_back_what_the_server_logged(trained: Trained, tmp_path: Path) -> None:
    from mlgate.app.monitor.labels import feedback_files, load_labels
    from mlgate.app.monitor.logs import Layout, ReadStats, read_jsonl
    from mlgate.store.bundle import load_bundle

    logs = tmp_path / "logs"
    with AppClient(create_app(trained.bundle_dir, ServeSettings(log_dir=logs))) as c:
        wait_ready(c)
        rows = demo_rows(trained, 4, drift=False, seed=22)
        r = c.post("/predict", json={"instances": rows}, headers={"x-request-id": "four"})
        preds = r.json()["predictions"]
        four = r.headers["x-request-id"]
        bad = c.post("/predict", json={"instances": [dict(rows[0], age="old")]})
        assert bad.status_code == 422
        assert c.post("/feedback", json={"request_id": four, "labels": preds}).status_code == 200
    bundle = load_bundle(trained.bundle_dir)
    layout = Layout(tuple(bundle.schema.features), tuple(bundle.meta.classes or ()))
    stats = ReadStats()
    (chunk,) = read_jsonl(logs / CURRENT, layout, chunk_rows=100, stats=stats)
    assert stats.bad == 0
    assert chunk["request_id"].tolist()[:4] == [four] * 4
    assert chunk["row"].tolist() == [0, 1, 2, 3, -1]
    assert chunk["error"].tolist() == [None] * 4 + ["validation"]
    assert chunk["prediction"][:4].tolist() == [float(layout.class_index()[p]) for p in preds]
    labels = load_labels(feedback_files([logs]), layout)
    assert labels.bad == 0
    assert labels.values == {(four, i): float(layout.class_index()[p]) for i, p in enumerate(preds)}
