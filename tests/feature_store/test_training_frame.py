"""`data.source: feast` against a real Feast feature repository (local provider: file offline
store, SQLite online store), in the Feast environment (`make setup-feast`: Feast caps pandas
below 3, so it has an environment of its own).

- Two feature views on Parquet sources with event timestamps and a ttl: the training frame
  equals a point-in-time join computed by hand, row by row.
- A feature value that only appears after a row's timestamp is not seen by that row (a naive
  latest-value join would see it: the test checks it would fail there).
- `mlgate run` on a project whose data is the feature store: the frame is built, validated,
  trained and gated; the lineage names the views' definitions, the registry's version and the
  entity file; the same commit builds the same frame (the same data fingerprint).
- Bad references are exit 2 naming `data.feast.*`, nothing written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

feast = pytest.importorskip("feast", reason="Feast runs in its own environment: make setup-feast")

from mlgate.adapters.feast import training_frame  # noqa: E402  (after the importorskip)
from mlgate.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
T0 = pd.Timestamp("2026-01-01", tz="UTC")
TTL = {"orders": timedelta(days=30), "visits": timedelta(days=10)}
LEAK_CUSTOMER, LEAK_AT, LEAK_VALUE = 7, T0 + pd.Timedelta(days=40, hours=12), 99_999.0

REPO_YAML = """\
project: shop
registry: data/registry.db
provider: local
online_store: {type: sqlite, path: data/online.db}
offline_store: {type: file}
entity_key_serialization_version: 3
"""
DEFINITIONS = """\
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64, Int64

customer = Entity(name="customer", join_keys=["customer_id"])
orders = FeatureView(
    name="orders", entities=[customer], ttl=timedelta(days=30),
    schema=[Field(name="spend_30d", dtype=Float64), Field(name="orders_30d", dtype=Int64)],
    source=FileSource(path="data/orders.parquet", timestamp_field="event_timestamp"),
)
visits = FeatureView(
    name="visits", entities=[customer], ttl=timedelta(days=10),
    schema=[Field(name="visits_7d", dtype=Int64)],
    source=FileSource(path="data/visits.parquet", timestamp_field="event_timestamp"),
)
churn = FeatureService(name="churn", features=[orders, visits])
"""


def _sources(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    orders = pd.DataFrame(
        [
            {
                "customer_id": c,
                "event_timestamp": T0 + pd.Timedelta(days=d),
                "spend_30d": float(rng.gamma(2, 50)),
                "orders_30d": int(rng.integers(0, 10)),
            }
            for c in range(1, 41)
            for d in range(0, 60, 6)
        ]
    )
    # One value that appears half a day after the leak row's timestamp, and nowhere before.
    leak = {"customer_id": LEAK_CUSTOMER, "event_timestamp": LEAK_AT + pd.Timedelta(hours=12)}
    orders = pd.concat([orders, pd.DataFrame([{**leak, "spend_30d": LEAK_VALUE, "orders_30d": 1}])])
    visits = pd.DataFrame(
        [
            {
                "customer_id": c,
                "event_timestamp": T0 + pd.Timedelta(days=d, hours=3),
                "visits_7d": int(rng.integers(0, 20)),
            }
            for c in range(1, 41)
            for d in range(0, 60, 9)
        ]
    )
    return {"orders": orders, "visits": visits}


def _entities(rng: np.random.Generator, rows: int = 600) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(1, 41, rows),
            "event_timestamp": T0 + pd.to_timedelta(rng.integers(1, 60 * 24, rows), unit="h"),
        }
    )
    frame.loc[0, "customer_id"] = LEAK_CUSTOMER
    frame.loc[0, "event_timestamp"] = LEAK_AT
    frame = frame.drop_duplicates(["customer_id", "event_timestamp"]).reset_index(drop=True)
    frame["churned"] = rng.integers(0, 2, len(frame))
    return frame


def _apply(repo: Path) -> None:
    done = subprocess.run(
        [str(BIN / "feast"), "apply"], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("feast")
    repo = root / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(REPO_YAML)
    (repo / "features.py").write_text(DEFINITIONS)
    rng = np.random.default_rng(0)
    sources = _sources(rng)
    for name, frame in sources.items():
        frame.to_parquet(repo / "data" / f"{name}.parquet", index=False)
    _entities(rng).to_csv(root / "entities.csv", index=False)
    _apply(repo)
    return repo, sources


def _by_hand(entities: pd.DataFrame, sources: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The point-in-time join, one row at a time: each view's latest value at or before the
    row's timestamp and within the view's ttl, else missing."""
    out = entities.copy()
    columns = {"orders": ["spend_30d", "orders_30d"], "visits": ["visits_7d"]}
    for view, names in columns.items():
        source = sources[view]
        for name in names:
            values = []
            for customer, at in zip(entities.customer_id, entities.event_timestamp, strict=True):
                when = pd.Timestamp(at)
                seen = source[
                    (source.customer_id == customer)
                    & (source.event_timestamp <= when)
                    & (source.event_timestamp > when - TTL[view])
                ]
                latest = seen.sort_values("event_timestamp").tail(1)
                values.append(latest[name].iloc[0] if len(latest) else np.nan)
            out[name] = values
    return out.sort_values(["event_timestamp", "customer_id"], kind="stable").reset_index(drop=True)


