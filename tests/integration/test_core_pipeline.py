"""The CI/CT core end to end through the CLI: init, validate, train, gate, run."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.cli import main
from mlgate.model.train import split_data
from mlgate.store import demo
from mlgate.store.bundle import load_bundle
from mlgate.store.project import load_project

pytestmark = pytest.mark.integration

Edit = Callable[[Path, str, str], None]


def _cfg(root: Path) -> str:
    return str(root / "mlgate.yaml")


def test_demo_run_passes_and_writes_every_artifact(
    demo_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--config", _cfg(demo_project)]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out
    for stage in ("validate", "train", "gate"):
        assert stage in out
    metrics = json.loads((demo_project / "metrics.json").read_text())
    assert metrics["roc_auc"] > 0.7
    gate = json.loads((demo_project / "reports" / "gate.json").read_text())
    assert gate["passed"] is True
    validation = json.loads((demo_project / "reports" / "validation.json").read_text())
    assert validation["passed"] is True
    bundle = load_bundle(demo_project / "models" / "model")
    assert bundle.meta.task == "binary"
    assert bundle.meta.data.fingerprint.startswith("md5:")
    assert bundle.gate_report() is not None
    assert (demo_project / "models" / "model" / "MLmodel").is_file()


def test_run_json_is_machine_readable(
    demo_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--json", "--config", _cfg(demo_project)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True
    assert [s["name"] for s in data["stages"]] == ["validate", "train", "gate", "register"]
    assert data["registered"]["version"] == 1
    assert data["registered"]["aliases"] == ["challenger"]


def test_threshold_above_reach_fails_with_exit_1_naming_metric(
    demo_project: Path, edit_config: Edit, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    edit_config(
        demo_project,
        "  - metric: roc_auc\n    min_gain_over_baseline: 0.1\n",
        "  - metric: roc_auc\n    threshold: 0.999\n",
    )
    assert main(["gate", "--config", _cfg(demo_project)]) == 1
    err = capsys.readouterr().err
    assert "roc_auc" in err
    assert "0.999" in err
    reached = json.loads((demo_project / "metrics.json").read_text())["roc_auc"]
    assert f"{reached:.4g}" in err


def test_better_champion_fails_the_relative_gate(
    demo_project: Path, edit_config: Edit, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    champion = tmp_path / "champion"
    shutil.copytree(demo_project / "models" / "model", champion)
    # Same data, same config: the challenger equals the champion and passes.
    assert main(["gate", "--champion", str(champion), "--config", _cfg(demo_project)]) == 0
    edit_config(
        demo_project,
        "estimator: sklearn.ensemble.RandomForestClassifier",
        "estimator: sklearn.tree.DecisionTreeClassifier",
    )
    edit_config(
        demo_project,
        "    n_estimators: 100\n    max_depth: 12\n    min_samples_leaf: 2\n    n_jobs: -1\n",
        "    max_depth: 1\n",
    )
    edit_config(demo_project, "min_gain_over_baseline: 0.1", "min_gain_over_baseline: 0.0")
    edit_config(demo_project, "min_gain_over_baseline: 0.05", "min_gain_over_baseline: -1.0")
    capsys.readouterr()
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    assert main(["gate", "--champion", str(champion), "--config", _cfg(demo_project)]) == 1
    err = capsys.readouterr().err
    assert "champion" in err
    assert "roc_auc" in err
    report = json.loads((demo_project / "reports" / "gate.json").read_text())
    assert report["champion"]["metrics"]["roc_auc"] > report["challenger"]["roc_auc"]


def test_validate_passes_fresh_sample_and_fails_drifted_variant(
    demo_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = tmp_path / "fresh.csv"
    drifted = tmp_path / "drifted.csv"
    assert main(["demo-data", str(fresh), "--rows", "3000", "--seed", "99"]) == 0
    assert main(["demo-data", str(drifted), "--rows", "3000", "--seed", "99", "--drift"]) == 0
    capsys.readouterr()
    assert main(["validate", "--data", str(fresh), "--config", _cfg(demo_project)]) == 0
    assert main(["validate", "--data", str(drifted), "--config", _cfg(demo_project)]) == 1
    captured = capsys.readouterr()
    for feature in demo.DRIFTED_FEATURES:
        assert feature in captured.err
    report = json.loads((demo_project / "reports" / "validation.json").read_text())
    assert report["passed"] is False
    drifted_cols = {c["column"] for c in report["drift"]["columns"] if c["drifted"]}
    assert set(demo.DRIFTED_FEATURES) <= drifted_cols
    assert "region" not in drifted_cols


@pytest.mark.parametrize(
    ("mutate", "column", "needle"),
    [
        (lambda f: f.drop(columns=["age"]), "age", "missing"),
        (
            lambda f: f.assign(
                monthly_charges=f["monthly_charges"].astype(object).where(f.index != 5, "lots")
            ),
            "monthly_charges",
            "lots",
        ),
        (
            lambda f: f.assign(support_calls=f["support_calls"].where(f.index != 3, 10_000)),
            "support_calls",
            "10000",
        ),
        # Open categories: one new value is noise; most rows holding new ones is not.
        (
            lambda f: f.assign(contract=f["contract"].where(f.index % 4 == 0, "lifetime")),
            "contract",
            "lifetime",
        ),
        # A null is a missing-rate change: half the rows losing a value fails.
        (
            lambda f: f.assign(region=f["region"].where(f.index % 2 == 0, None)),
            "region",
            "missing in 50.0% of rows",
        ),
    ],
    ids=["missing-column", "wrong-type", "out-of-range", "unseen-categories", "missing-values"],
)
def test_schema_violations_are_each_named(
    demo_project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Callable[[pd.DataFrame], pd.DataFrame],
    column: str,
    needle: str,
) -> None:
    frame = demo.generate(500, seed=3)
    bad = tmp_path / "bad.csv"
    mutate(frame).to_csv(bad, index=False)
    capsys.readouterr()
    assert main(["validate", "--data", str(bad), "--config", _cfg(demo_project)]) == 1
    err = capsys.readouterr().err
    assert column in err
    assert needle in err


def test_two_trainings_give_identical_holdout_predictions(
    demo_project: Path, tmp_path: Path
) -> None:
    project = load_project(demo_project)
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    first = tmp_path / "first"
    shutil.copytree(project.bundle_dir, first)
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    a, b = load_bundle(first), load_bundle(project.bundle_dir)
    frame = pd.read_csv(project.data_path)
    split = split_data(project.config, a.meta.task, frame, a.schema.features)
    assert a.meta.data.holdout_fingerprint == b.meta.data.holdout_fingerprint
    np.testing.assert_array_equal(
        a.load_model().predict_proba(split.x_test), b.load_model().predict_proba(split.x_test)
    )


def test_tampered_or_partial_bundle_is_refused(
    demo_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    model = demo_project / "models" / "model" / "model.skops"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["gate", "--config", _cfg(demo_project)]) == 2
    assert "model.skops does not match its checksum" in capsys.readouterr().err
    assert not (demo_project / "metrics.json").exists()

    assert main(["train", "--config", _cfg(demo_project)]) == 0
    (demo_project / "models" / "model" / "profile.json").unlink()
    capsys.readouterr()
    assert main(["gate", "--config", _cfg(demo_project)]) == 2
    assert "missing file profile.json" in capsys.readouterr().err


def _no_partial_bundle(root: Path) -> None:
    models = root / "models"
    # The project lock's file stays by design (`mlgate.store.locking`): it holds no output.
    leftovers = (
        [p.name for p in models.iterdir() if p.name != ".mlgate.lock"] if models.exists() else []
    )
    assert leftovers == [] or leftovers == ["model"], leftovers
    assert not [p for p in leftovers if "staging" in p]


def test_missing_data_file_exits_2_naming_the_path(
    demo_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (demo_project / "data" / "churn.csv").unlink()
    assert main(["train", "--config", _cfg(demo_project)]) == 2
    err = capsys.readouterr().err
    assert "churn.csv" in err
    assert not (demo_project / "models" / "model").exists()
    _no_partial_bundle(demo_project)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_data_file_exits_2(
    demo_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (demo_project / "data" / "churn.csv").chmod(0)
    assert main(["train", "--config", _cfg(demo_project)]) == 2
    assert "churn.csv" in capsys.readouterr().err


def test_garbage_data_file_exits_2_and_leaves_nothing_partial(
    demo_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (demo_project / "data" / "churn.csv").write_bytes(b"\x00\xff\x00garbage\n\x01")
    assert main(["run", "--config", _cfg(demo_project)]) == 2
    assert "churn.csv" in capsys.readouterr().err
    _no_partial_bundle(demo_project)


def test_training_crash_leaves_previous_bundle_intact(
    demo_project: Path, edit_config: Edit, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    before = (demo_project / "models" / "model" / "SHA256SUMS").read_text()
    edit_config(demo_project, "n_estimators: 100", "n_estimators: -5")
    assert main(["train", "--config", _cfg(demo_project)]) == 2
    assert "model.params" in capsys.readouterr().err
    assert (demo_project / "models" / "model" / "SHA256SUMS").read_text() == before
    _no_partial_bundle(demo_project)
    load_bundle(demo_project / "models" / "model")


def test_unknown_estimator_param_names_the_key(
    demo_project: Path, edit_config: Edit, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_config(demo_project, "n_estimators: 100", "n_estimatorz: 100")
    assert main(["train", "--config", _cfg(demo_project)]) == 2
    err = capsys.readouterr().err
    assert "model.params" in err
    assert "n_estimatorz" in err


def test_init_refuses_to_overwrite_without_force(
    demo_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--demo", str(demo_project)]) == 2
    assert "--force" in capsys.readouterr().err


def test_console_script_runs_the_demo_end_to_end(tmp_path: Path) -> None:
    """What `make demo` does, through the installed `mlgate` entry point."""
    import subprocess
    import sys

    mlgate = Path(sys.executable).with_name("mlgate")
    init = subprocess.run(
        [str(mlgate), "init", "--demo", "demo"], cwd=tmp_path, capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr
    run = subprocess.run(
        [str(mlgate), "run"], cwd=tmp_path / "demo", capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "PASSED: churn" in run.stdout


def test_schema_infer_rewrites_schema_and_profile(
    demo_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = demo_project / "schema.yaml"
    profile = demo_project / "reference" / "profile.json"
    schema.unlink()
    profile.unlink()
    assert main(["train", "--config", _cfg(demo_project)]) == 2
    assert "mlgate schema infer" in capsys.readouterr().err
    assert main(["schema", "infer", "--config", _cfg(demo_project)]) == 0
    assert schema.is_file()
    assert profile.is_file()
    assert main(["train", "--config", _cfg(demo_project)]) == 0


def test_onnx_export_follows_the_config(demo_project: Path, edit_config: Edit) -> None:
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    bundle = load_bundle(demo_project / "models" / "model")
    assert bundle.meta.runtimes == ("sklearn", "onnx")
    assert bundle.onnx_path is not None
    edit_config(demo_project, "  params:\n", "  onnx: never\n  params:\n")
    assert main(["train", "--config", _cfg(demo_project)]) == 0
    bundle = load_bundle(demo_project / "models" / "model")
    assert bundle.meta.runtimes == ("sklearn",)
    assert bundle.onnx_path is None
