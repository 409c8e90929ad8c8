"""Pure parts of the registry and DVC modules: URI resolution, dvc.yaml rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlgate.registry import TRACKING_URI_ENV, resolve_tracking_uri
from mlgate.versioning import render_dvc_yaml

pytestmark = pytest.mark.unit


def test_tracking_uri_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
    assert resolve_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert resolve_tracking_uri(tmp_path, configured="http://cfg") == "http://cfg"
    monkeypatch.setenv(TRACKING_URI_ENV, "http://env")
    assert resolve_tracking_uri(tmp_path, configured="http://cfg") == "http://env"
    assert resolve_tracking_uri(tmp_path, explicit="http://arg") == "http://arg"


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
        {"models/model/model.pkl": {"cache": False}},
        {"models/model/mlgate.json": {"cache": False}},
    ]
    assert stages["gate"]["metrics"] == [{"metrics.json": {"cache": False}}]
    assert "params" in stages["gate"]
