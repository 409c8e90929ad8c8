"""What monitoring needs from training: the reference predictions and calibrated probabilities.

Written into the bundle as `monitoring.json` at training time, from the holdout:

- the distribution of the predictions (and of the scores: the positive class's probability, or
  the top probability of a multiclass model) as a reference profile, so prediction drift uses the
  same tests as feature drift;
- the holdout metrics the live performance is compared with;
- a probability calibration, when the model needs one, for confidence-based performance
  estimation (CBPE, as NannyML does it): with calibrated probabilities the expected accuracy of
  a prediction is the probability of the class it predicts, so the accuracy (and ROC AUC) of
  unlabelled traffic can be estimated from the model's own outputs. The estimate holds under
  covariate shift (inputs move, the relation to the label does not); a drop in realised accuracy
  that the estimate did not see is concept drift.

Calibration is isotonic regression per class (one-vs-rest), fitted on the holdout and stored as
its breakpoints, so applying it is `numpy.interp` (no pickle, no scikit-learn at serving time).
The model "needs" it when cross-validated calibration lowers the expected calibration error
(NannyML's `needs_calibration` asks the same) by a margin beyond the noise of the ECE itself;
otherwise the raw probabilities are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, JsonValue

from mlgate.core.frozen import Frozen
from mlgate.core.profile import Profile
from mlgate.core.vocab import Task

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

# Deferred imports: NumPy, pandas and scikit-learn's fitting modules load on first use: the model
# server imports this module to apply a fitted calibration, without pandas (the train extra) and
# without paying for what only training uses.

MONITORING_FILE = "monitoring.json"
REFERENCE_VERSION = 1
ECE_BINS = 10
CV_FOLDS = 5
MIN_GAIN = 0.005
GAIN_SHARE = 0.25


class Curve(Frozen):
    """An isotonic calibration curve: piecewise linear through these points, flat outside."""

    x: tuple[float, ...]
    y: tuple[float, ...]


class Calibration(Frozen):
    """One curve per class (in `classes` order); the ECE it was chosen on."""

    curves: tuple[Curve, ...]
    ece_raw: float
    ece_calibrated: float


class MonitoringReference(Frozen):
    """The contents of monitoring.json."""

    version: int = REFERENCE_VERSION
    task: Task
    classes: tuple[JsonValue, ...] | None = None
    rows: int
    predictions: Profile
    metrics: dict[str, float]
    estimated: dict[str, float] = Field(default_factory=dict)
    calibration: Calibration | None = None


# --- calibration -------------------------------------------------------------------------------


def ece(proba: FloatArray, correct: FloatArray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |confidence - accuracy| averaged over equal-width bins."""
    import numpy as np

    idx = np.minimum((proba * bins).astype(np.int64), bins - 1)
    conf = np.bincount(idx, weights=proba, minlength=bins)
    hits = np.bincount(idx, weights=correct, minlength=bins)
    return float(np.abs(conf - hits).sum() / max(len(proba), 1))


def _fit_curve(score: FloatArray, hit: FloatArray) -> Curve:
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, hit)
    return Curve(x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_)))


def apply_curve(curve: Curve, score: FloatArray) -> FloatArray:
    """Calibrated values of `score`."""
    import numpy as np

    if len(curve.x) == 1:
        return np.full_like(score, curve.y[0])
    out: FloatArray = np.interp(score, np.asarray(curve.x), np.asarray(curve.y))
    return out


def calibrate(calibration: Calibration | None, proba: FloatArray) -> FloatArray:
    """Calibrated class probabilities (rows sum to 1); the input when there is no calibration."""
    import numpy as np

    if calibration is None:
        return proba
    out = np.column_stack(
        [apply_curve(c, proba[:, j]) for j, c in enumerate(calibration.curves)]
    ).astype(np.float64)
    total = out.sum(axis=1, keepdims=True)
    # A row every curve maps to 0 keeps its raw probabilities.
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), proba)


def _one_vs_rest(proba: FloatArray, labels: npt.NDArray[np.int64]) -> list[Curve]:
    return [_fit_curve(proba[:, j], (labels == j).astype(float)) for j in range(proba.shape[1])]


def _top_ece(proba: FloatArray, labels: npt.NDArray[np.int64]) -> float:
    pred = proba.argmax(axis=1)
    return ece(proba.max(axis=1), (pred == labels).astype(float))


