"""Hostile inputs against real `mlgate serve` processes on 127.0.0.1: every one is a 4xx in
the JSON error format and counted, never a 5xx (lone surrogates, bytes that are not UTF-8,
labels of the wrong shape, over-long strings, in every body form of /predict, V2 and
/feedback, and what Hypothesis makes of them); forged feedback is refused (403), a second
label for a request is a 409, a configured token is a 401 without it; and a flood of forged and
oversized feedback leaves the genuine label in the log, where the monitor reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgate.serve.feedback import FEEDBACK_FILE
from mlgate.serve.predlog import CURRENT
from mlgate.serve.validate import MAX_STRING_CHARS
from tests.integration.serve.conftest import Server, Trained, free_port, trained, wait_until

__all__ = ["trained"]  # the session's demo bundle (with model.onnx), a fixture

pytestmark = pytest.mark.integration

ROW = {
    "tenure_months": 12,
    "monthly_charges": 50.0,
    "total_charges": 600.0,
    "age": 40.0,
    "support_calls": 1,
    "contract": "one-year",
    "internet": "fiber",
    "payment_method": "mailed-check",
    "region": "south",
    "paperless_billing": "yes",
}
SURROGATE = "\\ud800"  # as the JSON escape: the body's bytes are ASCII


def start(bundle: Path, tmp: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    """`mlgate serve BUNDLE ARGS` on a free port, ready."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    code = "import sys; from mlgate.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, "serve", str(bundle), "--port", str(port), *args]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until(server.ready, 60, "the server to be ready")
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module", params=["sklearn", "onnx"])
def server(
    request: pytest.FixtureRequest, trained: Trained, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path]]:
    """One server per runtime, its prediction log in a directory of its own."""
    tmp = tmp_path_factory.mktemp(f"hostile-{request.param}")
    srv = start(trained.bundle_dir, tmp, "--runtime", request.param, "--log-dir", str(tmp / "logs"))
    yield srv, tmp / "logs"
    srv.stop()


def raw(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        url + path,
        content=body,
        headers={"content-type": "application/json", **(headers or {})},
        timeout=30,
    )


def refused(r: httpx.Response, statuses: tuple[int, ...] = (400, 413, 422)) -> dict[str, Any]:
    """The JSON error of a 4xx; fails on anything else."""
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"] == "application/json"
    error: dict[str, Any] = r.json()["error"]
    assert set(error) == {"kind", "message", "field", "row"}
    assert "Expecting" not in error["message"]
    assert "char " not in error["message"]
    return error


