"""Task inference, estimator resolution and the feature frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.core.config import parse_config
from mlgate.core.metrics import compute_metrics
from mlgate.core.schema import ColumnSpec
from mlgate.errors import ConfigError, DataError
from mlgate.model.features import to_frame
from mlgate.model.target import infer_task
from mlgate.model.train import make_estimator

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 1, 0] * 10, "binary"),
        (["yes", "no"] * 10, "binary"),
        ([True, False] * 10, "binary"),
        (["a", "b", "c"] * 10, "multiclass"),
        ([0, 1, 2, 3] * 30, "multiclass"),
        (list(np.linspace(0, 1, 200)), "regression"),
        (list(range(200)), "regression"),
    ],
)
def test_infer_task(values: list[object], task: str) -> None:
    assert infer_task(pd.Series(values, name="y")) == task


def test_constant_target_is_a_data_error_naming_the_class() -> None:
    with pytest.raises(DataError, match=r"'y' has 1 class\(es\) \(every row is 1\)"):
        infer_task(pd.Series([1, 1, 1], name="y"))


def test_estimator_gets_the_seed_and_params() -> None:
    config = parse_config(
        {
            "name": "m",
            "data": {"path": "d.csv", "target": "y"},
            "model": {"params": {"n_estimators": 7}},
            "split": {"seed": 123},
        },
        "t",
    )
    est = make_estimator(config, "binary")
    assert type(est).__name__ == "RandomForestClassifier"
    assert est.n_estimators == 7
    assert est.random_state == 123


@pytest.mark.parametrize(
    ("model", "needle"),
    [
        ({"estimator": "RandomForest"}, "not an import path"),
        ({"estimator": "sklearn.ensemble.NoSuchThing"}, "cannot import"),
        ({"estimator": "os.path.join"}, "not an estimator class"),
        ({"params": {"n_trees": 3}}, "n_trees"),
    ],
)
def test_bad_model_config_names_the_key(model: dict[str, object], needle: str) -> None:
    config = parse_config(
        {"name": "m", "data": {"path": "d.csv", "target": "y"}, "model": model}, "t"
    )
    with pytest.raises(ConfigError) as info:
        make_estimator(config, "binary")
    assert needle in str(info.value)
    assert "model." in str(info.value)


def test_to_frame_orders_and_types_columns() -> None:
    raw = pd.DataFrame({"c": ["x", None, "y"], "n": [1, 2, None], "extra": [0, 0, 0]})
    specs = (
        ColumnSpec(name="n", kind="integer"),
        ColumnSpec(name="c", kind="categorical", categories=("x", "y")),
    )
    frame = to_frame(raw, specs)
    assert list(frame.columns) == ["n", "c"]
    assert frame["n"].dtype == np.float64
    assert frame["c"].tolist()[0] == "x"
    assert pd.isna(frame["c"].tolist()[1])


def test_metrics_leave_out_undefined_ones() -> None:
    y = np.array([1, 1, 1])
    proba = np.array([[0.2, 0.8]] * 3)
    out = compute_metrics("binary", y, np.array([1, 1, 0]), proba, (0, 1))
    assert "roc_auc" not in out  # one class only: AUC is undefined
    assert out["accuracy"] == pytest.approx(2 / 3)
    reg = compute_metrics("regression", np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    assert reg["rmse"] == pytest.approx(np.sqrt(2.0))
    assert reg["mae"] == pytest.approx(1.0)


def test_tree_nodes_counts_every_tree() -> None:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    from mlgate.model.onnx import tree_nodes

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    assert tree_nodes(forest) == sum(t.tree_.node_count for t in forest.estimators_)
    boosted = GradientBoostingClassifier(n_estimators=4, random_state=0).fit(x, y)
    assert tree_nodes(boosted) == sum(t.tree_.node_count for t in boosted.estimators_.ravel())
    assert tree_nodes(LogisticRegression().fit(x, y)) == 0
