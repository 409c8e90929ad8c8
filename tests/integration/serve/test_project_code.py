"""A project shaped like a team's own (tests/teamproject.py): `src/teamfeat/` holds a custom
transformer and the Pipeline builder (ending in LightGBM), `tests/` tests the transformer, and
`model.pipeline` names the builder. `mlgate run` trains and gates it, `mlgate serve` answers raw
rows of the training file, and the bundle pins the code: one changed line of features.py after
training makes `serve` refuse the model (exit 2), naming the file; a champion trained with
older code is judged with that code.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from mlgate.adapters.mlflow import open_registry
from mlgate.cli import main
from tests.integration.serve.conftest import ServerFactory, free_port
from tests.teamproject import write_team_project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The team's project, trained, gated and registered once for the module."""
    root = write_team_project(tmp_path_factory.mktemp("team") / "team")
    assert main(["run", "--config", str(root)]) == 0
    return root


def test_the_teams_own_tests_pass(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_bundle_records_the_code_it_was_trained_with(project: Path) -> None:
    meta = json.loads((project / "models" / "model" / "mlgate.json").read_text())
    code = meta["code"]
    assert code["package"] == "teamfeat"
    assert code["location"] == "src/teamfeat"
    assert code["version"] == "1.2.0"
    assert sorted(code["files"]) == [
        "teamfeat/__init__.py",
        "teamfeat/features.py",
        "teamfeat/pipeline.py",
    ]
    assert "lightgbm" in code["requires"]
    assert meta["estimator"] == "lightgbm.sklearn.LGBMClassifier"
    assert meta["params"]["n_estimators"] == 40
    gate = json.loads((project / "models" / "model" / "gate.json").read_text())
    assert gate["passed"] is True
    # The registry's version says which code built it.
    client = MlflowClient(tracking_uri=open_registry(project).tracking_uri)
    (version,) = client.search_model_versions("name='churn'")
    assert version.tags["mlgate.lineage.code_package"] == "teamfeat"
    assert version.tags["mlgate.lineage.code_digest"] == code["digest"]
    assert version.tags["mlgate.lineage.code_version"] == "1.2.0"


def test_serve_answers_raw_rows_of_the_training_file(project: Path, serve: ServerFactory) -> None:
    with (project / "data" / "churn.csv").open() as fh:
        rows = [dict(r) for _, r in zip(range(5), csv.DictReader(fh), strict=False)]
    # As read from the file: every value a string, the target and the id included.
    server = serve(project / "models" / "model", "--config", str(project))
    answer = httpx.post(f"{server.url}/predict", json={"instances": rows}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["predictions"]) == 5
    assert set(body["predictions"]) <= {0, 1}
    assert httpx.get(f"{server.url}/metadata").json()["runtime"] == "sklearn"


def test_one_changed_line_of_the_code_makes_serve_refuse_the_model(project: Path) -> None:
    features = project / "src" / "teamfeat" / "features.py"
    original = features.read_text()
    features.write_text(original.replace("clip(lower=self.floor)", "clip(lower=2 * self.floor)"))
    bundle = str(project / "models" / "model")
    argv = ["serve", bundle, "--config", str(project), "--port", str(free_port())]
    try:
        # A server that started anyway would run until the timeout fails the test.
        done = subprocess.run(
            [sys.executable, "-m", "mlgate", *argv],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    finally:
        features.write_text(original)
    err = done.stderr
    assert done.returncode == 2, err
    assert "teamfeat/features.py (changed)" in err
    assert "not the code the model was trained with" in err
    assert "--allow-code-drift" in err


def test_the_champion_is_judged_with_the_code_it_was_trained_with(
    project: Path, tmp_path: Path
) -> None:
    team = tmp_path / "team"
    shutil.copytree(project, team)
    first = json.loads((team / "reports" / "gate.json").read_text())["challenger"]
    assert main(["promote", "1", "--config", str(team), "--reason", "first model"]) == 0
    # The team changes its feature code: the champion's code is no longer the project's.
    features = team / "src" / "teamfeat" / "features.py"
    features.write_text(features.read_text().replace("lower=self.floor", "lower=12 * self.floor"))
    # A process of its own, as in CI: this one imported the fixture project's teamfeat.
    done = subprocess.run(
        [sys.executable, "-m", "mlgate", "run", "--no-register", "--config", str(team)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # a verdict, whichever it is
    gate = json.loads((team / "reports" / "gate.json").read_text())
    # Re-evaluated on the same holdout with its own code, the champion scores exactly what it
    # scored when it was trained; the challenger, with the new code, differs.
    assert gate["champion"]["metrics"] == first
    assert gate["challenger"] != first


def test_code_from_bundle_serves_the_code_it_was_gated_with(
    project: Path, serve: ServerFactory
) -> None:
    # What a local release does for the champion beside a candidate trained with newer code.
    features = project / "src" / "teamfeat" / "features.py"
    original = features.read_text()
    features.write_text(original.replace("clip(lower=self.floor)", "clip(lower=2 * self.floor)"))
    try:
        bundle = project / "models" / "model"
        server = serve(bundle, "--config", str(project), "--code-from-bundle")
        with (project / "data" / "churn.csv").open() as fh:
            rows = [next(csv.DictReader(fh))]
        answer = httpx.post(f"{server.url}/predict", json={"instances": rows}, timeout=30)
    finally:
        features.write_text(original)
    assert answer.status_code == 200, answer.text
    assert "teamfeat/features.py" not in server.log_path.read_text()
