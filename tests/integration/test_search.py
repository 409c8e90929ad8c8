"""`model.search` on the demo: a 12-trial search sampled from a bigger grid passes the run, its
trial table is in mlgate.json, the report and the registry run, and the gate judges the
winner's holdout metric; no trial sees the holdout (poisoning the holdout rows leaves every
trial's score as it was); a bad value in the grid is exit 2 naming the key, nothing written.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlgate.app.scaffold import init_demo
from mlgate.cli import main
from mlgate.model.target import labelled_rows
from mlgate.model.train import feature_specs, final_estimator, resolve_task, split_data
from mlgate.store.bundle import load_bundle
from mlgate.store.files import read_schema
from mlgate.store.project import load_project
from mlgate.store.tables import load_table
from mlgate.store.trust import project_trust

pytestmark = pytest.mark.integration

ROWS = 1200
GRID = "      max_depth: [3, 5, 8, 12]\n      min_samples_leaf: [1, 5, 10, 20]\n"  # 16 points


def _edit(root: Path, old: str, new: str) -> None:
    path = root / "mlgate.yaml"
    text = path.read_text()
    assert old in text, f"{old!r} not in mlgate.yaml"
    path.write_text(text.replace(old, new))


def _searching(root: Path) -> None:
    """Ten trees, no threshold tuning, the f1 margin dropped (1200 rows), a 12-trial search."""
    _edit(root, "    n_estimators: 100\n", "    n_estimators: 10\n")
    _edit(root, "  imbalance: auto", "  imbalance: none")
    _edit(root, "  - metric: f1\n    min_gain_over_baseline: 0.05\n", "")
    search = f"  search:\n    params:\n{GRID}    trials: 12\n    folds: 3\n    n_jobs: 2\n"
    _edit(root, "    n_jobs: -1\n", f"    n_jobs: 1\n{search}")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search") / "template"
    init_demo(root, rows=ROWS)
    _searching(root)
    return root


def _copy(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def _meta(root: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((root / "models" / "model" / "mlgate.json").read_text())
    return meta


@pytest.fixture(scope="module")
def searched(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `mlgate run` (registering) of the 12-trial search, for the tests that read it."""
    root = _copy(template, tmp_path_factory.mktemp("searched") / "demo")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", "--config", str(root)])
    assert code == 0
    (root / "run.log").write_text(out.getvalue())
    return root


def test_a_sampled_search_passes_and_the_gate_judges_the_winner(searched: Path) -> None:
    meta = _meta(searched)
    search = meta["search"]
    assert (len(search["trials"]), search["grid_size"], search["sampled"]) == (12, 16, True)
    assert search["metric"] == "roc_auc"  # the first gate's
    assert all(len(t["scores"]) == 3 for t in search["trials"])
    means = [t["mean"] for t in search["trials"]]
    assert means[search["winner"]] == max(means)
    won = search["trials"][search["winner"]]["params"]
    assert {k: meta["params"][k] for k in won} == won  # recorded as the winner's
    model = load_bundle(searched / "models" / "model").load_model()
    fitted = final_estimator(model).get_params()
    assert {k: fitted[k] for k in won} == won  # and fitted with its values
    log = (searched / "run.log").read_text().splitlines()
    lines = [line for line in log if "] search trial " in line and line.endswith(" ...")]
    assert [line.split("search trial ")[1].split(" ")[0] for line in lines] == [
        f"{i}/12" for i in range(1, 13)
    ]  # a progress line per trial, in order
    assert "(max_depth=3, min_samples_leaf=1): roc_auc 0." in lines[0]
    gate = json.loads((searched / "reports" / "gate.json").read_text())
    assert gate["challenger"]["roc_auc"] == meta["metrics"]["roc_auc"]  # its holdout metric


