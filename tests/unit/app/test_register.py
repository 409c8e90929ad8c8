"""`register_gated`: only a gated bundle is registered, with the verdict its gate wrote into it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.adapters.mlflow import CHALLENGER
from mlgate.app.gate import run_gate
from mlgate.app.register import register_gated
from mlgate.app.train import train
from mlgate.errors import UsageError
from mlgate.store import bundle
from tests.unit.app.fakes import FakeRegistry, cheap_demo, copy_project

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cheap demo, trained once and not gated; tests copy it."""
    root = tmp_path_factory.mktemp("register") / "demo"
    train(cheap_demo(root))
    return root


@pytest.fixture(scope="module")
def gated(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`trained`, gated; tests copy it."""
    root = tmp_path_factory.mktemp("gated") / "demo"
    run_gate(copy_project(trained, root))
    return root


def test_an_ungated_bundle_is_refused_before_the_registry_is_asked(
    trained: Path, tmp_path: Path
) -> None:
    project = copy_project(trained, tmp_path / "demo")
    registry = FakeRegistry()
    with pytest.raises(UsageError) as caught:
        register_gated(project, registry=registry)
    assert "has not been gated (no gate.json)" in caught.value.message
    assert str(project.bundle_dir) in caught.value.message
    assert caught.value.hint is not None
    assert "mlgate gate" in caught.value.hint
    assert registry.calls == []


def test_the_registry_gets_the_bundles_own_gate_report(
    gated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "ci-bot")
    project = copy_project(gated, tmp_path / "demo")
    # reports/gate.json is a copy for people; the registry must get the one sealed in the bundle.
    (project.reports_dir / "gate.json").write_text('{"passed": false}\n')
    registry = FakeRegistry()
    info = register_gated(project, registry=registry)
    judged = bundle.load_bundle(project.bundle_dir)
    [registration] = registry.registrations
    assert registration.gate_report == judged.gate_report()
    assert registration.gate_report.bundle_digest == judged.content_digest
    assert registration.bundle_dir == project.bundle_dir
    assert registration.context.source == "mlgate register"
    assert registration.context.actor == "ci-bot"
    assert [p.name for p in registration.context.artifacts] == ["validation.json", "gate.json"]
    assert registry.methods == ["fail_abandoned_runs", "register"]
    assert info.version == 1
    assert info.aliases == (CHALLENGER,)
    assert registry.aliases(project.config.name) == {CHALLENGER: 1}


def test_the_caller_names_the_source_of_the_registration(gated: Path, tmp_path: Path) -> None:
    project = copy_project(gated, tmp_path / "demo")
    registry = FakeRegistry()
    register_gated(project, registry=registry, source="release job")
    assert registry.registrations[-1].context.source == "release job"
