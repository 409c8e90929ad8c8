"""`model.command`: the team's own training script writes model.onnx; mlgate evaluates it on
its own holdout (which the script never sees), gates it against the registry's champion,
registers and serves it. A script that writes a worse model fails the champion gate; one that
exits non-zero or writes no model.onnx is exit 2 naming what is missing.

The script is `command_train.py` beside this file (scikit-learn + skl2onnx, or onnx.helper):
no torch. One project and one embedded MLflow registry serve the whole module.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from mlgate import cli
from mlgate.adapters.mlflow import TRACKING_URI_ENV, open_registry
from mlgate.errors import UsageError
from mlgate.model.train import split_data
from mlgate.serve.runtime import load_predictor
from mlgate.serve.validate import Batch
from mlgate.store.bundle import MODEL_FILE, ONNX_FILE, load_bundle
from mlgate.store.project import load_project

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).with_name("command_train.py")
TEXT_FEATURES = ("contract", "internet", "payment_method", "region", "paperless_billing")


@dataclass
class Env:
    """The module's project (its registry is the embedded one under it)."""

    root: Path

    @property
    def config(self) -> str:
        return str(self.root / "mlgate.yaml")

    def model(self, section: str) -> None:
        """Replace mlgate.yaml's `model:` section."""
        path = self.root / "mlgate.yaml"
        text = re.sub(r"(?ms)^model:\n.*?\n\n", f"model:\n{section}\n\n", path.read_text(), count=1)
        path.write_text(text)

    def command(self, mode: str, *extra: str, timeout: float | None = None) -> None:
        argv = [sys.executable, str(SCRIPT), "--train", "{train}", "--target", "{target}"]
        argv += ["--out", "{out}", "--mode", mode, *extra]
        section = f"  command: {json.dumps(shlex.join(argv))}"
        if timeout is not None:
            section += f"\n  command_timeout: {timeout}"
        self.model(section)


