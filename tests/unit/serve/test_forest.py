"""The direct forest answers exactly what the fitted Pipeline answers, bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlgate.core.schema import ColumnSpec
from mlgate.serve.forest import direct_forest

pytestmark = pytest.mark.unit

NAMES = [f"f{i}" for i in range(6)]


def specs(kinds: dict[str, str] | None = None) -> tuple[ColumnSpec, ...]:
    kinds = kinds or {}
    return tuple(ColumnSpec(name=n, kind=kinds.get(n, "numeric")) for n in NAMES)


def data(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(rows, len(NAMES))) * 100
    x[rng.rand(*x.shape) < 0.1] = np.nan
    return pd.DataFrame(x, columns=NAMES)


def pipeline(estimator: Any, scale: bool = True) -> Pipeline:
    steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        steps.append(("scale", StandardScaler()))
    pre = ColumnTransformer([("numeric", Pipeline(steps), NAMES)])
    return Pipeline([("preprocess", pre), ("estimator", estimator)])


@pytest.mark.parametrize("scale", [True, False])
def test_classifier_probabilities_and_labels_equal_the_pipeline(scale: bool) -> None:
    train = data(400, 0)
    y = (train["f0"].fillna(0) + train["f1"].fillna(0) > 0).astype(int).map({0: "no", 1: "yes"})
    model = pipeline(RandomForestClassifier(n_estimators=7, random_state=0), scale).fit(train, y)
    direct = direct_forest(model, specs())
    assert direct is not None
    test = data(300, 1)
    done = direct.predict(test.to_numpy(dtype=np.float64))
    assert done is not None
    pred, proba = done
    np.testing.assert_array_equal(proba, model.predict_proba(test))
    np.testing.assert_array_equal(pred, model.predict(test))
    one = direct.predict(test.to_numpy(dtype=np.float64)[:1])
    assert one is not None
    np.testing.assert_array_equal(one[1], model.predict_proba(test.head(1)))


def test_regressor_equals_the_pipeline() -> None:
    train = data(400, 2)
    y = train["f2"].fillna(1.0) * 3 + 1
    model = pipeline(ExtraTreesRegressor(n_estimators=5, random_state=0)).fit(train, y)
    direct = direct_forest(model, specs())
    assert direct is not None
    test = data(200, 3)
    done = direct.predict(test.to_numpy(dtype=np.float64))
    assert done is not None
    np.testing.assert_array_equal(done[0], model.predict(test))
    assert done[1] is None


def test_other_shapes_keep_the_pipeline() -> None:
    train = data(100, 4)
    y = (train["f0"].fillna(0) > 0).astype(int)
    model = pipeline(RandomForestClassifier(n_estimators=2)).fit(train, y)
    assert direct_forest(model, specs({"f3": "categorical"})) is None
    mixed = ColumnTransformer(
        [
            ("numeric", SimpleImputer(), NAMES[:3]),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), NAMES[3:]),
        ]
    )
    other = Pipeline([("preprocess", mixed), ("estimator", RandomForestClassifier(2))])
    assert direct_forest(other.fit(train.fillna(0), y), specs()) is None


def test_values_beyond_float32_go_back_to_the_pipeline() -> None:
    train = data(100, 5)
    y = (train["f0"].fillna(0) > 0).astype(int)
    model = pipeline(RandomForestClassifier(n_estimators=2), scale=False).fit(train, y)
    direct = direct_forest(model, specs())
    assert direct is not None
    row = np.zeros((1, len(NAMES)))
    row[0, 0] = 1e300
    assert direct.predict(row) is None