def test_the_trial_table_is_in_the_report_and_the_registry_run(
    searched: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["report", "--config", str(searched)]) == 0
    report = capsys.readouterr().out
    assert "### Hyperparameter search" in report
    assert "12 trials (sampled from a grid of 16), roc_auc on 3 cross-validation folds" in report
    rows = [line for line in report.splitlines() if "`max_depth=" in line]
    assert len(rows) == 12
    assert rows[0].startswith("| 🏆 |")  # best first
    logged = list((searched / "mlruns").rglob("search/trials.json"))
    assert len(logged) == 1
    assert json.loads(logged[0].read_text()) == _meta(searched)["search"]


def _holdout_index(root: Path) -> pd.Index:
    project = load_project(root)
    config, frame = project.config, load_table(project.data_path)
    features = feature_specs(config, read_schema(project.schema_path), frame)
    labelled, _ = labelled_rows(config, frame)
    task = resolve_task(config, labelled[config.data.target])
    return split_data(config, task, labelled, features).x_test.index


def _poison_holdout(root: Path) -> None:
    """Absurd features on the holdout rows alone; labels stay, so the split is the same rows."""
    data = root / "data" / "churn.csv"
    frame = pd.read_csv(data)
    holdout = _holdout_index(root)
    numbers = [c for c in frame.select_dtypes("number").columns if c != "churned"]
    rng = np.random.default_rng(0)
    frame.loc[holdout, numbers] = rng.integers(-(10**6), 10**6, size=(len(holdout), len(numbers)))
    frame.to_csv(data, index=False)
    assert _holdout_index(root).equals(holdout)


def test_no_trial_sees_the_holdout(template: Path, searched: Path, tmp_path: Path) -> None:
    root = _copy(template, tmp_path / "poisoned")
    _poison_holdout(root)
    assert main(["train", "--config", str(root)]) == 0
    clean, poisoned = _meta(searched), _meta(root)
    assert poisoned["data"]["holdout_fingerprint"] != clean["data"]["holdout_fingerprint"]
    assert poisoned["metrics"]["roc_auc"] != clean["metrics"]["roc_auc"]  # the holdout changed
    assert poisoned["search"] == clean["search"]  # and no trial's score did


def test_a_bad_value_in_the_grid_is_exit_2_naming_it_and_nothing_is_written(
    template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(template, tmp_path / "bad")
    _edit(root, GRID, "      max_depth: [3, -1]\n")
    capsys.readouterr()
    code = main(["run", "--config", str(root)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "model.search.params.max_depth: RandomForestClassifier rejects -1" in err
    assert "search trial 2 of 2: max_depth=-1" in err
    assert "Traceback" not in err
    assert not (root / "models" / "model").exists()
    database = root / "mlruns" / "mlflow.db"
    if database.exists():
        with sqlite3.connect(database) as db:
            assert db.execute("select count(*) from model_versions").fetchone() == (0,)


def test_a_search_over_the_teams_pipeline_sets_its_keyword_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "code"
    init = ["init", "--demo", "--code", str(root), "--rows", str(ROWS), "--no-dvc"]
    assert main(init) == 0
    _edit(root, "  imbalance: auto", "  imbalance: none")
    grid = "      learning_rate: [0.05, 0.3]\n      max_iter: [10, 30]\n"
    search = f"  search:\n    params:\n{grid}    trials: 12\n    folds: 3\n    n_jobs: 2\n"
    _edit(root, "    max_iter: 200\n", f"    max_iter: 200\n{search}")
    capsys.readouterr()
    assert main(["train", "--config", str(root)]) == 0, capsys.readouterr().err
    meta = _meta(root)
    search_record = meta["search"]
    assert (len(search_record["trials"]), search_record["sampled"]) == (4, False)  # whole grid
    won = search_record["trials"][search_record["winner"]]["params"]
    trust = project_trust(load_project(root))  # where the loader finds the team's code
    fitted = load_bundle(root / "models" / "model", trust=trust).load_model()
    team = final_estimator(fitted).steps[-1][1]  # the team's Pipeline: its estimator
    assert {k: team.get_params()[k] for k in won} == won
