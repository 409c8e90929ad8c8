"""The light metadata clients (sqlite3 on the embedded file, REST on the tracking server) against
MLflow's own client, on the same real registry: what one writes the other reads, equal.

Each test runs on the SQLite registry and on the PostgreSQL-backed server (`backend`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from mlflow.tracking import MlflowClient

from mlgate.adapters.mlflow.clients import open_meta
from mlgate.adapters.mlflow.meta import (
    NOT_FOUND,
    MetaError,
    MlflowMeta,
    RegistryMeta,
    RunRecord,
)
from mlgate.adapters.mlflow.rest import RestMeta
from mlgate.adapters.mlflow.sqlitestore import SqliteMeta
from tests.integration.registry.conftest import Env
from tests.integration.registry.seed import DEAD_PROCESS, Seeded, seed

pytestmark = [
    pytest.mark.integration,
    # SQLAlchemy 2.1 deprecates a loader strategy MLflow's store still configures at import.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]


@dataclass
class Pair:
    """The same registry through MLflow's client and through the light one."""

    mlflow: MlflowMeta
    light: RegistryMeta
    client: MlflowClient
    seeded: Seeded


@pytest.fixture
def pair(env: Env) -> Pair:
    registry = env.registry()
    uri = registry.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    seeded = seed(client, env.name)
    light = open_meta(uri, lambda: client)
    # The light client itself, not MLflow's behind it.
    assert isinstance(light, RestMeta if env.backend == "server" else SqliteMeta)
    return Pair(MlflowMeta(lambda: client), light, client, seeded)


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(MetaError) as info:
        call()
    return info.value.error_code


def test_reads_equal_mlflows(pair: Pair) -> None:
    name = pair.seeded.name
    light, mlflow = pair.light, pair.mlflow
    model = light.get_registered_model(name)
    assert model == mlflow.get_registered_model(name)
    seeded = pair.seeded.versions
    assert model.aliases == {"champion": seeded[1], "challenger": seeded[-1]}
    assert model.tags["team"] == "ml ✓"

    versions = light.search_model_versions(name)
    assert versions == mlflow.search_model_versions(name)
    assert [v.version for v in versions] == sorted(pair.seeded.versions, reverse=True)
    assert versions[-1].tags["empty"] == ""
    assert versions[0].tags["note"] == "ünïcode ✓ 'quoted' \"double\""
    for v in pair.seeded.versions:
        assert light.get_model_version(name, v) == mlflow.get_model_version(name, v)

    runs = sorted(light.running_runs(name), key=lambda r: r.run_id)
    assert runs == sorted(mlflow.running_runs(name), key=lambda r: r.run_id)
    assert [r.run_id for r in runs] == pair.seeded.running
    assert light.running_runs("no-such-experiment") == mlflow.running_runs("no-such-experiment")


@pytest.mark.parametrize("which", ["light", "mlflow"])
def test_missing_things_are_not_found_as_in_mlflow(pair: Pair, which: str) -> None:
    name, deleted = pair.seeded.name, pair.seeded.deleted
    meta = pair.light if which == "light" else pair.mlflow
    assert _code(lambda: meta.get_registered_model(name + "-nope")) == NOT_FOUND
    assert _code(lambda: meta.get_model_version(name, deleted)) == NOT_FOUND
    assert _code(lambda: meta.get_model_version(name, 99)) == NOT_FOUND
    assert _code(lambda: meta.set_registered_model_alias(name, "x", 99)) == NOT_FOUND
    assert _code(lambda: meta.set_model_version_tag(name, 99, "k", "v")) == NOT_FOUND
    assert _code(lambda: meta.set_registered_model_tag(name + "-nope", "k", "v")) == NOT_FOUND
    assert meta.search_model_versions(name + "-nope") == []


def test_light_writes_are_read_back_by_mlflow(pair: Pair) -> None:
    name, client, light = pair.seeded.name, pair.client, pair.light
    first = pair.seeded.versions[0]
    with light.transaction():
        light.set_registered_model_alias(name, "champion", first)  # moves an existing alias
        light.set_registered_model_alias(name, "staging", "4")  # a new one, version as text
        light.set_registered_model_tag(name, "team", "platform")  # overwrites
        light.set_registered_model_tag(name, "mlgate.release_history", '[{"version": 1}]')
        light.set_model_version_tag(name, first, "mlgate.promoted_by", "ci-bot")
        light.set_model_version_tag(name, first, "note", "changed")
    light.delete_registered_model_alias(name, "challenger")
    light.delete_registered_model_alias(name, "never-set")  # nothing to delete: no error

    model = client.get_registered_model(name)
    assert {a: int(v) for a, v in model.aliases.items()} == {"champion": first, "staging": 4}
    assert model.tags["team"] == "platform"
    assert model.tags["mlgate.release_history"] == '[{"version": 1}]'
    mv = client.get_model_version(name, str(first))
    assert mv.tags["mlgate.promoted_by"] == "ci-bot"
    assert mv.tags["note"] == "changed"
    assert sorted(mv.aliases) == ["champion"]
    assert int(client.get_model_version_by_alias(name, "staging").version) == 4

    # And the other way round: MLflow moves them again, the light client sees it.
    client.set_registered_model_alias(name, "champion", "5")
    client.set_model_version_tag(name, str(first), "note", "by mlflow")
    assert pair.light.get_registered_model(name).aliases == {"champion": 5, "staging": 4}
    assert pair.light.get_model_version(name, first).tags["note"] == "by mlflow"
    assert pair.light.get_registered_model(name) == pair.mlflow.get_registered_model(name)
    assert pair.light.search_model_versions(name) == pair.mlflow.search_model_versions(name)


# SQLite only: a tracking server commits each call on its own.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_transaction_is_all_or_nothing(pair: Pair, backend: str) -> None:
    name, light = pair.seeded.name, pair.light
    before = pair.mlflow.get_registered_model(name)

    def half_done() -> None:
        with light.transaction():
            light.set_registered_model_tag(name, "team", "half-written")
            light.set_registered_model_alias(name, "champion", 1)
            light.set_model_version_tag(name, 99, "k", "v")  # no such version: all is undone

    assert _code(half_done) == NOT_FOUND
    assert pair.mlflow.get_registered_model(name) == before


def test_running_runs_carry_the_process_tag(pair: Pair) -> None:
    runs = pair.light.running_runs(pair.seeded.name)
    assert sorted(r.run_id for r in runs) == pair.seeded.running
    assert [r for r in runs if r.process is not None] == [
        RunRecord(pair.seeded.owned, DEAD_PROCESS)
    ]
