"""The paired bootstrap: how sure is it that the challenger is worse than the champion?

Both models are scored on the same holdout rows. Each resample draws the holdout's rows with
replacement (the same draw for both models: that is what pairs it) and scores both on it; the
spread of the difference is the noise of the holdout. A champion gate then fails only when the
whole interval of the improvement lies below its tolerance.

Resamples are weight vectors (how often each row was drawn), and every metric is computed for
all resamples at once from weighted counts, sums and cumulative sums: a thousand resamples of
a few thousand rows take milliseconds, not the seconds a loop over scikit-learn metrics takes.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlgate.core.vocab import Task

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from mlgate.core.frames import ColT, Values

    Array = npt.NDArray[np.float64]

# Resamples are scored in chunks so that memory stays at CHUNK x rows floats.
CHUNK = 200
# scikit-learn clips probabilities at float64 epsilon before taking logs.
_EPS = sys.float_info.epsilon


@dataclass(frozen=True)
class Outputs:
    """One model's holdout outputs: labels or values, and class probabilities (classifiers)."""

    predictions: Values
    probabilities: Array | None = None


def resample_weights(rows: int, resamples: int, seed: int) -> Array:
    """(resamples, rows) draw counts: row i was drawn w[b, i] times in resample b."""

    rng = np.random.default_rng(seed)
    index = rng.integers(0, rows, size=(resamples, rows), dtype=np.int64)
    index += (np.arange(resamples, dtype=np.int64) * rows)[:, None]
    counts = np.bincount(index.ravel(), minlength=resamples * rows)
    return counts.reshape(resamples, rows).astype(np.float64)


def _safe_div(num: Array, den: Array) -> Array:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def weighted_auc(w: Array, positive: npt.NDArray[np.bool_], scores: Array) -> Array:
    """ROC-AUC of `scores` for boolean `positive` under each row of weights `w` (ties: half)."""

    order = np.argsort(scores, kind="stable")
    sorted_scores = np.asarray(scores)[order]
    is_pos = np.asarray(positive, dtype=bool)[order]
    wo = w[:, order]
    wn = wo * ~is_pos
    total = (wo * is_pos).sum(axis=1) * wn.sum(axis=1)
    tied = sorted_scores[1:] == sorted_scores[:-1]
    if not tied.any():
        # Distinct scores: each positive row counts the negative weight below it.
        below = np.cumsum(wn, axis=1)[:, is_pos]
        return _safe_div((wo[:, is_pos] * below).sum(axis=1), total)
    starts = np.flatnonzero(np.r_[True, ~tied])
    pos_g = np.add.reduceat(wo * is_pos, starts, axis=1)
    neg_g = np.add.reduceat(wn, starts, axis=1)
    below_g = np.cumsum(neg_g, axis=1) - neg_g
    return _safe_div((pos_g * (below_g + 0.5 * neg_g)).sum(axis=1), total)


def weighted_metric(
    metric: str,
    task: Task,
    w: Array,
    y_true: Values | pd.Series[ColT],
    out: Outputs,
    classes: Sequence[object] | None,
    positive: object,
) -> Array:
    """`metric` of one model under each row of resample weights `w` (shape (B, rows))."""

    n = w.sum(axis=1)
    if task == "regression":
        y = np.asarray(y_true, dtype=np.float64)
        err = np.asarray(out.predictions, dtype=np.float64) - y
        if metric == "rmse":
            return np.sqrt(_safe_div(w @ (err * err), n))
        if metric == "mae":
            return _safe_div(w @ np.abs(err), n)
        mean = _safe_div(w @ y, n)
        sst = w @ (y * y) - n * mean * mean
        return 1.0 - _safe_div(w @ (err * err), sst)
    y = np.asarray(y_true, dtype=object)
    pred = np.asarray(out.predictions, dtype=object)
    labels = list(classes) if classes is not None else sorted(set(y.tolist()))
    if metric == "accuracy":
        return _safe_div(w @ (pred == y).astype(float), n)
    if metric in ("precision", "recall", "f1"):
        binary_target = [positive if positive is not None else labels[-1]]
        targets = binary_target if task == "binary" else labels
        scores = []
        for k in targets:
            t, p = y == k, pred == k
            tp = w @ (t & p).astype(float)
            fp = w @ (~t & p).astype(float)
            fn = w @ (t & ~p).astype(float)
            if metric == "precision":
                scores.append(_safe_div(tp, tp + fp))
            elif metric == "recall":
                scores.append(_safe_div(tp, tp + fn))
            else:
                scores.append(_safe_div(2 * tp, 2 * tp + fp + fn))
        result: Array = np.mean(scores, axis=0)
        return result
    proba = np.asarray(out.probabilities, dtype=np.float64)
    if metric == "log_loss":
        index = {c: i for i, c in enumerate(labels)}
        cols = np.array([index[v] for v in y.tolist()])
        p = np.clip(proba[np.arange(len(cols)), cols] / proba.sum(axis=1), _EPS, 1.0)
        return _safe_div(w @ -np.log(p), n)
    if metric == "roc_auc":
        if task == "binary":
            k = labels.index(positive) if positive in labels else len(labels) - 1
            return weighted_auc(w, y == labels[k], proba[:, k])
        per_class: Array = np.mean(
            [weighted_auc(w, y == c, proba[:, i]) for i, c in enumerate(labels)], axis=0
        )
        return per_class
    raise ValueError(f"no bootstrap form for metric {metric!r}")


@dataclass(frozen=True)
class Interval:
    """The bootstrap distribution of a challenger's improvement over the champion."""

    low: float
    high: float
    confidence: float
    resamples: int


def improvement_interval(
    metric: str,
    task: Task,
    y_true: Values | pd.Series[ColT],
    challenger: Outputs,
    champion: Outputs,
    *,
    classes: Sequence[object] | None,
    positive: object,
    higher_is_better: bool,
    relative: bool,
    resamples: int,
    confidence: float,
    seed: int,
) -> Interval:
    """The `confidence` percentile interval of (challenger - champion), signed so that positive
    is better, over `resamples` paired resamples of the holdout; relative to the champion's
    value when `relative`."""

    rows = len(y_true)
    gains: list[Array] = []
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        w = resample_weights(rows, size, seed + start)
        new = weighted_metric(metric, task, w, y_true, challenger, classes, positive)
        old = weighted_metric(metric, task, w, y_true, champion, classes, positive)
        gain = new - old if higher_is_better else old - new
        if relative:
            gain = np.divide(gain, np.abs(old), out=np.zeros_like(gain), where=old != 0)
        gains.append(gain)
    every = np.concatenate(gains)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(every, [tail, 1.0 - tail])
    return Interval(float(low), float(high), confidence, resamples)
