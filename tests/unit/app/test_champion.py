"""The model to beat: the registry's champion as a verified local copy, or the bundle that
`evaluation.champion_bundle` names."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlgate.adapters.mlflow import RunContext
from mlgate.app.champion import (
    NO_CHAMPION_NOTE,
    bundle_champion,
    champion_for_gate,
    no_champion_note,
)
from mlgate.app.gate import run_gate
from mlgate.app.train import train
from mlgate.core.config import Project
from mlgate.errors import UsageError
from mlgate.store import bundle
from mlgate.store.project import load_project
from mlgate.store.trust import Trust
from tests.unit.app.fakes import FakeRegistry, cheap_demo, registry_with_champion

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The cheap demo, trained and gated once: what the fake registry holds."""
    project = cheap_demo(tmp_path_factory.mktemp("champion") / "demo")
    train(project)
    run_gate(project)
    return project


def test_no_champion_before_the_model_is_registered(gated: Project, tmp_path: Path) -> None:
    registry = FakeRegistry()
    assert champion_for_gate(registry, gated.config.name, tmp_path) == (None, None)
    assert registry.methods == ["get_alias"]
    assert list(tmp_path.iterdir()) == []


def test_no_champion_while_only_a_challenger_is_registered(gated: Project, tmp_path: Path) -> None:
    registry = FakeRegistry()
    report = bundle.load_bundle(gated.bundle_dir).gate_report()
    assert report is not None
    registry.register(gated.bundle_dir, report, RunContext(actor="test", source="test"))
    registry.calls.clear()
    assert champion_for_gate(registry, gated.config.name, tmp_path) == (None, None)
    assert registry.methods == ["get_alias"]
    assert list(tmp_path.iterdir()) == []


def test_the_champion_is_a_verified_copy_in_the_workdir(gated: Project, tmp_path: Path) -> None:
    registry = registry_with_champion(gated)
    trust = Trust()
    info, champion = champion_for_gate(registry, gated.config.name, tmp_path, trust)
    assert info is not None
    assert champion is not None
    assert info.version == 1
    assert champion.label == "champion v1"
    assert champion.trust is trust
    assert champion.bundle_dir.is_relative_to(tmp_path)
    copy = bundle.load_bundle(champion.bundle_dir)
    assert copy.digests == bundle.load_bundle(gated.bundle_dir).digests
    assert registry.methods == ["get_alias", "download"]


def test_bundle_champion_is_none_without_the_key(gated: Project) -> None:
    assert gated.config.evaluation.champion_bundle is None
    assert bundle_champion(gated) is None


def _with_champion_bundle(project: Project, tmp_path: Path, value: str) -> Project:
    root = tmp_path / "demo"
    shutil.copy2(project.root / "mlgate.yaml", root / "mlgate.yaml")
    config = root / "mlgate.yaml"
    text = config.read_text().replace("evaluation:\n", f"evaluation:\n  champion_bundle: {value}\n")
    config.write_text(text)
    return load_project(root)


def test_bundle_champion_resolves_the_key_against_the_project(
    gated: Project, tmp_path: Path
) -> None:
    (tmp_path / "demo" / "champions" / "v7").mkdir(parents=True)
    project = _with_champion_bundle(gated, tmp_path, "champions/v7")
    trust = Trust()
    champion = bundle_champion(project, trust)
    assert champion is not None
    assert champion.bundle_dir == project.root / "champions" / "v7"
    assert champion.label == "champion bundle champions/v7"
    assert champion.trust is trust


def test_bundle_champion_refuses_a_missing_directory_naming_the_key(
    gated: Project, tmp_path: Path
) -> None:
    (tmp_path / "demo").mkdir()
    project = _with_champion_bundle(gated, tmp_path, "champions/v7")
    with pytest.raises(UsageError) as caught:
        bundle_champion(project)
    assert caught.value.message.startswith("evaluation.champion_bundle:")
    assert str(project.root / "champions" / "v7") in caught.value.message
    assert caught.value.hint is not None
    assert "dvc pull" in caught.value.hint


def test_no_champion_note_names_the_gates_that_did_not_run(gated: Project) -> None:
    note = no_champion_note(gated, "fake://registry")
    assert note.startswith(f"{NO_CHAMPION_NOTE} (fake://registry)")
    # The demo has one champion gate (roc_auc, min_absolute_change) beside two baseline gates.
    assert "the champion gate(s) on roc_auc did not run" in note
    assert "evaluation.champion_bundle" in note
