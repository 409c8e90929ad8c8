"""Who a registration is recorded as: the CI actor the environment names, else the login."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from mlgate.adapters.mlflow.types import RunContext, current_actor

pytestmark = pytest.mark.unit


def test_the_github_actor_wins_over_the_login_name() -> None:
    assert current_actor({"GITHUB_ACTOR": "ci-bot"}) == "ci-bot"
    assert current_actor({"GITHUB_ACTOR": ""}) == getpass.getuser()
    context = RunContext.current("mlgate run", [Path("r.json")], environ={"GITHUB_ACTOR": "a"})
    assert context == RunContext(actor="a", source="mlgate run", artifacts=(Path("r.json"),))
