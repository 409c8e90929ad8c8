"""A rolled-back release is recorded on its version and in the model's release history, and
no alias moves; against SQLite and against the MLflow server."""

from __future__ import annotations

import json

import pytest

from mlgate.errors import UsageError
from tests.integration.registry.conftest import Cli, Env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]


def test_reject_records_the_reason_and_moves_no_alias(mlgate: Cli, env: Env) -> None:
    assert mlgate("run", "--config", env.config).code == 0
    assert mlgate("promote", "--config", env.config, "--reason", "first").code == 0
    # The same gated bundle again: version 2, the challenger.
    assert mlgate("register", "--config", env.config).code == 0
    registry = env.registry()
    before = {v.version: v.aliases for v in registry.list_versions(env.name)}
    assert before == {2: ("challenger",), 1: ("champion",)}

    info = registry.reject(env.name, 2, reason="canary release: error-rate 20% > 1%", actor="ci")
    assert info.tags["mlgate.rejection_reason"] == "canary release: error-rate 20% > 1%"
    assert info.tags["mlgate.rejected_by"] == "ci"
    assert {v.version: v.aliases for v in registry.list_versions(env.name)} == before
    registry.reject(env.name, 2, reason="shadow release: divergence", actor="ci")
    history = json.loads(registry._model(env.name).tags["mlgate.release_history"])
    assert [(h["version"], h["outcome"]) for h in history] == [(2, "rolled back")] * 2
    assert history[-1]["reason"] == "shadow release: divergence"

    listed = mlgate("models", "--config", env.config)
    assert "rejected" in listed.out
    with pytest.raises(UsageError, match="no version 9"):
        registry.reject(env.name, 9, reason="x", actor="ci")
