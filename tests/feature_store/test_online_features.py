"""Online features at serving time, against real Feast: a model trained from the feature store,
the store materialized into its online store (SQLite, then Redis), Feast's feature server
(`feast serve`) in front of it, and `mlgate serve --online-features` in front of that.

- `/predict` with entity keys only gives the same predictions and probabilities as the same
  rows sent with every feature; the prediction log keeps the values the model used.
- An entity the online store does not have is a 422 naming it; the online store down (Redis
  stopped) is a 503 naming the store, and rows that carry their features are still served.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

pytest.importorskip("feast", reason="Feast runs in its own environment: make setup-feast")

from tests.feature_store.servers import RedisServer, Serving, feature_server, free_port
from tests.feature_store.shop import latest, materialize, train, write_repo

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
FEAST = BIN / "feast"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project trained from the feature store (SQLite online store): its bundle."""
    bundle = train(tmp_path_factory.mktemp("online"), BIN)
    meta = json.loads((bundle / "mlgate.json").read_text())
    assert meta["feast"]["entity_keys"] == ["customer_id"]
    return bundle


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[list[Serving]]:
    started: list[Serving] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()


def _online_store(kind: str, redis: RedisServer | None) -> str:
    if kind == "sqlite":
        return "{type: sqlite, path: data/online.db}"
    assert redis is not None
    return f'{{type: redis, connection_string: "127.0.0.1:{redis.port}"}}'


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_entity_keys_only_predict_as_the_full_rows(
    kind: str,
    trained: Path,
    tmp_path: Path,
    serving: list[Serving],
) -> None:
    bundle = trained
    with RedisServer(tmp_path / "redis") if kind == "redis" else nullcontext() as redis:
        repo = tmp_path / "repo"
        sources = write_repo(repo, _online_store(kind, redis))
        materialize(FEAST, repo)
        with feature_server(repo, free_port()) as url:
            server = Serving(bundle, url, tmp_path / "log")
            serving.append(server)
            full = latest(sources)
            keys_only = [{"customer_id": c} for c in full]
            by_keys = server.predict(keys_only)
            assert by_keys.status_code == 200, by_keys.text
            with_features = server.predict(list(full.values()))
            assert with_features.status_code == 200, with_features.text
            got, want = by_keys.json(), with_features.json()
            assert got["predictions"] == want["predictions"]
            assert got["probabilities"] == want["probabilities"]
            assert len(set(map(tuple, got["probabilities"]))) > 1  # not one constant answer
            # A value a row carries wins over the store's; the rest come from the store.
            rows = [{**full[c], "spend_30d": 0.0} for c in full]
            own = server.predict([{"customer_id": c, "spend_30d": 0.0} for c in full])
            assert own.json()["probabilities"] == server.predict(rows).json()["probabilities"]

            unknown = server.predict([{"customer_id": 1}, {"customer_id": 999}])
            assert unknown.status_code == 422, unknown.text
            error = unknown.json()["error"]
            assert (error["kind"], error["field"], error["row"]) == (
                "unknown_entity",
                "customer_id",
                1,
            )
            assert "customer_id=999" in error["message"]

            if redis is not None:
                redis.stop()
                down = server.predict(keys_only[:2])
                assert down.status_code == 503, down.text
                assert down.json()["error"]["kind"] == "online_store_unavailable"
                assert down.headers["retry-after"] == "1"
                still = server.predict(list(full.values())[:2])  # rows with their features
                assert still.status_code == 200, still.text
                assert still.json()["predictions"] == want["predictions"][:2]
            server.stop()
    logged = [
        json.loads(line)
        for path in sorted((tmp_path / "log").glob("predictions*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    served = [r for r in logged if r.get("instances")]
    # The first request's rows were logged with the values the store gave them.
    assert served[0]["instances"] == list(full.values())
