"""Pure parts of the DVC module: dvc.yaml rendering, where the default remote lives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlgate.adapters.dvc import default_remote, render_dvc_yaml

pytestmark = pytest.mark.unit


def test_dvc_yaml_declares_only_params_present_in_the_config() -> None:
    text = render_dvc_yaml(
        data="data/my data.csv",
        schema="schema.yaml",
        profile="reference/profile.json",
        bundle="models/model",
        reports="reports",
        metrics="metrics.json",
        config_keys={"name", "data", "model", "gates"},
    )
    stages = yaml.safe_load(text)["stages"]
    assert list(stages) == ["validate", "train", "gate"]
    assert stages["validate"]["params"] == [{"mlgate.yaml": ["data"]}]
    assert stages["train"]["params"] == [{"mlgate.yaml": ["name", "data", "model"]}]
    assert stages["gate"]["deps"][0] == "data/my data.csv"
    assert stages["train"]["outs"] == [
        {"models/model/model.skops": {"cache": False}},
        {"models/model/mlgate.json": {"cache": False}},
    ]
    assert stages["gate"]["metrics"] == [{"metrics.json": {"cache": False}}]
    assert "params" in stages["gate"]


def test_dvc_yaml_quotes_what_yaml_needs_quoted() -> None:
    odd = "data/a: b #c.csv"
    text = render_dvc_yaml(
        data=odd,
        schema="schema.yaml",
        profile="reference/profile.json",
        bundle="models/model",
        reports="reports",
        metrics="metrics.json",
        config_keys=set(),
    )
    stages = yaml.safe_load(text)["stages"]
    assert stages["validate"]["deps"][0] == odd
    assert "params" not in stages["validate"]
    assert [s["cmd"] for s in stages.values()] == ["mlgate validate", "mlgate train", "mlgate gate"]


def test_the_default_remote_is_in_the_cache_directory_the_environment_names() -> None:
    assert default_remote({"XDG_CACHE_HOME": "/c"}) == Path("/c/mlgate/dvc-remote")
    assert default_remote({}) == Path.home() / ".cache" / "mlgate" / "dvc-remote"
