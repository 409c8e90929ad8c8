"""The load replay: a file's rows, typed by the model's schema, sent as POST /predict to a
release's address (a real HTTP server on 127.0.0.1 here) until the rollout it saw ends; bad
files and flags are usage errors naming `--load-from`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlgate.app.rollout import state as rollout_state
from mlgate.app.rollout.load import Replay, instances, read_rows, typed
from mlgate.cli import main
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import RolloutRecord, RolloutState
from mlgate.errors import UsageError
from tests.unit.app.rollout.fakes import environment, variant

pytestmark = pytest.mark.unit

SCHEMA = [
    {"name": "age", "kind": "integer"},
    {"name": "spend", "kind": "numeric"},
    {"name": "plan", "kind": "categorical"},
    {"name": "active", "kind": "boolean"},
]
CSV = "id,age,spend,plan,active,churned\n1,41,12.5,basic,true,0\n2,,3,pro,0,1\n"


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def test_csv_rows_are_typed_by_the_schemas_kinds(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(CSV)
    features = {f["name"]: f["kind"] for f in SCHEMA}
    assert instances(read_rows(path), features) == [
        {"age": 41, "spend": 12.5, "plan": "basic", "active": True},
        {"age": None, "spend": 3.0, "plan": "pro", "active": False},
    ]
    assert read_rows(path, limit=1) == [
        {"id": "1", "age": "41", "spend": "12.5", "plan": "basic", "active": "true", "churned": "0"}
    ]


def test_parquet_rows_keep_their_types(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    table = {"age": [41, None], "spend": [12.5, 3.0], "plan": ["basic", "pro"]}
    pq.write_table(pa.table({**table, "active": [True, False]}), path)
    features = {f["name"]: f["kind"] for f in SCHEMA}
    assert instances(read_rows(path), features)[1] == {
        "age": None, "spend": 3.0, "plan": "pro", "active": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("absent.csv", None, "no such file"),
        ("rows.json", "[]", "neither CSV nor Parquet"),
        ("empty.csv", "age,spend\n", "no rows to replay"),
        ("bad.parquet", "not parquet", "cannot read it"),
    ],
)
def test_a_file_that_cannot_be_replayed_is_a_usage_error(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError, match=message) as exc:
        read_rows(path)
    assert "--load-from" in exc.value.message


def test_a_file_without_a_feature_or_with_a_wrong_value_names_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"lacks the feature column\(s\) tenure"):
        instances([{"age": "1"}], {"age": "integer", "tenure": "numeric"})
    with pytest.raises(UsageError, match=r"row 2: .*'maybe' is not true or false"):
        instances([{"active": "yes"}, {"active": "maybe"}], {"active": "boolean"})
    assert typed("numeric", "nan") is None
    assert typed("categorical", 3) == 3


class Edge(BaseHTTPRequestHandler):
    """A release's address: ready, its model's schema, and every /predict body kept."""

    bodies: list[dict[str, Any]]

    def do_GET(self) -> None:
        if self.path == "/metadata":
            self._answer({"schema": SCHEMA})
        else:
            self._answer({"ready": True})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.bodies.append(json.loads(body))
        self._answer({"predictions": [0]})

    def _answer(self, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def edge() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []
    handler = type("Handler", (Edge,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], bodies
    server.shutdown()
    server.server_close()


def in_progress(port: int) -> RolloutState:
    now = time.time()
    rollout = RolloutRecord(
        id="r1", strategy="canary", candidate=variant("127.0.0.1:1", "c"), incumbent="s",
        policy=CanaryConfig(), weight=20, started_at=now, updated_at=now,
    )  # fmt: skip
    return RolloutState(
        environment=environment(port), stable=variant("127.0.0.1:2"), rollout=rollout
    )


def test_the_replay_sends_typed_features_until_the_rollout_ends(
    tmp_path: Path, edge: tuple[int, list[dict[str, Any]]]
) -> None:
    port, bodies = edge
    path = tmp_path / "rows.csv"
    path.write_text(CSV)
    state_dir = tmp_path / "release"
    # One sender (under 10 a second): the rows go in the file's order.
    with Replay(state_dir, read_rows(path), rate=8) as replay:
        # Nothing runs yet: it waits for the release's address.
        assert bodies == []
        state = rollout_state.save(state_dir, in_progress(port))
        wait_until(lambda: len(bodies) >= 4, 30, "four requests")
        rollout_state.save(state_dir, state.model_copy(update={"rollout": None}))
        wait_until(lambda: replay.done, 30, "the replay to see the rollout end")
    assert replay.error is None
    assert bodies[:2] == [
        {"instances": [{"age": 41, "spend": 12.5, "plan": "basic", "active": True}]},
        {"instances": [{"age": None, "spend": 3.0, "plan": "pro", "active": False}]},
    ]
    assert bodies[2] == bodies[0]  # round the file again
    assert replay.tally.sent == replay.tally.answered == len(bodies)


def test_the_replay_stops_naming_a_feature_the_file_lacks(
    tmp_path: Path, edge: tuple[int, list[dict[str, Any]]]
) -> None:
    port, bodies = edge
    state_dir = tmp_path / "release"
    rollout_state.save(state_dir, in_progress(port))
    with Replay(state_dir, [{"age": "1"}], rate=50) as replay:
        wait_until(lambda: replay.done, 30, "the replay to stop")
    assert replay.error is not None
    assert "spend, plan, active" in replay.error
    assert bodies == []


def test_a_rate_that_is_not_positive_is_refused(tmp_path: Path) -> None:
    for rate in (0.0, -1.0, float("inf")):
        with pytest.raises(UsageError, match="--load-rate"):
            Replay(tmp_path, [{"a": 1}], rate)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--strategy", "direct", "--candidate", "x"], "--strategy direct judges none"),
        (["--candidate", "x"], "--load-from"),
    ],
)
def test_bad_load_flags_exit_2_before_anything_starts(
    tmp_path: Path, args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["deploy", "--target", "local", "--config", str(tmp_path), "--state-dir",
         str(tmp_path / "state"), "--load-from", str(tmp_path / "absent.csv"), *args]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert named in err
    assert not (tmp_path / "state").exists()


def test_the_replay_imports_nothing_heavy() -> None:
    heavy = ("numpy", "pandas", "scipy", "sklearn", "pyarrow", "mlflow")
    probe = (
        f"import sys, mlgate.app.rollout.load; print([m for m in {heavy!r} if m in sys.modules])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert ast.literal_eval(proc.stdout.strip()) == []
