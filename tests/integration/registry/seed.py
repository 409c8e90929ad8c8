"""A registry written by MLflow's own client, for the light metadata clients to read: a model
with tags and aliases, versions with mlgate's tags (and a deleted one), and RUNNING runs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from mlflow.tracking import MlflowClient

from mlgate.adapters.mlflow.integrity import DIGEST_TAG
from mlgate.adapters.mlflow.process import PROCESS_TAG

# A process that cannot be alive on this machine: pid 0 is never a user process.
DEAD_PROCESS = '{"boot": "", "host": "elsewhere", "pid": 0, "start": null}'


@dataclass(frozen=True)
class Seeded:
    """What `seed` wrote: the model name, its live versions, the deleted one, the RUNNING runs
    (sorted) and the one of them that carries a process tag."""

    name: str
    versions: list[int]
    deleted: int
    running: list[str]
    owned: str


def seed(client: MlflowClient, name: str, versions: int = 5) -> Seeded:
    """Write `versions` versions of `name` (the third deleted), aliases, tags and runs."""
    exp = client.create_experiment(name)
    run = client.create_run(exp, tags={PROCESS_TAG: DEAD_PROCESS}).info.run_id
    client.create_registered_model(
        name, tags={"mlgate.champion_history": "[1, 2]", "team": "ml ✓"}, description="seeded"
    )
    made = []
    for i in range(1, versions + 1):
        tags = {
            DIGEST_TAG: f"sha256:{i:064x}",
            "mlgate.metrics": json.dumps({"f1": 0.5 + i / 100, "roc_auc": 0.7 + i / 100}),
            "mlgate.lineage.git_commit": f"c0ffee{i}",
            "mlgate.registered_by": "seed",
            "note": "ünïcode ✓ 'quoted' \"double\"",
            "long": "x" * 4000,
        }
        mv = client.create_model_version(name, source=f"runs:/{run}/model", run_id=run, tags=tags)
        made.append(int(mv.version))
    client.set_model_version_tag(name, str(made[0]), "empty", "")
    client.set_registered_model_alias(name, "champion", str(made[1]))
    client.set_registered_model_alias(name, "challenger", str(made[-1]))
    deleted = made[2]
    client.delete_model_version(name, str(deleted))
    finished = client.create_run(exp).info.run_id
    client.set_terminated(finished, "FINISHED")
    gone = client.create_run(exp).info.run_id
    client.delete_run(gone)  # deleted but still RUNNING: a search over ALL views finds it
    return Seeded(name, [v for v in made if v != deleted], deleted, sorted([run, gone]), run)
