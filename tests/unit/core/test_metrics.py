"""Holdout metrics: scikit-learn's numbers, about the positive label, undefined ones left out."""

from __future__ import annotations

import math
from typing import get_args

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlgate.core import vocab
from mlgate.core.metrics import compute_metrics, metrics_for

pytestmark = pytest.mark.unit

Y = np.array(["no", "yes", "yes", "no", "yes", "no", "yes", "no"])
PRED = np.array(["no", "yes", "no", "no", "yes", "yes", "yes", "yes"])
P_YES = np.array([0.2, 0.7, 0.4, 0.1, 0.8, 0.6, 0.55, 0.52])
PROBA = np.column_stack([1 - P_YES, P_YES])
CLASSES = ("no", "yes")


def test_regression_metrics_are_scikit_learn_s() -> None:
    y = np.array([3.0, -0.5, 2.0, 7.0, 4.2])
    pred = np.array([2.5, 0.0, 2.1, 7.8, 3.9])
    out = compute_metrics("regression", y, pred)
    assert out == {
        "rmse": pytest.approx(math.sqrt(skm.mean_squared_error(y, pred)), rel=1e-12),
        "mae": pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-12),
        "r2": pytest.approx(skm.r2_score(y, pred), rel=1e-12),
    }
    assert out["rmse"] == pytest.approx(math.sqrt(np.mean((y - pred) ** 2)))
    assert all(type(v) is float for v in out.values())


def test_binary_metrics_are_about_the_last_class_by_default() -> None:
    out = compute_metrics("binary", Y, PRED, PROBA, CLASSES)
    assert out == {
        "accuracy": pytest.approx(skm.accuracy_score(Y, PRED)),
        "precision": pytest.approx(skm.precision_score(Y, PRED, pos_label="yes")),
        "recall": pytest.approx(skm.recall_score(Y, PRED, pos_label="yes")),
        "f1": pytest.approx(skm.f1_score(Y, PRED, pos_label="yes")),
        "roc_auc": pytest.approx(skm.roc_auc_score(Y == "yes", P_YES)),
        "log_loss": pytest.approx(skm.log_loss(Y, PROBA, labels=list(CLASSES))),
    }
    assert set(out) == set(metrics_for("binary"))


def test_binary_metrics_follow_the_positive_label() -> None:
    yes = compute_metrics("binary", Y, PRED, PROBA, CLASSES, positive="yes")
    no = compute_metrics("binary", Y, PRED, PROBA, CLASSES, positive="no")
    assert no["precision"] == pytest.approx(skm.precision_score(Y, PRED, pos_label="no"))
    assert no["recall"] == pytest.approx(skm.recall_score(Y, PRED, pos_label="no"))
    assert no["f1"] == pytest.approx(skm.f1_score(Y, PRED, pos_label="no"))
    assert no["roc_auc"] == pytest.approx(skm.roc_auc_score(Y == "no", PROBA[:, 0]))
    # Here "yes" is predicted more often than it occurs, so the two readings differ.
    assert (no["precision"], no["recall"]) != (yes["precision"], yes["recall"])
    assert no["accuracy"] == yes["accuracy"]
    assert no["log_loss"] == yes["log_loss"]


def test_zero_division_scores_zero_instead_of_warning() -> None:
    y = np.array([0, 1, 1, 0])
    never = np.zeros(4, dtype=int)
    out = compute_metrics("binary", y, never, classes=(0, 1))
    assert (out["precision"], out["recall"], out["f1"]) == (0.0, 0.0, 0.0)


def test_multiclass_metrics_are_macro_averages() -> None:
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    pred = np.array([0, 2, 2, 2, 1, 1, 0])
    proba = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.2, 0.3, 0.5],
            [0.1, 0.1, 0.8],
            [0.2, 0.2, 0.6],
            [0.1, 0.8, 0.1],
            [0.3, 0.4, 0.3],
            [0.5, 0.1, 0.4],
        ]
    )
    out = compute_metrics("multiclass", y, pred, proba, (0, 1, 2))
    macro = {"average": "macro", "labels": [0, 1, 2]}
    assert out == {
        "accuracy": pytest.approx(skm.accuracy_score(y, pred)),
        "precision": pytest.approx(skm.precision_score(y, pred, **macro)),
        "recall": pytest.approx(skm.recall_score(y, pred, **macro)),
        "f1": pytest.approx(skm.f1_score(y, pred, **macro)),
        "roc_auc": pytest.approx(
            skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=[0, 1, 2])
        ),
        "log_loss": pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2])),
    }
    # A class missing from the holdout: no one-vs-rest AUC for it, so none at all.
    seen = y < 2
    partial = compute_metrics("multiclass", y[seen], pred[seen], proba[seen], (0, 1, 2))
    assert "roc_auc" not in partial
    assert partial["log_loss"] == pytest.approx(
        skm.log_loss(y[seen], proba[seen], labels=[0, 1, 2])
    )
    # Three of four classes are still not all of them.
    four = np.column_stack([proba * 0.9, np.full(len(y), 0.1)])
    assert "roc_auc" not in compute_metrics("multiclass", y, pred, four, (0, 1, 2, 3))


def test_undefined_metrics_are_left_out() -> None:
    one_class = compute_metrics(
        "binary", Y[Y == "yes"], PRED[Y == "yes"], PROBA[Y == "yes"], CLASSES
    )
    assert "roc_auc" not in one_class
    assert "log_loss" in one_class
    no_proba = compute_metrics("binary", Y, PRED, None, CLASSES)
    assert set(no_proba) == {"accuracy", "precision", "recall", "f1"}
    no_classes = compute_metrics("binary", Y == "yes", PRED == "yes", PROBA)
    assert set(no_classes) == {"accuracy", "precision", "recall", "f1"}
    for out in (one_class, no_proba, no_classes):
        assert all(not math.isnan(v) for v in out.values())


def test_metrics_for_is_the_vocabulary_s() -> None:
    for task in get_args(vocab.Task):
        assert metrics_for(task) == vocab.metrics_for(task)


@settings(max_examples=25, deadline=None)
@given(
    labels=st.lists(st.booleans(), min_size=4, max_size=40).filter(
        lambda ys: 0 < sum(ys) < len(ys)
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_binary_metrics_match_scikit_learn_on_any_holdout(labels: list[bool], seed: int) -> None:
    y = np.where(labels, "yes", "no")
    p_yes = np.random.default_rng(seed).uniform(0.01, 0.99, len(y))
    pred = np.where(p_yes >= 0.5, "yes", "no")
    out = compute_metrics("binary", y, pred, np.column_stack([1 - p_yes, p_yes]), CLASSES)
    assert out["f1"] == pytest.approx(
        skm.f1_score(y, pred, pos_label="yes", zero_division=0), abs=1e-12
    )
    assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", p_yes), abs=1e-12)
    assert set(out) == set(metrics_for("binary"))


def test_binary_default_positive_without_classes_is_the_last_class() -> None:
    out = compute_metrics("binary", Y, PRED)
    assert out["precision"] == pytest.approx(skm.precision_score(Y, PRED, pos_label="yes"))
