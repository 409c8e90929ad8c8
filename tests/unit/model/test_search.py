"""`model.search` before any trial runs: the metric it ranks by (a metric of the task, the first
gate's by default) and folds that every class can fill, each refused naming its key."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from mlgate.core.config import Config
from mlgate.errors import ConfigError, DataError
from mlgate.model.search import make_folds, search_metric

pytestmark = pytest.mark.unit


def _config(**search: Any) -> Config:
    raw: dict[str, Any] = {
        "name": "m",
        "data": {"path": "d.csv", "target": "y"},
        "model": {"search": {"params": {"max_depth": [3, 5]}, "trials": 2, **search}},
    }
    if "gates" in search:
        raw["gates"] = raw["model"]["search"].pop("gates")
    return Config.model_validate(raw)


def test_the_metric_defaults_to_the_first_gates_then_to_the_tasks_own() -> None:
    gated = _config(gates=[{"metric": "f1", "threshold": 0.5}])
    assert search_metric(gated, "binary") == "f1"
    assert search_metric(_config(), "multiclass") == "accuracy"
    assert search_metric(_config(), "regression") == "rmse"
    assert search_metric(_config(metric="log_loss"), "binary") == "log_loss"


def test_a_metric_of_another_task_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.search\.metric: 'roc_auc' is not a metric"):
        search_metric(_config(metric="roc_auc"), "regression")
    gated = _config(gates=[{"metric": "rmse", "threshold": 1.0}])
    with pytest.raises(ConfigError, match="the first gate's, the default"):
        search_metric(gated, "binary")


def test_folds_are_stratified_seeded_and_refused_when_a_class_cannot_fill_them() -> None:
    y = pd.Series([0] * 30 + [1] * 10)
    folds = make_folds(_config(folds=5), "binary", y)
    assert len(folds) == 5
    assert all(y.iloc[score].sum() == 2 for _, score in folds)  # each fold has its share of 1s
    assert [list(s) for _, s in folds] == [
        list(s) for _, s in make_folds(_config(folds=5), "binary", y)
    ]
    with pytest.raises(DataError, match=r"model\.search\.folds=5: class 1 of 'y' has 3"):
        make_folds(_config(folds=5), "binary", pd.Series([0] * 30 + [1] * 3))
    with pytest.raises(DataError, match=r"model\.search\.folds=5: 8 training rows"):
        make_folds(_config(folds=5), "regression", pd.Series(range(8), dtype=float))