def counted(url: str) -> float:
    """Refusals the server has counted, over every kind."""
    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith("mlgate_errors_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def instances(**values: str) -> bytes:
    row = json.dumps({**ROW, **{k: "@" + k for k in values}})
    for k, v in values.items():
        row = row.replace(f'"@{k}"', v)
    return b'{"instances": [' + row.encode() + b"]}"


def v2_body(plan: str) -> bytes:
    inputs = []
    for name, value in ROW.items():
        kind = "BYTES" if isinstance(value, str) else "FP64"
        data = plan if name == "contract" else json.dumps(value)
        inputs.append(f'{{"name": "{name}", "datatype": "{kind}", "shape": [1], "data": [{data}]}}')
    return ('{"inputs": [' + ", ".join(inputs) + "]}").encode()


def features(plan: str) -> bytes:
    values = [plan if k == "contract" else json.dumps(v) for k, v in ROW.items()]
    return ('{"features": [' + ", ".join(values) + "]}").encode()


HOSTILE = [
    ("/predict", instances(contract=f'"{SURROGATE}"')),
    ("/predict", instances(contract=f'"a{SURROGATE}b"')),
    ("/predict", features(f'"{SURROGATE}"')),
    ("/predict", ('{"instances": [{"' + SURROGATE + '": 1}]}').encode()),
    ("/predict", ('{"' + SURROGATE + '": 1}').encode()),
    ("/predict", ('{"instances": [{"customer_id": "' + SURROGATE + '"}]}').encode()),
    ("/predict", b'{"instances": [{"contract": "\xff\xfe"}]}'),
    ("/predict", b'{"instances": [1,'),
    ("/predict", instances(contract=json.dumps("x" * (MAX_STRING_CHARS + 1)))),
    ("/predict", instances(customer_id='{"nested": [1, 2]}')),
    ("/v2/models/churn/infer", v2_body(f'"{SURROGATE}"')),
    ("/v2/models/churn/infer", ('{"inputs": [{"name": "' + SURROGATE + '"}]}').encode()),
    ("/v2/models/churn/infer", ('{"id": "' + SURROGATE + '", "inputs": []}').encode()),
    ("/v2/models/churn/infer", v2_body(json.dumps("y" * (MAX_STRING_CHARS + 1)))),
    ("/feedback", ('{"request_id": "' + SURROGATE + '", "label": 1}').encode()),
    ("/feedback", ('{"request_id": "a", "label": "' + SURROGATE + '"}').encode()),
    ("/feedback", ('{"' + SURROGATE + '": 1}').encode()),
    ("/feedback", b'{"request_id": "a", "label": [1]}'),
    ("/feedback", b'{"request_id": "a", "label": {"x": 1}}'),
    ("/feedback", b'{"request_id": "a", "labels": [[0], {"y": 1}]}'),
    ("/feedback", b'{"feedback": [{"request_id": "a", "label": [0]}]}'),
    ("/feedback", b'{"request_id": "a", "label": "\xc3"}'),
]


def test_hostile_bodies_are_4xx_in_the_error_format_and_counted(
    server: tuple[Server, Path],
) -> None:
    srv, logs = server
    before = counted(srv.url)
    for path, body in HOSTILE:
        error = refused(raw(srv.url, path, body))
        assert len(error["message"]) < 400, error
        assert error["field"] is None or len(error["field"]) <= 128
    assert counted(srv.url) - before == len(HOSTILE)
    # The log holds the refusals, none of the over-long strings.
    wait_until(lambda: (logs / CURRENT).exists(), 30, "the prediction log")
    text = (logs / CURRENT).read_text()
    assert "x" * 100 not in text
    assert "y" * 100 not in text
    assert max(map(len, text.splitlines()), default=0) < 2000


def test_a_parse_error_names_where_not_the_parser(server: tuple[Server, Path]) -> None:
    srv, _ = server
    error = refused(raw(srv.url, "/predict", b'{"instances": [1,'))
    assert error["message"] == "the body is not valid JSON (line 1, column 18)"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(codec="utf-8"), max_size=20)
    | st.sampled_from([SURROGATE, "one-year", "\x00", ""]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _encode(value: Any) -> bytes:
    # A placeholder for the escape, so the surrogate reaches the server as JSON sends it.
    return json.dumps(value).replace(json.dumps(SURROGATE)[1:-1], SURROGATE).encode()


# A row's value: often a lone surrogate or a real category, else anything JSON holds.
cell = st.one_of(st.just(SURROGATE), st.sampled_from(["one-year", "south"]), json_values)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(_encode),
    st.dictionaries(
        st.sampled_from(["instances", "features", "probabilities", "inputs", "id", "feedback"]),
        json_values,
        max_size=3,
    ).map(_encode),
    st.lists(
        st.fixed_dictionaries({}, optional=dict.fromkeys(("contract", "age", "region"), cell)),
        min_size=1,
        max_size=3,
    ).map(lambda rows: _encode({"instances": [{**ROW, **r} for r in rows]})),
    st.lists(cell, min_size=len(ROW), max_size=len(ROW)).map(lambda v: _encode({"features": v})),
    cell.map(lambda v: _encode(v).decode()).map(v2_body),
    st.fixed_dictionaries(
        {"request_id": json_values | st.text(max_size=40)},
        optional={"label": json_values, "labels": json_values},
    ).map(_encode),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(path=st.sampled_from(["/predict", "/v2/models/churn/infer", "/feedback"]), body=bodies)
def test_no_body_is_a_5xx(server: tuple[Server, Path], path: str, body: bytes) -> None:
    srv, _ = server
    r = raw(srv.url, path, body)
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code != 200:
        refused(r, (400, 401, 403, 404, 409, 413, 415, 422))


def predict_one(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    r = httpx.post(url + "/predict", json={"instances": [ROW]}, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r


def test_feedback_takes_issued_ids_once(server: tuple[Server, Path]) -> None:
    srv, logs = server
    rid = predict_one(srv.url, {"x-request-id": "client-7"}).headers["x-request-id"]
    assert rid.startswith("client-7.")
    for forged in ("client-7", "client-7." + "0" * 32, rid[:-1] + "x", rid + "0"):
        error = refused(
            httpx.post(srv.url + "/feedback", json={"request_id": forged, "label": 1}), (403,)
        )
        assert error["kind"] == "unknown_request_id"
    ok = httpx.post(srv.url + "/feedback", json={"request_id": rid, "label": 1})
    assert ok.status_code == 200, ok.text
    again = httpx.post(srv.url + "/feedback", json={"request_id": rid, "label": 0})
    assert refused(again, (409,))["kind"] == "already_labelled"
    logged = [json.loads(x) for x in (logs / FEEDBACK_FILE).read_text().splitlines()]
    assert [x["request_id"] for x in logged if x["request_id"].startswith("client-7")] == [rid]


def test_a_configured_token_guards_feedback(trained: Trained, tmp_path: Path) -> None:
    env = {"MLGATE_FEEDBACK_TOKEN": "s3cret-token", "MLGATE_FEEDBACK_SECRET": "k" * 32}
    srv = start(trained.bundle_dir, tmp_path, env=env)
    try:
        rid = predict_one(srv.url).headers["x-request-id"]
        body = {"request_id": rid, "label": 1}
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret-token"}):
            r = httpx.post(srv.url + "/feedback", json=body, headers=headers)
            assert refused(r, (401,))["kind"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
        r = httpx.post(
            srv.url + "/feedback", json=body, headers={"authorization": "Bearer s3cret-token"}
        )
        assert r.status_code == 200, r.text
    finally:
        srv.stop()
    # The same secret, another process: the ids it issued are still taken (a restart, a replica).
    again = start(trained.bundle_dir, tmp_path, env={"MLGATE_FEEDBACK_SECRET": "k" * 32})
    try:
        rid = predict_one(again.url).headers["x-request-id"]
        other = start(trained.bundle_dir, tmp_path, env={"MLGATE_FEEDBACK_SECRET": "k" * 32})
        try:
            r = httpx.post(other.url + "/feedback", json={"request_id": rid, "label": 0})
            assert r.status_code == 200, r.text
        finally:
            other.stop()
    finally:
        again.stop()


def test_genuine_feedback_survives_a_flood(trained: Trained, tmp_path: Path) -> None:
    from mlgate.app.monitor.labels import feedback_files, load_labels
    from mlgate.app.monitor.logs import Layout
    from mlgate.store.bundle import load_bundle

    logs = tmp_path / "logs"
    srv = start(trained.bundle_dir, tmp_path, "--log-dir", str(logs), "--workers", "2")
    try:
        rid = predict_one(srv.url).headers["x-request-id"]
        statuses: set[int] = set()
        big = b'{"request_id": "' + b"f" * 60 + b'", "labels": [' + b"1," * 1_000_000 + b"1]}"
        with httpx.Client(timeout=60) as client:
            for i in range(300):
                forged = {"request_id": f"forged-{i}.{i:032x}", "labels": [1] * 5000}
                statuses.add(client.post(srv.url + "/feedback", json=forged).status_code)
            for _ in range(20):
                r = client.post(
                    srv.url + "/feedback",
                    content=big,
                    headers={"content-type": "application/json"},
                )
                statuses.add(r.status_code)
            # Either worker takes the label: they share the secret made at start.
            genuine = client.post(srv.url + "/feedback", json={"request_id": rid, "label": 1})
        assert genuine.status_code == 200, genuine.text
        assert statuses <= {403, 413, 422}, statuses
    finally:
        srv.stop()
    files = feedback_files([logs])
    assert sum(f.stat().st_size for f in files) < 10_000  # nothing forged was written
    bundle = load_bundle(trained.bundle_dir)
    layout = Layout(tuple(bundle.schema.features), tuple(bundle.meta.classes or ()))
    labels = load_labels(files, layout)
    assert labels.values == {(rid, 0): float(layout.class_index()[1])}
    assert labels.skipped == {}
