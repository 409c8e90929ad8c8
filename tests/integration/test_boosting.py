"""LightGBM, XGBoost and CatBoost as `model.estimator`: each trained by `mlgate train` on a small
table with a categorical column and missing values, exported to ONNX (kept only when the parity
check agreed), its skops file loaded through the allow-list, and served by ONNX Runtime with the
predictions scikit-learn gives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from mlgate.cli import main
from mlgate.core.schema import ColumnSpec
from mlgate.model.features import to_frame
from mlgate.model.onnx import export_onnx
from mlgate.serve.runtime import load_predictor
from mlgate.serve.validate import Validator
from mlgate.store.bundle import Bundle, load_bundle

pytestmark = pytest.mark.integration

ROWS = 400
ESTIMATORS = {
    "lightgbm": ("lightgbm.LGBMClassifier", {"n_estimators": 40, "min_child_samples": 5}),
    "xgboost": ("xgboost.XGBClassifier", {"n_estimators": 40, "max_depth": 3}),
    "catboost": ("catboost.CatBoostClassifier", {"iterations": 40, "depth": 3}),
}


def _table(rows: int, labels: tuple[str | int, str | int] = (0, 1)) -> pd.DataFrame:
    """Two numbers (one with gaps), a colour that matters through one category, a binary target
    (0/1 for XGBoost's classifier, which takes no other labels; text for the others)."""
    rng = np.random.default_rng(7)
    colour = rng.choice(["red", "green", "blue", "grey"], rows)
    size = rng.normal(size=rows)
    weight = rng.normal(size=rows)
    signal = size + 1.5 * (colour == "green") + rng.normal(scale=0.5, size=rows)
    weight[::11] = np.nan
    target = np.where(signal > 0.6, labels[1], labels[0])
    return pd.DataFrame({"size": size, "weight": weight, "colour": colour, "bought": target})


LABELS: dict[str, tuple[str | int, str | int]] = {
    "lightgbm": ("no", "yes"),
    "xgboost": (0, 1),
    "catboost": ("no", "yes"),
}


def library(bundle: Bundle) -> str:
    """The library of the bundle's estimator, from its class name in the lineage."""
    return str(bundle.load_model().named_steps["estimator"].__module__).partition(".")[0]


def _project(
    root: Path, lib: str, labels: tuple[str | int, str | int], params: dict[str, int] | None = None
) -> Path:
    """`mlgate init` on the table, then the library's estimator as model.estimator."""
    csv = root / "rows.csv"
    _table(ROWS, labels).to_csv(csv, index=False)
    project = root / "project"
    argv = ["init", "--no-dvc", "--data", str(csv), "--target", "bought", str(project)]
    assert main(argv) == 0
    path = project / "mlgate.yaml"
    config = yaml.safe_load(path.read_text())
    estimator, default = ESTIMATORS[lib]
    given = default if params is None else params
    config["model"] = {"estimator": estimator, "params": given, "imbalance": "none"}
    path.write_text(yaml.safe_dump(config))
    return project


@pytest.fixture(scope="module", params=sorted(ESTIMATORS))
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """One project per library, trained once: its bundle."""
    lib = str(request.param)
    project = _project(tmp_path_factory.mktemp(lib), lib, LABELS[lib])
    assert main(["train", "--config", str(project)]) == 0
    return load_bundle(project / "models" / "model")


def test_trained_exported_with_parity_and_served_by_onnx_runtime(trained: Bundle) -> None:
    # model.onnx is kept only when the parity check on the holdout agreed with scikit-learn.
    assert trained.meta.runtimes == ("sklearn", "onnx"), trained.meta.notes
    assert trained.onnx_path is not None
    pipeline = trained.load_model()  # through the allow-list and the state checks
    rows = _table(60, LABELS[library(trained)])
    features = trained.schema.features
    names = [f.name for f in features]
    records = json.loads(rows[names].to_json(orient="records"))
    batch = Validator(features, max_rows=100).from_dicts(records)
    onnx = load_predictor(trained, "auto")
    assert onnx.name == "onnx"
    got = onnx.predict(batch, probabilities=True)
    frame = to_frame(rows, features)
    np.testing.assert_allclose(
        np.asarray(got.probabilities), pipeline.predict_proba(frame), rtol=0, atol=1e-4
    )
    assert list(got.predictions) == list(pipeline.predict(frame))
    sklearn = load_predictor(trained, "sklearn").predict(batch, probabilities=True)
    assert list(sklearn.predictions) == list(got.predictions)


def test_categories_are_native_and_early_stopping_is_in_the_lineage(trained: Bundle) -> None:
    pipeline = trained.load_model()
    estimator = pipeline.named_steps["estimator"]
    encoder = {n: t for n, t, _ in pipeline.steps[0][1].transformers_}["categorical"]
    assert type(encoder).__name__ == "OrdinalEncoder"
    lib = type(estimator).__module__.partition(".")[0]
    if lib == "lightgbm":  # categorical splits keep their category sets in cat_boundaries
        assert "cat_boundaries=" in estimator.booster_.model_to_string()
    elif lib == "xgboost":
        assert estimator.get_params()["feature_types"] == ["q", "q", "c"]
    (note,) = [n for n in trained.meta.notes if n.startswith("early stopping")]
    assert "never the holdout" in note


# The server's process: the bundle's ONNX model, the skops file audited, no boosting library.
_WITHOUT_LIBRARY = """
import sys
for name in ("lightgbm", "xgboost", "catboost", "onnxmltools"):
    sys.modules[name] = None  # importing any of them now fails
from pathlib import Path
from mlgate.serve.runtime import load_predictor
from mlgate.serve.validate import Validator
from mlgate.store.bundle import load_bundle
from mlgate.store.trust import Trust, audit_sklearn
bundle = load_bundle(Path(sys.argv[1]))
audit_sklearn(bundle.read("model.skops"), Trust(), "model.skops")
predictor = load_predictor(bundle, "auto")
batch = Validator(bundle.schema.features, max_rows=1).from_dicts(
    [{"size": 0.5, "weight": None, "colour": "green"}]
)
print(predictor.name, predictor.predict(batch, probabilities=True).predictions.tolist())
"""


def test_a_bundle_with_onnx_serves_without_the_library(trained: Bundle) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_LIBRARY, str(trained.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("onnx ["), done.stdout


def test_xgboost_classifier_on_text_labels_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project(tmp_path, "xgboost", ("no", "yes"))
    capsys.readouterr()
    assert main(["train", "--config", str(project)]) == 2
    err = capsys.readouterr().err
    assert "XGBoost's classifier takes the classes 0..1 only; 'bought' holds 'no', 'yes'" in err
    assert "lightgbm.LGBMClassifier" in err


def test_a_project_pipeline_ending_in_lightgbm_exports_unless_a_step_cannot() -> None:
    """A team's Pipeline (model.pipeline) around LightGBM: converted as a whole when every step
    converts; with a step skl2onnx does not know, no ONNX (the bundle serves with scikit-learn)."""
    import lightgbm

    x = _table(ROWS)[["size", "weight"]].fillna(0.0)
    y = _table(ROWS)["bought"]
    features = tuple(ColumnSpec(name=n, kind="numeric") for n in x.columns)
    exported = []
    for first in (StandardScaler(), FunctionTransformer(np.abs)):
        booster = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1, random_state=0)
        team = Pipeline([("team", first), ("model", booster)])
        model = Pipeline([("estimator", team)]).fit(x, y)
        exported.append(export_onnx(model, x, features, "binary") is not None)
    assert exported == [True, False]


@pytest.mark.parametrize(
    ("lib", "key", "value", "says"),
    [
        ("lightgbm", "num_leaves", -3, "LGBMClassifier rejects -3"),
        ("catboost", "depth", 99, "CatBoostClassifier rejects 99"),  # _catboost.CatBoostError
    ],
)
def test_a_value_the_library_refuses_is_a_config_error_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lib: str, key: str, value: int, says: str
) -> None:
    project = _project(tmp_path, lib, LABELS[lib], {key: value})
    capsys.readouterr()
    assert main(["train", "--config", str(project)]) == 2
    assert f"model.params.{key}: {says}" in capsys.readouterr().err


def test_lightgbm_under_the_threshold_tuner_still_splits_on_categories(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    project = _project(tmp_path, "lightgbm", LABELS["lightgbm"])
    path = project / "mlgate.yaml"
    config = yaml.safe_load(path.read_text())
    config["model"]["imbalance"] = "threshold"  # TunedThresholdClassifierCV around LightGBM
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(project)]) == 0
    bundle = load_bundle(project / "models" / "model")
    tuned = bundle.load_model().named_steps["estimator"]
    assert type(tuned).__name__ == "TunedThresholdClassifierCV"
    assert bundle.meta.decision_threshold is not None
    assert "cat_boundaries=" in tuned.estimator_.booster_.model_to_string()
    shown = [str(w.message) for w in recwarn]
    assert not [m for m in shown if "categorical_feature keyword" in m]  # LightGBM's, muted
