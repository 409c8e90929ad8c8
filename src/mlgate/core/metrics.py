"""Holdout metrics for each task, computed with scikit-learn."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from sklearn import metrics as skm

from mlgate.core.vocab import CLASSIFICATION_METRICS, REGRESSION_METRICS, MetricName, Task

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from mlgate.core.frames import ColT, Values


def metrics_for(task: Task) -> tuple[MetricName, ...]:
    """The metrics mlgate computes for a task."""
    return REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS


def compute_metrics(
    task: Task,
    y_true: Values | pd.Series[ColT],
    y_pred: Values,
    proba: npt.NDArray[np.float64] | None = None,
    classes: Sequence[object] | None = None,
    positive: object = None,
) -> dict[str, float]:
    """Every metric of the task that is defined for these predictions; binary metrics are
    about `positive` (default: the last class, scikit-learn's convention)."""

    if task == "regression":
        return {
            "rmse": float(math.sqrt(skm.mean_squared_error(y_true, y_pred))),
            "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "r2": float(skm.r2_score(y_true, y_pred)),
        }
    out: dict[str, float] = {"accuracy": float(skm.accuracy_score(y_true, y_pred))}
    labels = list(classes) if classes is not None else None
    pos_index = 1
    if task == "binary":
        pos = positive if positive is not None else _last_class(labels, y_true, y_pred)
        if labels is not None and pos in labels:
            pos_index = labels.index(pos)
        kw: dict[str, object] = {"pos_label": pos, "average": "binary", "zero_division": 0}
    else:
        kw = {"average": "macro", "zero_division": 0, "labels": labels}
    out["precision"] = float(skm.precision_score(y_true, y_pred, **kw))
    out["recall"] = float(skm.recall_score(y_true, y_pred, **kw))
    out["f1"] = float(skm.f1_score(y_true, y_pred, **kw))
    out["roc_auc"] = math.nan
    out["log_loss"] = math.nan
    if proba is not None and labels is not None:
        present = set(np.unique(y_true).tolist())
        if task == "binary" and len(present) == 2:
            out["roc_auc"] = float(
                skm.roc_auc_score(y_true == labels[pos_index], proba[:, pos_index])
            )
        elif task == "multiclass" and present == set(labels):
            out["roc_auc"] = float(
                skm.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=labels)
            )
        out["log_loss"] = float(skm.log_loss(y_true, proba, labels=labels))
    # An undefined metric (one class in the holdout, no probabilities) is left out, not NaN:
    # a gate on it then fails saying the metric is missing.
    return {k: v for k, v in out.items() if not math.isnan(v)}


def _last_class(
    labels: list[object] | None, y_true: Values | pd.Series[ColT], y_pred: Values
) -> object:
    """scikit-learn's default positive class: the last of the sorted labels."""

    if labels is not None:
        return labels[-1]
    last = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))[-1]
    return last.item() if hasattr(last, "item") else last
