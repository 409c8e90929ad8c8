"""`mlgate serve models:/NAME@ALIAS`: the registry's champion, downloaded, verified, served."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from mlgate.cli import main
from mlgate.errors import UsageError
from mlgate.model.bundle import load_bundle
from mlgate.model.features import to_frame
from mlgate.release import parse_model_uri
from mlgate.scaffold import init_demo
from tests.integration.serve.conftest import ServerFactory

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("uri", "parsed"),
    [
        ("models:/churn@champion", ("churn", "champion", None)),
        ("models:/churn/3", ("churn", None, 3)),
    ],
)
def test_parse_model_uri(uri: str, parsed: tuple[str, str | None, int | None]) -> None:
    assert parse_model_uri(uri) == parsed


@pytest.mark.parametrize("uri", ["models:/", "models:/churn", "models:/churn/x", "models:/@a"])
def test_bad_model_uri_is_a_usage_error(uri: str) -> None:
    with pytest.raises(UsageError, match="not a model URI"):
        parse_model_uri(uri)


def test_serves_the_registry_champion(
    tmp_path: Path, serve: ServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "demo"
    init_demo(project, rows=1500)
    assert main(["run", "--config", str(project)]) == 0
    assert main(["promote", "--config", str(project)]) == 0
    capsys.readouterr()
    # An alias nobody set is named, before any server starts.
    assert main(["serve", "models:/churn@staging", "--project", str(project)]) == 2
    assert "staging" in capsys.readouterr().err

    server = serve(Path("models:/churn@champion"), "--project", str(project))
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
