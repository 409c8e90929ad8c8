"""`train`: fit the project's Pipeline and write a sealed bundle whose lineage says what made it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.app.train import TrainResult, train
from mlgate.core.config import Project
from mlgate.store import bundle
from mlgate.store.project import load_project
from mlgate.store.tables import fingerprint
from tests.unit.app.fakes import DEMO_ROWS, cheap_demo, copy_project, edit

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cheap demo, untrained, with the default `model.onnx: auto`; tests copy it."""
    root = tmp_path_factory.mktemp("train") / "demo"
    cheap_demo(root)
    edit(root, "  onnx: never\n", "")
    return root


@pytest.fixture(scope="module")
def trained(template: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """One fit of the template, shared by the tests that only read what it wrote."""
    project = copy_project(template, tmp_path_factory.mktemp("trained") / "demo")
    return train(project)


def _project_of(result: TrainResult) -> Project:
    return load_project(result.bundle_dir.parent.parent)


def test_train_writes_a_sealed_bundle_in_place_of_the_staging_copy(trained: TrainResult) -> None:
    project = _project_of(trained)
    assert trained.bundle_dir == project.bundle_dir
    digests = bundle.verify(trained.bundle_dir)
    on_disk = {
        p.relative_to(trained.bundle_dir).as_posix()
        for p in trained.bundle_dir.rglob("*")
        if p.is_file()
    }
    # SHA256SUMS covers every file the bundle holds, and the staging directory is gone.
    assert set(digests) == on_disk - {bundle.SUMS_FILE}
    assert {bundle.META_FILE, bundle.SCHEMA_FILE, bundle.PROFILE_FILE} <= set(digests)
    assert sorted(p.name for p in trained.bundle_dir.parent.iterdir()) == ["model"]
    # Training writes no verdict: the gate does.
    assert bundle.GATE_FILE not in digests


def test_mlgate_json_lineage_names_the_config_hash_and_the_data(trained: TrainResult) -> None:
    project = _project_of(trained)
    meta = json.loads((trained.bundle_dir / bundle.META_FILE).read_text())
    assert meta["config_hash"] == project.config.digest()
    assert meta["config_hash"].startswith("sha256:")
    assert meta["data"]["fingerprint"] == fingerprint(project.data_path)
    assert meta["data"]["rows"] == DEMO_ROWS
    assert meta["data"]["holdout_rows"] == len(trained.split.x_test)
    assert meta["data"]["holdout_fingerprint"] == trained.split.fingerprint
    assert meta["seed"] == project.config.split.seed
    assert meta == trained.meta.model_dump(mode="json")


def test_onnx_auto_keeps_an_exact_export(trained: TrainResult) -> None:
    assert bundle.ONNX_FILE in bundle.verify(trained.bundle_dir)
    assert trained.meta.runtimes == ("sklearn", "onnx")


def test_onnx_never_writes_no_model_onnx(template: Path, tmp_path: Path) -> None:
    project = copy_project(template, tmp_path / "demo")
    edit(project.root, "  imbalance: auto", "  onnx: never\n  imbalance: auto")
    result = train(load_project(project.root))
    assert not (result.bundle_dir / bundle.ONNX_FILE).exists()
    assert bundle.ONNX_FILE not in bundle.verify(result.bundle_dir)
    assert result.meta.runtimes == ("sklearn",)
    written = json.loads((result.bundle_dir / bundle.META_FILE).read_text())
    assert written["runtimes"] == ["sklearn"]
