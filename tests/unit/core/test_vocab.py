"""The domain's words: metric directions and which metrics belong to which task."""

from __future__ import annotations

from typing import get_args

import pytest

from mlgate.core.vocab import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
    RELEASE_STRATEGIES,
    AnalysedStrategy,
    MetricName,
    ReleaseStrategy,
    Task,
    greater_is_better,
    metrics_for,
)

pytestmark = pytest.mark.unit

TASKS: tuple[Task, ...] = get_args(Task)
METRICS: tuple[MetricName, ...] = get_args(MetricName)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("accuracy", True),
        ("precision", True),
        ("recall", True),
        ("f1", True),
        ("roc_auc", True),
        ("r2", True),
        ("log_loss", False),
        ("rmse", False),
        ("mae", False),
    ],
)
def test_greater_is_better_follows_the_metric(metric: str, expected: bool) -> None:
    assert greater_is_better(metric) is expected


def test_every_metric_has_a_direction_and_only_metrics_are_lower_is_better() -> None:
    assert set(LOWER_IS_BETTER) <= set(METRICS)
    assert {m for m in METRICS if not greater_is_better(m)} == set(LOWER_IS_BETTER)


def test_metrics_for_each_task() -> None:
    assert metrics_for("regression") == ("rmse", "mae", "r2")
    assert metrics_for("binary") == CLASSIFICATION_METRICS
    assert metrics_for("multiclass") == CLASSIFICATION_METRICS
    assert set(metrics_for("binary")) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    }


def test_every_metric_is_in_exactly_one_task_list() -> None:
    lists = (CLASSIFICATION_METRICS, REGRESSION_METRICS)
    for metric in METRICS:
        assert sum(metric in names for names in lists) == 1, metric
    for names in lists:
        assert len(set(names)) == len(names)
    assert {m for task in TASKS for m in metrics_for(task)} == set(METRICS)


def test_release_strategies_list_every_strategy_once_and_all_but_direct_are_analysed() -> None:
    assert get_args(ReleaseStrategy) == RELEASE_STRATEGIES
    assert set(RELEASE_STRATEGIES) == {"direct", "canary", "ab", "shadow"}
    assert set(get_args(AnalysedStrategy)) == set(RELEASE_STRATEGIES) - {"direct"}
