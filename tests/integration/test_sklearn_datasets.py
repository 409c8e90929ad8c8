"""`mlgate init --data CSV --target COL` + `mlgate run` through config alone, on the real
datasets that ship with scikit-learn: binary, multiclass and regression.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from mlgate.app.config_text import BOOSTING, BOOSTING_PARAMS, FOREST, FOREST_PARAMS
from mlgate.cli import main
from mlgate.model.features import to_frame
from mlgate.serve.runtime import load_predictor
from mlgate.serve.validate import Validator
from mlgate.store.bundle import load_bundle

pytestmark = pytest.mark.integration

LOADERS = {
    "breast_cancer": (datasets.load_breast_cancer, "binary"),
    "wine": (datasets.load_wine, "multiclass"),
    "diabetes": (datasets.load_diabetes, "regression"),
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_init_from_csv_then_run(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loader, task = LOADERS[name]
    frame = loader(as_frame=True).frame
    csv = tmp_path / f"{name}.csv"
    frame.to_csv(csv, index=False)
    project = tmp_path / "project"
    assert main(["init", "--data", str(csv), "--target", "target", str(project)]) == 0
    assert f"task: {task}" in (project / "mlgate.yaml").read_text()
    capsys.readouterr()
    assert main(["run", "--json", "--config", str(project)]) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is True
    metrics = json.loads((project / "metrics.json").read_text())
    if task == "regression":
        assert set(metrics) == {"rmse", "mae", "r2"}
    else:
        assert {"accuracy", "f1", "roc_auc", "log_loss"} <= set(metrics)


@pytest.mark.parametrize("name", ["breast_cancer", "wine"])
def test_awkward_feature_names_serve_through_both_runtimes(name: str, tmp_path: Path) -> None:
    """`mean radius`, `od280/od315_...`: names skl2onnx must rewrite still serve exactly."""
    loader, _task = LOADERS[name]
    frame = loader(as_frame=True).frame
    csv = tmp_path / f"{name}.csv"
    frame.to_csv(csv, index=False)
    project = tmp_path / "project"
    assert main(["init", "--data", str(csv), "--target", "target", str(project)]) == 0
    # The forest: skl2onnx 1.20 cannot convert the histogram boosting init writes above 500
    # rows (breast_cancer's 569), and this is about the names ONNX inputs take.
    config = project / "mlgate.yaml"
    text = config.read_text().replace(BOOSTING["binary"], FOREST["binary"])
    config.write_text(text.replace(BOOSTING_PARAMS, FOREST_PARAMS))
    assert main(["train", "--config", str(project)]) == 0
    bundle = load_bundle(project / "models" / "model")
    assert "onnx" in bundle.meta.runtimes
    rows = pd.read_csv(csv).head(25)
    expected = bundle.load_model().predict(to_frame(rows, bundle.schema.features))
    batch = Validator(bundle.schema.features, max_rows=100).from_dicts(
        rows[[f.name for f in bundle.schema.features]].to_dict(orient="records")
    )
    for runtime in ("sklearn", "onnx"):
        got = load_predictor(bundle, runtime).predict(batch, probabilities=False)
        np.testing.assert_array_equal(np.asarray(got.predictions), expected)