def _frame(repo: Path, features: Any = "churn") -> tuple[pd.DataFrame, Any]:
    entities = pd.read_csv(repo.parent / "entities.csv")
    return training_frame(
        repo,
        features,
        entities,
        timestamp="event_timestamp",
        entities_name="entities.csv",
        entities_fingerprint="md5:test",
    )


def test_the_training_frame_is_the_point_in_time_join(
    repo: tuple[Path, dict[str, pd.DataFrame]],
) -> None:
    path, sources = repo
    frame, record = _frame(path)
    entities = pd.read_csv(path.parent / "entities.csv")
    entities["event_timestamp"] = pd.to_datetime(entities["event_timestamp"], utc=True)
    expected = _by_hand(entities, sources)
    got = frame[expected.columns]
    assert len(got) == len(expected)
    for column in expected.columns:  # Feast's integer features with gaps come back as floats
        np.testing.assert_array_equal(
            np.asarray(got[column], dtype=object if column == "event_timestamp" else float),
            np.asarray(expected[column], dtype=object if column == "event_timestamp" else float),
            err_msg=column,
        )
    assert record.features == ("orders:spend_30d", "orders:orders_30d", "visits:visits_7d")
    assert sorted(record.views) == ["orders", "visits"]
    assert record.service == "churn"
    assert record.rows == len(expected)


def test_a_value_from_after_a_rows_timestamp_is_not_seen(
    repo: tuple[Path, dict[str, pd.DataFrame]],
) -> None:
    path, sources = repo
    frame, _ = _frame(path, ("orders:spend_30d",))
    row = frame[(frame.customer_id == LEAK_CUSTOMER) & (frame.event_timestamp == LEAK_AT)]
    assert len(row) == 1
    assert row["spend_30d"].iloc[0] != LEAK_VALUE
    # A join on the nearest value in time, either side, would have leaked it.
    naive = pd.merge_asof(
        row[["customer_id", "event_timestamp"]].astype({"event_timestamp": "datetime64[ns, UTC]"}),
        sources["orders"]
        .astype({"event_timestamp": "datetime64[ns, UTC]"})
        .sort_values("event_timestamp"),
        on="event_timestamp",
        by="customer_id",
        direction="nearest",
    )
    assert naive["spend_30d"].iloc[0] == LEAK_VALUE


def test_unknown_references_name_the_key(repo: tuple[Path, dict[str, pd.DataFrame]]) -> None:
    path, _ = repo
    with pytest.raises(ConfigError, match=r"data\.feast\.features: no feature service 'chrun'"):
        _frame(path, "chrun")
    with pytest.raises(ConfigError, match="'orders:spend': view 'orders' has no feature 'spend'"):
        _frame(path, ("orders:spend",))
    with pytest.raises(ConfigError, match="no feature view 'order'"):
        _frame(path, ("order:spend_30d",))


