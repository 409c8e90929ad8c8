"""Without `--bundle`, `mlgate monitor` judges the bundle that answered the logged requests: a
registered version the project's own bundle has moved on from is found by its digest and
downloaded; a bundle neither local nor registered is an error naming it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from mlgate.cli import main
from mlgate.serve.predlog import CURRENT
from mlgate.store.bundle import load_bundle
from tests.integration.monitor.conftest import Project
from tests.integration.monitor.test_monitor_server import logged_records
from tests.integration.serve.conftest import ServerFactory, wait_until

pytestmark = pytest.mark.integration


def _monitor(project: Project, logs: Path, out: Path) -> int:
    return main(["monitor", str(logs), "-c", str(project.root), "--out", str(out)])


def test_monitor_judges_the_registered_version_that_served(
    project: Project, serve: ServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-c", str(project.root)]) == 0  # registers v1: the served bundle
    served_dir = tmp_path / "served"
    shutil.copytree(project.bundle, served_dir)
    served = load_bundle(served_dir).version

    logs = tmp_path / "logs"
    server = serve(served_dir, "--log-dir", str(logs))
    # `mlgate demo-data X.json` writes one /predict body, as the README's tour sends it.
    body = tmp_path / "requests.json"
    assert main(["demo-data", str(body), "--rows", "400", "--seed", "5"]) == 0
    answer = httpx.post(
        f"{server.url}/predict",
        content=body.read_bytes(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 400
    wait_until(lambda: logged_records(logs) == 1, 30, "the log to hold the request")
    server.stop()

    # The project's bundle moves on (a retrain on another split) while v1 still serves.
    config = project.root / "mlgate.yaml"
    config.write_text(config.read_text().replace("seed: 42", "seed: 43"))
    assert main(["train", "-c", str(project.root)]) == 0
    assert load_bundle(project.bundle).version != served

    assert _monitor(project, logs, tmp_path / "out") == 0
    report = json.loads((tmp_path / "out" / "monitor.json").read_text())
    assert report["version"] == served
    assert report["observations"]["rows"] == 400

    # A log answered by a bundle that is neither the project's nor registered is refused.
    stray = logs / CURRENT
    stray.write_text(stray.read_text().replace(served, "0123456789ab"))
    capsys.readouterr()
    assert _monitor(project, logs, tmp_path / "stray") == 2
    err = capsys.readouterr().err
    assert "0123456789ab" in err
    assert "--bundle" in err
