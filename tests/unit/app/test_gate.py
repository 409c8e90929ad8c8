"""`run_gate` and `gate_project`: the verdict on the trained bundle, written once in two places,
and which champion it is judged against."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.app.gate import gate_project, run_gate
from mlgate.app.train import train
from mlgate.core.config import Project
from mlgate.core.records.gate import GateReport
from mlgate.errors import DataError
from mlgate.store import bundle
from mlgate.store.locking import SCRATCH_PREFIX
from mlgate.store.project import load_project
from tests.unit.app.fakes import (
    REACHABLE_GATE,
    UNREACHABLE_GATE,
    FakeRegistry,
    cheap_demo,
    copy_project,
    edit,
    registry_with_champion,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cheap demo, trained once, not gated; tests copy it."""
    root = tmp_path_factory.mktemp("gate") / "demo"
    train(cheap_demo(root))
    return root


@pytest.fixture(scope="module")
def gated(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A gated copy of `trained`: the champion the registry tests download."""
    project = copy_project(trained, tmp_path_factory.mktemp("gated") / "demo")
    run_gate(project)
    return project


@pytest.fixture
def project(trained: Path, tmp_path: Path) -> Project:
    """A private copy of the trained project."""
    return copy_project(trained, tmp_path / "demo")


def test_run_gate_writes_the_same_report_bytes_to_reports_and_the_bundle(
    project: Project,
) -> None:
    report = run_gate(project)
    assert report.passed
    in_reports = (project.reports_dir / "gate.json").read_bytes()
    assert (project.bundle_dir / bundle.GATE_FILE).read_bytes() == in_reports
    assert GateReport.loads(in_reports) == report
    # Re-sealed with the verdict in it, and the verdict names the bundle it judged.
    reopened = bundle.load_bundle(project.bundle_dir)
    assert bundle.GATE_FILE in reopened.digests
    assert report.bundle_digest == reopened.content_digest
    assert reopened.gate_report() == report


def test_run_gate_without_write_leaves_every_file_alone(project: Project) -> None:
    before = bundle.verify(project.bundle_dir)
    report = run_gate(project, write=False)
    assert report.passed
    assert bundle.verify(project.bundle_dir) == before
    assert not (project.reports_dir / "gate.json").exists()
    assert not project.metrics_path.exists()


def test_run_gate_refuses_a_holdout_whose_fingerprint_changed(project: Project) -> None:
    edit(project.root, "seed: 42", "seed: 43")
    with pytest.raises(DataError) as caught:
        run_gate(load_project(project.root))
    assert "holdout differs" in caught.value.message
    assert "the data or the split config changed" in caught.value.message
    assert caught.value.hint is not None
    assert "mlgate train" in caught.value.hint
    assert bundle.GATE_FILE not in bundle.verify(project.bundle_dir)
    assert not (project.reports_dir / "gate.json").exists()


def test_a_failing_gate_returns_passed_false_and_records_the_verdict(project: Project) -> None:
    edit(project.root, REACHABLE_GATE, UNREACHABLE_GATE)
    report = run_gate(load_project(project.root))
    assert report.passed is False
    assert len(report.failures) == 1
    assert "roc_auc" in report.failures[0]
    assert "0.999" in report.failures[0]
    assert GateReport.loads((project.reports_dir / "gate.json").read_bytes()) == report
    assert bundle.load_bundle(project.bundle_dir).gate_report() == report


def test_gate_project_judges_against_the_registry_champion(
    project: Project, gated: Project
) -> None:
    registry = registry_with_champion(gated)
    report = gate_project(project, registry=registry)
    assert report.champion_label == "champion v1"
    assert report.champion_metrics is not None
    assert registry.methods == ["get_alias", "download"]
    # The downloaded copy lived in a scratch directory that is gone.
    assert not list(project.bundle_dir.parent.glob(SCRATCH_PREFIX + "*"))


def test_gate_project_prefers_champion_bundle_over_the_registry(
    project: Project, gated: Project
) -> None:
    registry = registry_with_champion(gated)
    report = gate_project(project, champion_bundle=gated.bundle_dir, registry=registry)
    assert report.champion_label == str(gated.bundle_dir)
    assert registry.calls == []


def test_gate_project_without_the_registry_applies_the_thresholds_alone(
    project: Project, gated: Project
) -> None:
    registry = registry_with_champion(gated)
    report = gate_project(project, registry=registry, use_registry=False)
    assert report.champion is None
    assert registry.calls == []


def test_gate_project_before_any_registration_has_no_champion(project: Project) -> None:
    registry = FakeRegistry()
    report = gate_project(project, registry=registry)
    assert report.passed
    assert report.champion is None
    assert registry.methods == ["get_alias"]