def _project(repo: Path, root: Path) -> Path:
    """`mlgate init --feast`: the first frame from the store, roles, schema and profile."""
    project = root / "project"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    entities = repo.parent / "entities.csv"
    argv = [str(BIN / "mlgate"), "init", "--feast", str(repo), "--data", str(entities)]
    done = subprocess.run(
        [*argv, "--target", "churned", str(project)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr + done.stdout
    config = yaml.safe_load((project / "mlgate.yaml").read_text())
    assert config["data"]["source"] == "feast"
    assert config["data"]["feast"]["features"] == "churn"  # the repository's only service
    assert config["data"]["feast"]["entities"] == "data/entities.csv"
    workflows = project / ".github" / "workflows"
    pipeline = yaml.safe_load((workflows / "ci-cd.yml").read_text())["jobs"]["pipeline"]
    (apply,) = [s for s in pipeline["steps"] if s.get("name") == "feast apply"]
    assert (project / apply["working-directory"]).resolve() == repo.resolve()
    assert "materialize-incremental" in (workflows / "feast.yml").read_text()
    schema = yaml.safe_load((project / "schema.yaml").read_text())
    roles = {c["name"]: c["role"] for c in schema["columns"]}
    assert (roles["customer_id"], roles["event_timestamp"]) == ("id", "ignored")
    config["gates"] = []  # random labels: the run is about the data, not the model's quality
    (project / "mlgate.yaml").write_text(yaml.safe_dump(config))
    return project


def _run(project: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return subprocess.run(
        [str(BIN / "mlgate"), "run", "--config", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_a_run_trains_from_the_feature_store_with_its_lineage(
    repo: tuple[Path, dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    path, _ = repo
    project = _project(path, tmp_path)
    (project / "data" / "frame.parquet").unlink()  # `validate` builds it from the store too
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    validate = [str(BIN / "mlgate"), "validate", "--config", str(project)]
    checked = subprocess.run(validate, capture_output=True, text=True, env=env)
    assert checked.returncode == 0, checked.stderr
    assert (project / "data" / "frame.parquet").exists()
    first = _run(project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "building the training frame from Feast" in first.stdout + first.stderr
    meta = json.loads((project / "models" / "model" / "mlgate.json").read_text())
    record = meta["feast"]
    assert record["service"] == "churn"
    assert record["project"] == "shop"
    assert set(record["views"]) == {"orders", "visits"}
    assert all(v.startswith("sha256:") for v in record["views"].values())
    assert record["entities_fingerprint"].startswith("md5:")
    assert record["registry_version"]
    assert "spend_30d" in meta["features"]
    assert "customer_id" not in meta["features"]
    fingerprint = meta["data"]["fingerprint"]
    (project / "data" / "frame.parquet").unlink()
    again = _run(project)  # the same commit builds the same frame
    assert again.returncode == 0, again.stderr
    meta = json.loads((project / "models" / "model" / "mlgate.json").read_text())
    assert meta["data"]["fingerprint"] == fingerprint
    assert meta["feast"] == record


def test_init_names_the_features_to_choose_when_the_repository_has_several(
    repo: tuple[Path, dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    path, _ = repo
    extra = path.parent / "repo-two"
    shutil.copytree(path, extra)
    with (extra / "features.py").open("a") as f:
        f.write('spend = FeatureService(name="spend", features=[orders])\n')
    _apply(extra)
    argv = [str(BIN / "mlgate"), "init", "--feast", str(extra), "--data"]
    argv += [str(path.parent / "entities.csv"), "--target", "churned", str(tmp_path / "p")]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "2 feature services (churn, spend); name the features" in done.stderr
    assert "--features SERVICE" in done.stderr
    assert not (tmp_path / "p" / "mlgate.yaml").exists()
