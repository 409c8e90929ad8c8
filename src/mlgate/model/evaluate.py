"""Evaluation on frames: a model's metrics on the holdout, the trivial baseline's, and the
paired-bootstrap intervals of the improvement over a champion. Reads and writes nothing:
`mlgate.app.gate` loads the bundles and records the verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor

from mlgate.core.bootstrap import Outputs, improvement_interval
from mlgate.core.config import Config
from mlgate.core.metrics import compute_metrics
from mlgate.core.records.lineage import BundleMeta
from mlgate.core.vocab import LOWER_IS_BETTER, Task, metrics_for
from mlgate.errors import ConfigError
from mlgate.model.train import Split, predict_all

if TYPE_CHECKING:
    import pandas as pd


def check_gate_metrics(config: Config, task: Task) -> None:
    """Every gate must name a metric of the task; report the first key that does not."""
    allowed = metrics_for(task)
    for i, gate in enumerate(config.gates):
        if gate.metric not in allowed:
            raise ConfigError(
                f"gates.{i}.metric: {gate.metric!r} is not a {task} metric",
                hint=f"use one of: {', '.join(allowed)}",
            )


def baseline_metrics(task: str, split: Split, classes: Any, positive: Any) -> dict[str, float]:
    """The best score of a trivial model on the holdout, per metric.

    scikit-learn's Dummy estimators fitted on the training rows: the class prior (the majority
    class, prior probabilities), always-the-positive-class for binary tasks (the best F1 and
    recall a constant can reach), and the mean and the median for regression. The best of them
    for each metric is the bar a model must clear.
    """

    x_train = np.zeros((len(split.y_train), 1))
    x_test = np.zeros((len(split.y_test), 1))
    outputs: list[tuple[Any, Any]] = []
    if task == "regression":
        for strategy in ("mean", "median"):
            regressor = DummyRegressor(strategy=strategy).fit(x_train, split.y_train)
            outputs.append((regressor.predict(x_test), None))
    else:
        prior = DummyClassifier(strategy="prior").fit(x_train, split.y_train)
        outputs.append((prior.predict(x_test), prior.predict_proba(x_test)))
        labels = prior.classes_.tolist()
        if task == "binary" and positive in labels:
            # DummyClassifier(strategy="constant") refuses float labels (a 0/1 column with
            # gaps reads as 0.0/1.0); its answer is simple enough to write down.
            k = labels.index(positive)
            proba = np.zeros((len(split.y_test), len(labels)))
            proba[:, k] = 1.0
            outputs.append((np.full(len(split.y_test), prior.classes_[k]), proba))
    best: dict[str, float] = {}
    for pred, proba in outputs:
        scores = compute_metrics(
            task,  # type: ignore[arg-type]
            split.y_test,
            pred,
            proba,
            classes,
            positive,
        )
        for metric, value in scores.items():
            old = best.get(metric)
            lower = metric in LOWER_IS_BETTER
            if old is None or (value < old if lower else value > old):
                best[metric] = value
    return best


def evaluate(
    model: Any, meta: BundleMeta, x: pd.DataFrame, y: pd.Series
) -> tuple[dict[str, float], Outputs]:
    """The model's metrics on (x, y), and its outputs for the bootstrap."""
    pred, proba = predict_all(model, x)
    metrics = compute_metrics(meta.task, y, pred, proba, meta.classes, meta.positive_label)
    return metrics, Outputs(pred, proba)


def intervals(
    config: Config,
    meta: BundleMeta,
    split: Split,
    challenger: Outputs,
    champion: Outputs,
) -> dict[tuple[str, str], tuple[float, float]]:
    """Paired-bootstrap intervals of the improvement for every champion gate."""
    evaluation = config.evaluation
    if evaluation.bootstrap_resamples == 0:
        return {}
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for gate in config.gates:
        for kind, bound in (
            ("min_absolute_change", gate.min_absolute_change),
            ("min_relative_change", gate.min_relative_change),
        ):
            if bound is None or (gate.metric, kind) in out:
                continue
            if gate.metric in ("roc_auc", "log_loss") and (
                challenger.probabilities is None or champion.probabilities is None
            ):
                continue
            interval = improvement_interval(
                gate.metric,
                meta.task,
                split.y_test.to_numpy(),
                challenger,
                champion,
                classes=meta.classes,
                positive=meta.positive_label,
                higher_is_better=gate.higher_is_better,
                relative=kind == "min_relative_change",
                resamples=evaluation.bootstrap_resamples,
                confidence=evaluation.confidence,
                seed=config.split.seed,
            )
            out[(gate.metric, kind)] = (interval.low, interval.high)
    return out