@pytest.fixture(scope="module")
def env(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("command") / "demo"
    shutil.copytree(demo_template, root)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(TRACKING_URI_ENV, raising=False)
        mp.setenv("GITHUB_ACTOR", "ci-bot")
        yield Env(root)


def mlgate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit code and stderr of `mlgate ARGS` through the real app."""
    capsys.readouterr()
    code = cli.main(list(args))
    return code, capsys.readouterr().err


def _champion_check(root: Path) -> dict[str, object]:
    gate = json.loads((root / "reports" / "gate.json").read_text())
    (check,) = [c for c in gate["checks"] if c["kind"] == "min_absolute_change"]
    assert isinstance(check, dict)
    return check


def test_a_command_model_is_judged_on_mlgates_holdout_registered_and_served(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = env.root / "seen.json"
    env.command("named", "--seen", str(seen))
    code, err = mlgate(capsys, "run", "--config", env.config)
    assert code == 0, err
    assert "command_train: 2400 training rows" in err  # the script's output reaches stderr

    bundle = load_bundle(env.root / "models" / "model")
    assert MODEL_FILE not in bundle.digests
    assert bundle.onnx_only
    record = bundle.meta.command
    assert record is not None
    assert record.exit_status == 0
    assert record.layout == "named"
    onnx_bytes = (bundle.path / ONNX_FILE).read_bytes()
    assert record.onnx_digest == "sha256:" + hashlib.sha256(onnx_bytes).hexdigest()

    # The script saw the training rows only: none of the holdout's.
    project = load_project(Path(env.config))
    frame = pd.read_csv(project.data_path)
    split = split_data(project.config, "binary", frame, bundle.schema.features)
    rows = json.loads(seen.read_text())
    assert len(rows) == len(split.x_train) == bundle.meta.data.train_rows

    def as_rows(x: pd.DataFrame, y: pd.Series) -> list[str]:
        both = pd.concat([x, y], axis=1).astype(object)
        return sorted(repr(r) for r in both.where(both.notna()).values.tolist())

    got = sorted(repr(r) for r in rows)
    assert got == as_rows(split.x_train, split.y_train)
    assert set(got).isdisjoint(as_rows(split.x_test, split.y_test))

    # mlgate's own numbers, recomputed here from the graph, are what the gate recorded.
    gate = json.loads((env.root / "reports" / "gate.json").read_text())
    model = bundle.load_model()
    proba = model.predict_proba(split.x_test)
    assert gate["challenger"]["roc_auc"] == pytest.approx(roc_auc_score(split.y_test, proba[:, 1]))
    assert gate["challenger"]["roc_auc"] > 0.7

    # The registry says where the model came from.
    reg = open_registry(env.root)
    client = MlflowClient(tracking_uri=reg.tracking_uri)
    (version,) = client.search_model_versions("name='churn'")
    assert version.tags["mlgate.lineage.trained_by"] == "model.command"
    assert version.tags["mlgate.lineage.onnx_digest"] == record.onnx_digest

    # Served by ONNX Runtime; scikit-learn has nothing to run.
    predictor = load_predictor(bundle, "auto")
    assert predictor.name == "onnx"
    x = split.x_test.head(3)
    columns_in = {
        f.name: x[f.name].to_numpy(dtype=object if f.kind == "categorical" else np.float64)
        for f in bundle.schema.features
    }
    out = predictor.predict(Batch(columns=columns_in, rows=3, raw=[]), probabilities=True)
    assert out.probabilities is not None
    np.testing.assert_allclose(out.probabilities, proba[:3], atol=1e-6)
    with pytest.raises(UsageError, match="--runtime onnx"):
        load_predictor(bundle, "sklearn")
    code, err = mlgate(capsys, "serve", str(bundle.path), "--runtime", "sklearn")
    assert code == 2
    assert "was trained by model.command and holds only model.onnx" in err

    assert mlgate(capsys, "promote", "--reason", "first", "--config", env.config)[0] == 0


def test_a_worse_command_model_fails_the_champion_gate(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    # The champion is the ONNX-only model of the test above, re-evaluated on this holdout.
    env.command("poor")
    code, err = mlgate(capsys, "run", "--no-register", "--config", env.config)
    assert code == 1, err
    check = _champion_check(env.root)
    assert check["passed"] is False
    assert check["interval"] is not None  # the paired bootstrap ran on both ONNX models

    # A scikit-learn challenger against the ONNX champion: compared on the same rows.
    env.model("  estimator: sklearn.linear_model.LogisticRegression\n  params:\n    max_iter: 300")
    code, err = mlgate(capsys, "run", "--no-register", "--config", env.config)
    assert code == 0, err
    assert _champion_check(env.root)["passed"] is True


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("fail", "exited with status 1"),
        ("hang", "ran past model.command_timeout=2s and was stopped"),
        ("nothing", "wrote no model.onnx into {out} (it wrote: notes.txt)"),
        ("tensor", "one float tensor cannot carry the non-numeric feature(s) " + TEXT_FEATURES[0]),
    ],
)
def test_a_command_that_fails_or_writes_no_model_is_exit_2(
    env: Env,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mode: str,
    said: str,
) -> None:
    # A temporary directory of this test's own: another test process running a command at the
    # same time leaves its own directories in the shared one.
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    sums = env.root / "models" / "model" / "SHA256SUMS"
    bundle_sums = sums.read_bytes() if sums.exists() else None
    env.command(mode, timeout=2 if mode == "hang" else None)
    code, err = mlgate(capsys, "train", "--config", env.config)
    assert code == 2, err
    assert said in err
    # Nothing left behind: no temporary directory, the bundle as it was.
    assert list(own_tmp.iterdir()) == []
    assert (sums.read_bytes() if sums.exists() else None) == bundle_sums


def test_one_float_tensor_takes_numeric_features_and_must_not_answer_nan(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    # The categories out of the model: their role in schema.yaml becomes `ignored`.
    path = env.root / "schema.yaml"
    text = path.read_text()
    edited = text
    for name in TEXT_FEATURES:
        old = f"- name: {name}\n  kind: categorical\n  role: feature\n"
        assert old in edited
        edited = edited.replace(old, old.replace("role: feature", "role: ignored"))
    path.write_text(edited)
    try:
        # NaN in, NaN out: refused before any metric is computed from it.
        env.command("no-impute")
        code, err = mlgate(capsys, "train", "--config", env.config)
        assert code == 2, err
        assert "probabilities are NaN or infinite for" in err
        env.command("tensor")
        code, err = mlgate(capsys, "train", "--config", env.config)
        assert code == 0, err
        bundle = load_bundle(env.root / "models" / "model")
        assert bundle.meta.command is not None
        assert bundle.meta.command.layout == "tensor"
        predictor = load_predictor(bundle, "auto")
        matrix = np.array([[12.0, 70.0, 840.0, 40.0, 1.0], [60.0, 20.0, 1200.0, 35.0, 0.0]])
        names = [f.name for f in bundle.schema.features]
        batch = Batch(
            columns={n: matrix[:, j] for j, n in enumerate(names)}, rows=2, raw=[], matrix=matrix
        )
        out = predictor.predict(batch, probabilities=True)
        assert set(out.predictions.tolist()) <= {0, 1}
        assert out.probabilities is not None
        assert out.probabilities.shape == (2, 2)
    finally:
        path.write_text(text)