def fit_calibration(proba: FloatArray, labels: npt.NDArray[np.int64]) -> Calibration | None:
    """Isotonic calibration when it lowers the cross-validated ECE of the predicted class."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    rows, k = proba.shape
    counts = np.bincount(labels, minlength=k)
    folds = min(CV_FOLDS, int(counts[counts > 0].min())) if rows else 0
    if folds < 2 or rows < 50:
        return None
    raw_err = cal_err = 0.0
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for fit_idx, test_idx in splitter.split(proba, labels):
        curves = _one_vs_rest(proba[fit_idx], labels[fit_idx])
        part = Calibration(curves=tuple(curves), ece_raw=0.0, ece_calibrated=0.0)
        raw = proba[test_idx]
        raw_err += _top_ece(raw, labels[test_idx]) / folds
        cal_err += _top_ece(calibrate(part, raw), labels[test_idx]) / folds
    # The ECE of a few hundred rows is noisy: isotonic regression on an already calibrated
    # model "wins" by chance, so it must win by a margin (a quarter of the error, at least 0.005).
    if cal_err > raw_err - max(MIN_GAIN, GAIN_SHARE * raw_err):
        return None
    return Calibration(
        curves=tuple(_one_vs_rest(proba, labels)), ece_raw=raw_err, ece_calibrated=cal_err
    )


# --- confidence-based performance estimation ---------------------------------------------------


def expected_accuracy(proba: FloatArray, predicted: npt.NDArray[np.int64]) -> FloatArray:
    """Per row, the (calibrated) probability that the prediction is right."""
    import numpy as np

    return proba[np.arange(len(predicted)), predicted]


def estimated_roc_auc(score: FloatArray, positive: FloatArray) -> float:
    """Expected ROC AUC of binary scores when each row is positive with probability `positive`.

    Thresholds sweep the scores from the top (tied scores move together); expected true and
    false positives above a threshold are the sums of `positive` and of `1 - positive` there.
    """
    import numpy as np

    if score.size == 0:
        return float("nan")
    order = np.argsort(-score, kind="stable")
    s = score[order]
    p = positive[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # the end of each group of ties
    tp = np.cumsum(p)[last]
    fp = np.cumsum(1.0 - p)[last]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    tpr = np.r_[0.0, tp / tp[-1]]
    fpr = np.r_[0.0, fp / fp[-1]]
    return float(np.trapezoid(tpr, fpr))


def estimate(
    calibration: Calibration | None, proba: FloatArray, predicted: npt.NDArray[np.int64]
) -> dict[str, float]:
    """CBPE: estimated accuracy (and ROC AUC for a binary model) of unlabelled predictions."""
    cal = calibrate(calibration, proba)
    out = {"accuracy": float(expected_accuracy(cal, predicted).mean())}
    if proba.shape[1] == 2:
        out["roc_auc"] = estimated_roc_auc(proba[:, 1], cal[:, 1])
    return out


# --- the reference -----------------------------------------------------------------------------


def class_index(classes: Sequence[Any], values: Sequence[Any]) -> npt.NDArray[np.int64]:
    """Positions of `values` in `classes` (-1 for a value that is not a class)."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    index.update({str(c): i for i, c in enumerate(classes)})
    return np.fromiter((index.get(v, -1) for v in values), dtype=np.int64, count=len(values))


def prediction_profile(task: Task, predictions: Any, score: FloatArray | None) -> Profile:
    """The reference profile of the predictions (and scores), for prediction drift."""
    import pandas as pd

    from mlgate.core.profile import build_profile
    from mlgate.core.schema import ColumnSpec, Schema

    kind = "numeric" if task == "regression" else "categorical"
    data: dict[str, Any] = {"prediction": list(predictions)}
    columns = [ColumnSpec(name="prediction", kind=kind)]
    if score is not None:
        data["score"] = score
        columns.append(ColumnSpec(name="score", kind="numeric"))
    frame = pd.DataFrame(data)
    if kind == "categorical":
        frame["prediction"] = frame["prediction"].astype(str)
    return build_profile(frame, Schema(columns=tuple(columns)))


def score_of(proba: FloatArray) -> FloatArray:
    """The score whose drift is watched: P(positive) for two classes, else the top probability."""
    return proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)


def build_reference(
    task: Task,
    classes: Sequence[Any] | None,
    y_true: Any,
    predictions: Any,
    proba: FloatArray | None,
    metrics: dict[str, float],
) -> MonitoringReference:
    """The monitoring reference of a model from its holdout predictions."""
    import numpy as np

    calibration = None
    estimated: dict[str, float] = {}
    score = None
    if task != "regression" and classes is not None and proba is not None:
        labels = class_index(classes, list(y_true))
        score = score_of(proba)
        if bool((labels >= 0).all()):
            calibration = fit_calibration(proba, labels)
            predicted = class_index(classes, list(np.asarray(predictions).tolist()))
            estimated = estimate(calibration, proba, predicted)
    return MonitoringReference(
        task=task,
        classes=tuple(classes) if classes is not None else None,
        rows=len(predictions),
        predictions=prediction_profile(task, np.asarray(predictions).tolist(), score),
        metrics=dict(metrics),
        estimated=estimated,
        calibration=calibration,
    )


def reference_json(reference: MonitoringReference) -> dict[str, Any]:
    """The JSON form written into the bundle."""
    return reference.model_dump(mode="json")
