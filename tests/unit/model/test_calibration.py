"""Calibration is fitted only when it helps; CBPE estimates match what labels realise."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlgate.model.calibration import (
    build_reference,
    calibrate,
    ece,
    estimate,
    estimated_roc_auc,
    fit_calibration,
)

pytestmark = pytest.mark.unit


def _binary(seed: int, n: int, distort: bool) -> tuple[np.ndarray, np.ndarray]:
    """True P(y=1) drawn uniformly; the model reports it squashed toward 0.5 when `distort`."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.7, 0.7, n)
    y = (rng.random(n) < p).astype(np.int64)
    shown = 0.5 + (p - 0.5) * 0.4 if distort else p
    return np.column_stack([1 - shown, shown]), y


def test_an_underconfident_model_is_calibrated_and_its_error_drops() -> None:
    proba, y = _binary(0, 4000, distort=True)
    cal = fit_calibration(proba, y)
    assert cal is not None
    assert cal.ece_calibrated < cal.ece_raw
    fresh, y2 = _binary(1, 4000, distort=True)
    fixed = calibrate(cal, fresh)
    np.testing.assert_allclose(fixed.sum(axis=1), 1.0)
    raw_err = ece(fresh.max(axis=1), (fresh.argmax(axis=1) == y2).astype(float))
    cal_err = ece(fixed.max(axis=1), (fixed.argmax(axis=1) == y2).astype(float))
    assert cal_err < raw_err / 2


def test_a_calibrated_model_is_left_as_it_is() -> None:
    proba, y = _binary(2, 4000, distort=False)
    assert fit_calibration(proba, y) is None


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_cbpe_tracks_realised_accuracy_and_auc(seed: int) -> None:
    proba, y = _binary(seed, 20_000, distort=True)
    cal = fit_calibration(*_binary(seed + 100, 4000, distort=True))
    predicted = proba.argmax(axis=1)
    est = estimate(cal, proba, predicted)
    assert est["accuracy"] == pytest.approx(float((predicted == y).mean()), abs=0.015)
    assert est["roc_auc"] == pytest.approx(float(roc_auc_score(y, proba[:, 1])), abs=0.015)


def test_estimated_auc_of_certain_labels_is_the_realised_auc() -> None:
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.6, 0.2])
    label = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    assert estimated_roc_auc(score, label) == pytest.approx(roc_auc_score(label, score))


def test_reference_profiles_predictions_and_scores() -> None:
    proba, y = _binary(6, 1000, distort=True)
    pred = proba.argmax(axis=1)
    ref = build_reference("binary", (0, 1), y, pred, proba, {"accuracy": 0.7})
    assert set(ref.predictions.features) == {"prediction", "score"}
    assert ref.predictions.features["prediction"].kind == "categorical"
    assert ref.estimated["accuracy"] == pytest.approx(float((pred == y).mean()), abs=0.05)
    regression = build_reference("regression", None, [1.0, 2.0], [1.5, 2.5], None, {"rmse": 0.5})
    assert set(regression.predictions.features) == {"prediction"}
    assert regression.calibration is None
