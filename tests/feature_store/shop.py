"""A small feature repository for the online-feature tests and benchmark: customers with two
feature views (orders, visits) over the last 40 days, on Parquet sources, with an online store
of choice; what the online store holds after `feast materialize` is each customer's latest
values (`latest`). Needs the `feast` CLI of the Feast environment, not Feast itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

CUSTOMERS = 30
NOW = pd.Timestamp.now(tz="UTC").floor("h")
FEATURES = ("spend_30d", "orders_30d", "visits_7d")

DEFINITIONS = """\
from datetime import timedelta
from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64, Int64

customer = Entity(name="customer", join_keys=["customer_id"])
orders = FeatureView(
    name="orders", entities=[customer], ttl=timedelta(days=365),
    schema=[Field(name="spend_30d", dtype=Float64), Field(name="orders_30d", dtype=Int64)],
    source=FileSource(path="data/orders.parquet", timestamp_field="event_timestamp"),
)
visits = FeatureView(
    name="visits", entities=[customer], ttl=timedelta(days=365),
    schema=[Field(name="visits_7d", dtype=Int64)],
    source=FileSource(path="data/visits.parquet", timestamp_field="event_timestamp"),
)
churn = FeatureService(name="churn", features=[orders, visits])
"""


def store_yaml(online: str) -> str:
    """feature_store.yaml of project `shop` with the `online` store (a YAML mapping)."""
    return (
        "project: shop\nregistry: data/registry.db\nprovider: local\n"
        f"online_store: {online}\noffline_store: {{type: file}}\n"
        "entity_key_serialization_version: 3\n"
    )


def write_repo(repo: Path, online: str) -> dict[str, pd.DataFrame]:
    """Two views over the last 40 days, each customer's latest values the online ones."""
    rng = np.random.default_rng(3)
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(store_yaml(online))
    (repo / "features.py").write_text(DEFINITIONS)
    days = range(40, 0, -5)
    orders = pd.DataFrame(
        [
            {
                "customer_id": c,
                "event_timestamp": NOW - pd.Timedelta(days=d),
                "spend_30d": round(float(rng.gamma(2, 50)), 2),
                "orders_30d": int(rng.integers(0, 10)),
            }
            for c in range(1, CUSTOMERS + 1)
            for d in days
        ]
    )
    visits = pd.DataFrame(
        [
            {
                "customer_id": c,
                "event_timestamp": NOW - pd.Timedelta(days=d, hours=2),
                "visits_7d": int(rng.integers(0, 20)),
            }
            for c in range(1, CUSTOMERS + 1)
            for d in days
        ]
    )
    orders.to_parquet(repo / "data" / "orders.parquet", index=False)
    visits.to_parquet(repo / "data" / "visits.parquet", index=False)
    return {"orders": orders, "visits": visits}


def feast_cli(feast: Path, repo: Path, *args: str) -> None:
    """Run `feast ARGS` in `repo`; RuntimeError with its output when it fails."""
    env = {**os.environ, "FEAST_USAGE": "False"}
    done = subprocess.run(
        [str(feast), *args], cwd=repo, capture_output=True, text=True, env=env, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"feast {' '.join(args)} failed:\n{done.stderr}{done.stdout}")


def materialize(feast: Path, repo: Path) -> None:
    """`feast apply`, then materialize the last 60 days into the online store."""
    feast_cli(feast, repo, "apply")
    start = (NOW - pd.Timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%S")
    feast_cli(
        feast,
        repo,
        "materialize",
        start,
        (NOW + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
    )


def latest(sources: dict[str, pd.DataFrame]) -> dict[int, dict[str, Any]]:
    """Each customer's latest value of each feature: what the online store holds."""
    rows: dict[int, dict[str, Any]] = {c: {"customer_id": c} for c in range(1, CUSTOMERS + 1)}
    for frame in sources.values():
        last = frame.sort_values("event_timestamp").groupby("customer_id").tail(1)
        for record in last.to_dict("records"):
            for name in FEATURES:
                if name in record:
                    value = record[name]
                    rows[int(record["customer_id"])][name] = (
                        int(value) if name != "spend_30d" else float(value)
                    )
    return rows


def _run(argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:3])} failed:\n{done.stderr}{done.stdout}")


def train(root: Path, bin_dir: Path) -> Path:
    """A project trained from a shop repository under `root` (SQLite online store) by the
    mlgate and feast of `bin_dir` (the Feast environment's): its bundle. Random labels and no
    gates: what is tested is serving, not the model's quality."""
    repo = root / "train-repo"
    write_repo(repo, "{type: sqlite, path: data/online.db}")
    feast_cli(bin_dir / "feast", repo, "apply")
    rng = np.random.default_rng(4)
    entities = pd.DataFrame(
        {
            "customer_id": rng.integers(1, CUSTOMERS + 1, 500),
            "event_timestamp": NOW - pd.to_timedelta(rng.integers(1, 40 * 24, 500), unit="h"),
        }
    ).drop_duplicates()
    entities["churned"] = rng.integers(0, 2, len(entities))
    entities.to_csv(root / "entities.csv", index=False)
    project = root / "project"
    mlgate = str(bin_dir / "mlgate")
    init = [mlgate, "init", "--feast", str(repo), "--data", str(root / "entities.csv")]
    _run([*init, "--target", "churned", "--no-dvc", str(project)])
    config = yaml.safe_load((project / "mlgate.yaml").read_text())
    config["gates"] = []
    (project / "mlgate.yaml").write_text(yaml.safe_dump(config))
    _run([mlgate, "train", "--config", str(project)])
    return project / "models" / "model"
