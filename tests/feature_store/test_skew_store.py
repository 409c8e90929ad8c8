"""`mlgate monitor --skew feast` against real Feast: the features a server fetched from the
online store and used, compared with the offline store's values for the same entities at the
time of each request.

A model is trained from the shop repository. A second copy of that repository (the same
Parquet sources) is the serving side: its online store is filled by `feast materialize`, and in
the skewed case the `orders` view is then written again by a "serving" path of its own that
computes `spend_30d` in cents (`FeatureStore.write_to_online_store`). `mlgate serve
--online-features` answers keys-only rows from it; the monitor then names `spend_30d` and only
it (exit 1, in the webhook body too), and finds no skew after a plain materialize (exit 0).
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("feast", reason="Feast runs in its own environment: make setup-feast")

from feast import FeatureStore

from tests.feature_store.servers import Serving, feature_server, free_port
from tests.feature_store.shop import CUSTOMERS, FEATURES, materialize, train, write_repo

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project trained from the shop repository: its bundle (the project is its grandparent)."""
    return train(tmp_path_factory.mktemp("skew"), BIN)


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook on 127.0.0.1 that keeps the JSON bodies posted to it."""

    bodies: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        Hook.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    Hook.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _serving_store(repo: Path, cents: bool) -> None:
    """The serving side's online store: materialized from the sources, then, when `cents`, the
    latest `orders` rows written again by a path that computes spend in cents."""
    sources = write_repo(repo, "{type: sqlite, path: data/online.db}")
    materialize(BIN / "feast", repo)
    if cents:
        orders = sources["orders"].sort_values("event_timestamp").groupby("customer_id").tail(1)
        orders = orders.assign(spend_30d=orders["spend_30d"] * 100)
        store = FeatureStore(repo_path=str(repo))
        store.write_to_online_store("orders", orders.reset_index(drop=True))


def _monitor(
    project: Path, bundle: Path, logs: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    argv = [str(BIN / "mlgate"), "monitor", "--config", str(project), "--bundle", str(bundle)]
    argv += [str(logs), "--since", "all", "--out", str(logs.parent / "reports"), *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("cents", [True, False], ids=["spend-in-cents", "materialized"])
def test_monitor_skew_names_the_feature_served_in_other_units(
    cents: bool, trained: Path, tmp_path: Path, webhook: str
) -> None:
    bundle = trained
    project = bundle.parent.parent
    repo = tmp_path / "serving-repo"
    _serving_store(repo, cents)
    logs = tmp_path / "log"
    with feature_server(repo, free_port()) as url:
        server = Serving(bundle, url, logs)
        try:
            for start in range(1, CUSTOMERS + 1, 10):  # keys only: the store fills the rest
                rows = [{"customer_id": c} for c in range(start, start + 10)]
                answer = server.predict(rows)
                assert answer.status_code == 200, answer.text
            # A row sent with its features but no entity key is served, and not compared.
            assert server.predict([dict.fromkeys(FEATURES, 1)]).status_code == 200
            server.stop()
        finally:
            server.kill()
    done = _monitor(project, bundle, logs, "--skew", "feast", "--webhook", webhook, "--json")
    assert done.returncode == (1 if cents else 0), done.stderr + done.stdout
    result = json.loads(done.stdout)
    skews = {s["name"]: s for s in result["observations"]["skew"]}
    assert set(skews) == set(FEATURES)
    assert all(s["rows"] == CUSTOMERS for s in skews.values()), skews
    failed = sorted(name for name, s in skews.items() if s["share"] > s["threshold_share"])
    findings = [f["subject"] for f in result["verdict"]["findings"] if f["check"] == "skew"]
    if cents:
        assert failed == findings == ["spend_30d"]
        assert skews["spend_30d"]["differing"] == CUSTOMERS
        assert "spend_30d" in json.dumps(Hook.bodies)
        assert "orders_30d" not in json.dumps([b for b in Hook.bodies if "skew" in json.dumps(b)])
    else:
        assert failed == findings == []
        assert all(s["differing"] == 0 for s in skews.values())
    assert any("1 logged" in note for note in result["notes"]), result["notes"]
