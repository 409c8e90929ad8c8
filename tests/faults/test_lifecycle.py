"""Server lifecycle: SIGTERM under load answers every accepted request and exits 0 leaving no
temporary directory behind; a server whose worker cannot start exits non-zero."""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.conftest import ServerFactory, mlgate, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def rows(bundle: Path) -> list[dict[str, Any]]:
    raw = json.loads((bundle / "input_example.json").read_text())
    out = []
    for values in raw["data"]:
        row = [None if isinstance(v, float) and math.isnan(v) else v for v in values]
        out.append(dict(zip(raw["columns"], row, strict=True)))
    return out


def test_sigterm_under_load_answers_every_accepted_request_and_exits_0(
    project: Path, tmp_path: Path, env: dict[str, str], serve: ServerFactory
) -> None:
    # A registry version served by URI: the download directory must go too.
    assert mlgate("run", cwd=project, env=env).code == 0
    assert mlgate("promote", "--reason", "serve it", cwd=project, env=env).code == 0
    log_dir = tmp_path / "predictions"
    server = serve(
        "models:/churn@champion",
        "--config", str(project), "--workers", "2", "--runtime", "sklearn",
        "--log-dir", str(log_dir), "--graceful-timeout", "20",
    )  # fmt: skip
    tmp = Path(env["TMPDIR"])
    names = sorted(p.name for p in tmp.iterdir())
    assert [n.split("-", 2)[:2] for n in names if n.startswith("mlgate-")] == [
        ["mlgate", "serve"],
        ["mlgate", "workers"],
    ], names
    body_rows = rows(project / "models" / "model")
    outcomes: dict[str, tuple[str, float]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            rid = f"c{n}-{i}"
            i += 1
            body = {"instances": body_rows}
            try:
                # A new connection per request: a refused one was never accepted.
                r = httpx.post(
                    f"{server.url}/predict", json=body, headers={"x-request-id": rid}, timeout=30
                )
                outcome = str(r.status_code)
                if r.status_code == 200:
                    rid = r.headers["x-request-id"]  # the id signed for the answer, as logged
                if r.status_code == 503:
                    assert r.headers["retry-after"] == "1"
                    assert r.json()["error"]["kind"] == "shutting_down"
            except httpx.ConnectError:
                outcome = "refused"
                stop.set()
            except httpx.TransportError as exc:
                outcome = type(exc).__name__
            with lock:
                outcomes[rid] = (outcome, time.monotonic())

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: sum(o == "200" for o, _ in list(outcomes.values())) >= 40, 60, "answers")
    sent_at = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(timeout=60)
    stopped_at = time.monotonic()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert code == 0, server.log()[-3000:]
    assert stopped_at - sent_at < 20 + 10  # within the graceful timeout (and the spawn margin)

    logged = set()
    for path in log_dir.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            logged.add(json.loads(line)["request_id"])
    answered = {rid for rid, (o, _) in outcomes.items() if o == "200"}
    # Every request that reached the model was answered, and every answer was logged.
    assert logged == answered
    # The rest were refused: 503 after SIGTERM, or a connection that was never accepted.
    others = {rid: o for rid, (o, t) in outcomes.items() if o != "200"}
    assert all(o in ("503", "refused") for o in others.values()), others
    assert all(t >= sent_at for rid, (o, t) in outcomes.items() if o == "503")
    # In-flight requests were finished, not cut.
    assert any(o == "200" and t > sent_at for o, t in outcomes.values())
    # No copy of the bundle, no worker directory: only what was there before the server
    # (ONNX Runtime keeps a session file, `.ses`, in the temporary directory).
    before = [n for n in names if not n.startswith("mlgate-")]
    assert sorted(p.name for p in tmp.iterdir()) == before


def test_a_single_worker_also_exits_0_on_sigterm(bundle: Path, serve: ServerFactory) -> None:
    server = serve(bundle)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=60) == 0


def test_a_worker_that_cannot_start_stops_the_server_with_exit_3(
    bundle: Path, tmp_path: Path, serve: ServerFactory
) -> None:
    # The directory is writable, but the log file's name is taken by a directory: the check
    # before the workers start passes, and each worker fails when it opens the log.
    log_dir = tmp_path / "logs"
    (log_dir / "predictions.jsonl").mkdir(parents=True)
    server = serve(bundle, "--workers", "2", "--log-dir", str(log_dir), wait=False)
    assert server.proc.wait(timeout=120) == 3
    assert "could not start" in server.log()


def test_an_unwritable_log_dir_fails_before_serving(
    bundle: Path, tmp_path: Path, serve: ServerFactory
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    server = serve(bundle, "--log-dir", str(blocker / "logs"), wait=False)
    assert server.proc.wait(timeout=120) == 3
    assert "--log-dir" in server.log()


def test_health_and_metadata_carry_no_host_paths(
    bundle: Path, tmp_path: Path, serve: ServerFactory
) -> None:
    server = serve(bundle)
    meta = httpx.get(f"{server.url}/metadata").text
    status = httpx.get(f"{server.url}/").text
    for text in (meta, status, httpx.get(f"{server.url}/health").text):
        assert str(tmp_path) not in text
        assert "/tmp/" not in text
