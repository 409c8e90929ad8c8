"""`pipeline.run`: validate -> train -> gate in one process, stopping at the first failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.app import pipeline
from mlgate.core.config import Project
from mlgate.store import bundle
from mlgate.store.locking import lock_path
from mlgate.store.project import load_project
from tests.unit.app.fakes import (
    REACHABLE_GATE,
    UNREACHABLE_GATE,
    cheap_demo,
    copy_project,
    edit,
)

pytestmark = pytest.mark.unit

# Most of the demo's customers are over 30: a schema capping age at 30 fails the data gate.
OUT_OF_RANGE = ("  min: 0.0\n  max: 270.0\n", "  min: 0.0\n  max: 30.0\n")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cheap demo, untrained; tests copy it."""
    root = tmp_path_factory.mktemp("pipeline") / "demo"
    cheap_demo(root)
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Project:
    """A private copy of the untrained demo."""
    return copy_project(template, tmp_path / "demo")


def test_a_passing_run_gates_the_model_it_just_trained(project: Project) -> None:
    said: list[str] = []
    result = pipeline.run(project, progress=said.append)
    assert [(s.name, s.status) for s in result.stages] == [
        ("validate", "passed"),
        ("train", "passed"),
        ("gate", "passed"),
    ]
    assert result.passed
    assert result.validation is not None
    assert result.training is not None
    assert result.gate is not None
    # The gate judged the bundle training wrote, on the holdout training used.
    judged = bundle.load_bundle(project.bundle_dir)
    assert result.gate.bundle_digest == judged.content_digest
    assert result.gate.holdout_rows == result.training.meta.data.holdout_rows
    assert result.gate.challenger == result.training.meta.metrics
    validation = json.loads((project.reports_dir / "validation.json").read_text())
    assert validation["passed"] is True
    assert said == ["loading data", "validating data", "training", "evaluating and gating"]
    assert result.to_dict()["bundle"] == str(project.bundle_dir)


def test_a_failed_data_gate_skips_training_and_gating(project: Project) -> None:
    edit(project.root, *OUT_OF_RANGE, file="schema.yaml")
    result = pipeline.run(load_project(project.root))
    assert [(s.name, s.status, s.detail) for s in result.stages[1:]] == [
        ("train", "skipped", "data gate failed"),
        ("gate", "skipped", "data gate failed"),
    ]
    assert result.stages[0].status == "failed"
    assert "schema violation" in result.stages[0].detail
    assert not result.passed
    assert result.training is None
    assert result.gate is None
    assert not project.bundle_dir.exists()
    # What the data gate found stays for inspection.
    validation = json.loads((project.reports_dir / "validation.json").read_text())
    assert validation["passed"] is False


def test_a_failed_quality_gate_fails_the_run_naming_the_metric(project: Project) -> None:
    edit(project.root, REACHABLE_GATE, UNREACHABLE_GATE)
    result = pipeline.run(load_project(project.root))
    gate = result.stages[-1]
    assert (gate.name, gate.status) == ("gate", "failed")
    assert "roc_auc" in gate.detail
    assert "0.999" in gate.detail
    assert not result.passed
    assert result.gate is not None
    assert result.gate.passed is False
    # The bundle stays, with the verdict that refused it.
    assert bundle.load_bundle(project.bundle_dir).gate_report() == result.gate


def test_train_project_removes_leftovers_of_killed_runs(project: Project) -> None:
    leftover = project.bundle_dir.parent / f".model{bundle.STAGING_MARK}killed"
    leftover.mkdir(parents=True)
    (leftover / "model.skops").write_bytes(b"half written")
    result = pipeline.train_project(project)
    assert not leftover.exists()
    assert sorted(p.name for p in project.bundle_dir.parent.iterdir()) == [
        lock_path(project).name,
        "model",
    ]
    assert bundle.verify(result.bundle_dir)
