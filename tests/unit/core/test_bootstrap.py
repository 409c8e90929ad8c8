"""The paired bootstrap: weighted metrics equal scikit-learn's, and the interval behaves."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlgate.core.bootstrap import Outputs, improvement_interval, resample_weights, weighted_metric
from mlgate.core.metrics import compute_metrics

pytestmark = pytest.mark.unit


def _binary(seed: int, n: int, noise: float) -> tuple[np.ndarray, Outputs]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.3 + rng.normal(0.35, noise, n), 0.0, 1.0).round(2)  # ties on purpose
    proba = np.column_stack([1 - score, score])
    return y, Outputs((score >= 0.5).astype(int), proba)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 300))
def test_unit_weights_reproduce_scikit_learn(seed: int, n: int) -> None:
    y, out = _binary(seed, n, 0.2)
    if len(set(y.tolist())) < 2:
        return
    expected = compute_metrics("binary", y, out.predictions, out.probabilities, (0, 1), 1)
    w = np.ones((1, n))
    for metric, value in expected.items():
        got = weighted_metric(metric, "binary", w, y, out, (0, 1), 1)[0]
        assert got == pytest.approx(value, abs=1e-9), metric


def test_draw_counts_are_the_same_as_repeating_rows() -> None:
    """A row drawn k times weighs as k copies of it: AUC on the expanded rows agrees."""
    y, out = _binary(3, 80, 0.25)
    w = resample_weights(80, 5, seed=1)
    auc = weighted_metric("roc_auc", "binary", w, y, out, (0, 1), 1)
    proba = np.asarray(out.probabilities)
    for b in range(5):
        idx = np.repeat(np.arange(80), w[b].astype(int))
        assert auc[b] == pytest.approx(skm.roc_auc_score(y[idx], proba[idx, 1]))
    assert (w.sum(axis=1) == 80).all()


def test_multiclass_and_regression_unit_weights() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 200)
    proba = rng.dirichlet([1, 1, 1], 200)
    proba[np.arange(200), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    out = Outputs(proba.argmax(axis=1), proba)
    expected = compute_metrics("multiclass", y, out.predictions, proba, (0, 1, 2))
    for metric, value in expected.items():
        got = weighted_metric(metric, "multiclass", np.ones((1, 200)), y, out, (0, 1, 2), None)
        assert got[0] == pytest.approx(value, abs=1e-9), metric
    target = rng.normal(size=100)
    reg = Outputs(target + rng.normal(0, 0.3, 100))
    expected = compute_metrics("regression", target, reg.predictions)
    for metric, value in expected.items():
        got = weighted_metric(metric, "regression", np.ones((1, 100)), target, reg, None, None)
        assert got[0] == pytest.approx(value, abs=1e-9), metric


def test_the_interval_spans_zero_for_two_equal_models_and_not_for_a_worse_one() -> None:
    y, good = _binary(7, 1000, 0.15)
    _, twin = _binary(7, 1000, 0.15)
    interval = partial(
        improvement_interval,
        "roc_auc",
        "binary",
        y,
        classes=(0, 1),
        positive=1,
        higher_is_better=True,
        relative=False,
        resamples=500,
        confidence=0.95,
        seed=0,
    )
    same = interval(twin, good)
    assert same.low == same.high == 0.0
    rng = np.random.default_rng(0)
    noisy = np.array(good.probabilities, dtype=float)
    noisy[:, 1] = np.clip(noisy[:, 1] + rng.normal(0, 0.3, 1000), 0, 1)
    noisy[:, 0] = 1 - noisy[:, 1]
    worse = Outputs((noisy[:, 1] >= 0.5).astype(int), noisy)
    down = interval(worse, good)
    assert down.high < 0.0
    up = interval(good, worse)
    assert up.low == pytest.approx(-down.high)
    # Lower-is-better metrics are signed so that positive is better, as in the gates.
    loss = improvement_interval(
        "log_loss", "binary", y, worse, good, classes=(0, 1), positive=1,
        higher_is_better=False, relative=True, resamples=300, confidence=0.9, seed=0,
    )  # fmt: skip
    assert loss.high < 0.0
