"""`mlgate serve models:/NAME@ALIAS`: the registry's champion, downloaded, verified, served."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from mlgate.app.scaffold import init_demo
from mlgate.cli import main
from mlgate.model.features import to_frame
from mlgate.store.bundle import load_bundle
from tests.integration.serve.conftest import ServerFactory

pytestmark = pytest.mark.integration


def test_serves_the_registry_champion(
    tmp_path: Path, serve: ServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "demo"
    init_demo(project, rows=1500)
    assert main(["run", "--config", str(project)]) == 0
    assert main(["promote", "--config", str(project)]) == 0
    capsys.readouterr()
    # An alias nobody set is named, before any server starts.
    assert main(["serve", "models:/churn@staging", "--config", str(project)]) == 2
    assert "staging" in capsys.readouterr().err

    server = serve(Path("models:/churn@champion"), "--config", str(project))
    local = load_bundle(project / "models" / "model")
    rows = pd.read_csv(project / "data" / "churn.csv").head(20)
    features = [f.name for f in local.schema.features]
    instances = json.loads(rows[features].to_json(orient="records"))
    answer = httpx.post(f"{server.url}/predict", json={"instances": instances}, timeout=10)
    assert answer.status_code == 200, answer.text
    expected = local.load_model().predict(to_frame(rows, local.schema.features))
    np.testing.assert_array_equal(np.asarray(answer.json()["predictions"]), expected)
    meta = httpx.get(f"{server.url}/metadata", timeout=10).json()
    assert meta["data"]["fingerprint"] == local.meta.data.fingerprint
