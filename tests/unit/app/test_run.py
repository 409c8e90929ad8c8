"""`run_with_registry`: champion -> validate -> train -> gate -> register, as one governed release.

Only a run whose every stage passed is registered, only `challenger` moves, and a registry that
cannot be reached stops the run before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.adapters.mlflow import CHALLENGER, CHAMPION
from mlgate.app.champion import NO_CHAMPION_NOTE
from mlgate.app.pipeline import StageResult
from mlgate.app.run import run_with_registry
from mlgate.core.config import Project
from mlgate.errors import InfraError, UsageError
from mlgate.store import bundle
from mlgate.store.locking import SCRATCH_PREFIX, lock_path
from mlgate.store.project import load_project
from tests.unit.app.fakes import (
    REACHABLE_GATE,
    UNREACHABLE_GATE,
    FakeRegistry,
    cheap_demo,
    copy_project,
    edit,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cheap demo, untrained; tests copy it."""
    root = tmp_path_factory.mktemp("run") / "demo"
    cheap_demo(root)
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A private copy of the untrained demo, run by the CI actor `ci-bot`."""
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    return copy_project(template, tmp_path / "demo")


def _stages(stages: list[StageResult]) -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in stages]


def test_a_passing_run_registers_the_judged_bundle_as_challenger(project: Project) -> None:
    registry = FakeRegistry(abandoned=["run-of-a-dead-process"])
    outcome = run_with_registry(project, registry=registry)
    assert outcome.passed
    assert _stages(outcome.run.stages) == [
        ("validate", "passed"),
        ("train", "passed"),
        ("gate", "passed"),
        ("register", "passed"),
    ]
    assert registry.methods == ["check_reachable", "fail_abandoned_runs", "get_alias", "register"]
    # Only `challenger` moves: promotion is a separate decision.
    assert registry.aliases(project.config.name) == {CHALLENGER: 1}
    assert outcome.registered is not None
    assert outcome.registered.version == 1
    [registration] = registry.registrations
    assert registration.gate_report == outcome.run.gate
    assert (
        registration.gate_report.bundle_digest
        == bundle.load_bundle(project.bundle_dir).content_digest
    )
    assert registration.context.source == "mlgate run"
    assert registration.context.actor == "ci-bot"
    assert "marked 1 registration(s) of dead processes FAILED" in outcome.notes
    assert any(note.startswith(NO_CHAMPION_NOTE) for note in outcome.notes)
    assert outcome.champion is None
    assert "v1 -> alias challenger (fake://registry)" in outcome.run.stages[-1].detail


def test_the_next_run_is_gated_against_the_champion_and_leaves_it_in_place(
    project: Project,
) -> None:
    registry = FakeRegistry()
    run_with_registry(project, registry=registry)
    registry.promote(project.config.name, None, reason="first release", actor="lead")
    registry.calls.clear()
    outcome = run_with_registry(project, registry=registry)
    assert outcome.passed
    assert outcome.champion is not None
    assert outcome.champion.version == 1
    assert outcome.run.gate is not None
    assert outcome.run.gate.champion_label == "champion v1"
    assert registry.aliases(project.config.name) == {CHAMPION: 1, CHALLENGER: 2}
    assert "promote" not in registry.methods
    assert not any(note.startswith(NO_CHAMPION_NOTE) for note in outcome.notes)
    # The champion's copy lived in a scratch directory that is gone.
    assert not list(project.bundle_dir.parent.glob(SCRATCH_PREFIX + "*"))


def test_a_failed_gate_registers_nothing_and_says_why(project: Project) -> None:
    edit(project.root, REACHABLE_GATE, UNREACHABLE_GATE)
    registry = FakeRegistry()
    outcome = run_with_registry(load_project(project.root), registry=registry)
    assert not outcome.passed
    assert _stages(outcome.run.stages)[-2:] == [("gate", "failed"), ("register", "skipped")]
    assert outcome.run.stages[-1].detail == "a gate failed: nothing registered"
    assert outcome.registered is None
    assert "register" not in registry.methods
    assert registry.aliases(project.config.name) == {}


def test_without_register_the_run_is_gated_but_the_registry_is_not_written(
    project: Project,
) -> None:
    registry = FakeRegistry(abandoned=["run-of-a-dead-process"])
    outcome = run_with_registry(project, registry=registry, register=False)
    assert outcome.passed
    assert outcome.run.stages[-1].name == "register"
    assert outcome.run.stages[-1].status == "skipped"
    assert outcome.run.stages[-1].detail == "--no-register"
    assert outcome.registered is None
    # Read-only: the champion is looked up, nothing is marked or registered.
    assert registry.methods == ["check_reachable", "get_alias"]


def test_an_unreachable_registry_stops_the_run_before_any_file_is_written(
    project: Project,
) -> None:
    registry = FakeRegistry(unreachable=InfraError("registry at fake://registry is down"))
    before = sorted(p.relative_to(project.root) for p in project.root.rglob("*"))
    with pytest.raises(InfraError, match="is down"):
        run_with_registry(project, registry=registry)
    assert registry.methods == ["check_reachable"]
    assert not lock_path(project).exists()
    assert not project.bundle_dir.exists()
    assert sorted(p.relative_to(project.root) for p in project.root.rglob("*")) == before


def test_a_missing_champion_bundle_stops_the_run_before_training(project: Project) -> None:
    config = project.root / "mlgate.yaml"
    config.write_text(
        config.read_text().replace("evaluation:\n", "evaluation:\n  champion_bundle: gone\n")
    )
    registry = FakeRegistry()
    with pytest.raises(UsageError, match=r"evaluation\.champion_bundle"):
        run_with_registry(load_project(project.root), registry=registry)
    assert not project.bundle_dir.exists()
    assert "register" not in registry.methods
    assert not list(project.bundle_dir.parent.glob(SCRATCH_PREFIX + "*"))
