"""One pass over the log's chunks: per time window and per feature, bounded summaries.

For the bundle's own model version, every window keeps a `ColumnSketch` per feature and per
prediction column (merged for the whole period at the end), the CBPE sums, the realised
outcomes of labelled rows, schema breaks, errors and a latency histogram. Rows of other model
versions are only counted: their inputs are judged against their own bundle, not this one.
Memory is bounded by windows x features x sketch size, never by the log's length.

Windows are sized to the data. They start fine (the configured window / 2^FINE_LEVELS) and
double, merging pairs, whenever the rows read so far would span more than MAX_WINDOWS; once
every chunk is in, `finish` widens them towards the configured window as long as that keeps
MIN_POINTS windows with rows (or loses none, where there are fewer). A period that fits in one
configured window is still plotted as a trend, and windows stay aligned to the configured one.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from mlgate.app.monitor.labels import Labels
from mlgate.app.monitor.logs import Chunk
from mlgate.core.histograms import score_histogram
from mlgate.core.profile import CategoricalProfile, NumericProfile, Profile
from mlgate.core.schema import ColumnSpec
from mlgate.core.stream import ColumnSketch
from mlgate.model.calibration import Calibration, calibrate

if TYPE_CHECKING:
    import numpy as np

LATENCY_EDGES_MS = (1e-3, 1e6, 900)  # log-spaced: about 2.3% apart
MAX_WINDOWS = 200
MIN_POINTS = 8
FINE_LEVELS = 20  # an hour's window starts at about 3 ms


def latency_edges() -> np.ndarray:
    """Bin edges of the latency histogram, in milliseconds."""

    lo, hi, n = LATENCY_EDGES_MS
    return np.logspace(math.log10(lo), math.log10(hi), int(n) + 1)


@dataclass
class Window:
    """What one time window of the bundle's version saw."""

    index: int
    rows: int = 0
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    sketches: dict[str, ColumnSketch] = field(default_factory=dict)
    predictions: dict[str, ColumnSketch] = field(default_factory=dict)
    est_n: int = 0
    est_sum: float = 0.0
    est_counts: Any = None  # score histogram: rows per bin
    est_pos: Any = None  # score histogram: sum of calibrated P(positive) per bin
    labelled: int = 0
    correct: float = 0.0
    real_counts: Any = None
    real_pos: Any = None
    sse: float = 0.0
    sum_y: float = 0.0
    sum_y2: float = 0.0
    abs_err: float = 0.0

    def absorb(self, other: Window) -> None:
        """Add the summaries of `other` (the next window, when two become one)."""
        for spec in fields(self):
            if spec.name == "index":
                continue
            mine, theirs = getattr(self, spec.name), getattr(other, spec.name)
            if isinstance(mine, dict) and not isinstance(mine, Counter):
                for name, sketch in theirs.items():
                    if name in mine:
                        mine[name].merge(sketch)
                    else:
                        mine[name] = sketch
            elif mine is None or theirs is not None:
                setattr(self, spec.name, theirs if mine is None else mine + theirs)


@dataclass
class Other:
    """Rows of a model version other than the bundle's."""

    rows: int = 0
    requests: int = 0
    errors: int = 0


class Analysis:
    """Accumulates chunks; read the result through its attributes once every chunk is in."""

    def __init__(
        self,
        *,
        version: str,
        features: tuple[ColumnSpec, ...],
        profile: Profile,
        predictions: Profile | None,
        classes: tuple[Any, ...] | None,
        calibration: Calibration | None,
        labels: Labels,
        window_seconds: float,
        since: float | None,
        until: float | None,
        keep: int,
        psi: bool = False,
    ) -> None:

        self.version = version
        self.features = tuple(f for f in features if f.name in profile.features)
        self.profile = profile
        self.prediction_profile = predictions
        self.classes = classes
        self.calibration = calibration
        self.labels = labels
        self.label_ids = labels.request_ids
        self.target_seconds = window_seconds
        self.window_seconds = math.ldexp(window_seconds, -FINE_LEVELS)
        self.since = since
        self.until = until
        self.keep = keep
        self.psi = psi
        self.windows: dict[int, Window] = {}
        self.others: dict[str, Other] = {}
        self.out_of_schema: Counter[str] = Counter()
        self.latency = np.zeros(int(LATENCY_EDGES_MS[2]) + 2, dtype=np.int64)
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.outside_period = 0

    # -- accumulating ----------------------------------------------------------------------------

    def add(self, chunk: Chunk) -> None:
        """Take one chunk (any versions, any times)."""

        ts = chunk["ts"]
        keep = np.ones(ts.size, dtype=bool)
        if self.since is not None:
            keep &= ts >= self.since
        if self.until is not None:
            keep &= ts < self.until
        self.outside_period += int(ts.size - keep.sum())
        versions = chunk["version"]
        mine = keep & (versions == self.version)
        if not bool(mine.all()):
            self._count_others(chunk, keep & ~mine)
        if not bool(mine.any()):
            return
        if not bool(mine.all()):
            chunk = {k: v[mine] for k, v in chunk.items()}
        self._add_mine(chunk)

    def _count_others(self, chunk: Chunk, mask: np.ndarray) -> None:
        if not bool(mask.any()):
            return
        for version, row, error in zip(
            chunk["version"][mask].tolist(),
            chunk["row"][mask].tolist(),
            chunk["error"][mask].tolist(),
            strict=True,
        ):
            other = self.others.setdefault(str(version), Other())
            if error is not None:
                other.errors += 1
                continue
            other.rows += 1
            other.requests += 1 if row == 0 else 0

    def _add_mine(self, chunk: Chunk) -> None:

        ts = chunk["ts"]
        lo, hi = float(ts.min()), float(ts.max())
        self.first_ts = lo if self.first_ts is None else min(self.first_ts, lo)
        self.last_ts = hi if self.last_ts is None else max(self.last_ts, hi)
        while (self.last_ts - self.first_ts) / self.window_seconds >= MAX_WINDOWS - 1:
            self._coarsen()
        errors = chunk["error"] != None  # noqa: E711 - elementwise comparison with None
        if bool(errors.any()):
            for index, kind in zip(
                self._window_index(ts[errors]).tolist(),
                chunk["error"][errors].tolist(),
                strict=True,
            ):
                self._window(index).errors[str(kind)] += 1
            chunk = {k: v[~errors] for k, v in chunk.items()}
            ts = chunk["ts"]
            if ts.size == 0:
                return
        latency = chunk["latency_ms"]
        latency = latency[np.isfinite(latency)]
        if latency.size:
            idx = np.searchsorted(latency_edges(), latency, side="right")
            self.latency += np.bincount(idx, minlength=self.latency.size)
        self._schema_breaks(chunk)
        windows = self._window_index(ts)
        if bool((windows[1:] >= windows[:-1]).all()):
            # Time-ordered (as the log is written): each window is a slice, a view, not a copy.
            starts = np.flatnonzero(np.r_[True, windows[1:] != windows[:-1]])
            for a, b in zip(starts.tolist(), [*starts[1:].tolist(), ts.size], strict=True):
                piece = chunk if (a, b) == (0, ts.size) else {k: v[a:b] for k, v in chunk.items()}
                self._add_window(self._window(int(windows[a])), piece)
            return
        for index in np.unique(windows).tolist():
            part = windows == index
            self._add_window(self._window(index), {k: v[part] for k, v in chunk.items()})

    def _window_index(self, ts: np.ndarray) -> np.ndarray:

        return np.floor(ts / self.window_seconds).astype(np.int64)

    def _window(self, index: int) -> Window:
        window = self.windows.get(index)
        if window is None:
            window = self.windows[index] = Window(index)
        return window

    def _sketch(self, store: dict[str, ColumnSketch], name: str, ref: Any) -> ColumnSketch:
        sketch = store.get(name)
        if sketch is None:
            sketch = store[name] = ColumnSketch(ref, keep=self.keep, psi=self.psi)
        return sketch

    def _add_window(self, window: Window, chunk: Chunk) -> None:

        n = chunk["ts"].size
        window.rows += n
        window.requests += int((chunk["row"] == 0).sum())
        for spec in self.features:
            ref = self.profile.features[spec.name]
            self._sketch(window.sketches, spec.name, ref).add(chunk[f"f:{spec.name}"])
        prediction = chunk["prediction"]
        proba = self._proba(chunk)
        prof = self.prediction_profile
        if prof is not None and "prediction" in prof.features:
            ref = prof.features["prediction"]
            if isinstance(ref, CategoricalProfile) and self.classes is not None:
                names = np.array([str(c) for c in self.classes] + [None], dtype=object)
                idx = np.where(np.isfinite(prediction), prediction, -1).astype(np.int64)
                values = names[np.where(idx >= 0, idx, len(self.classes))]
                self._sketch(window.predictions, "prediction", ref).add(values)
            elif isinstance(ref, NumericProfile):
                self._sketch(window.predictions, "prediction", ref).add(prediction)
            if proba is not None and "score" in prof.features:
                score = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
                self._sketch(window.predictions, "score", prof.features["score"]).add(score)
        if proba is not None and self.classes is not None:
            self._estimate(window, chunk, proba)
        if self.label_ids:
            self._realise(window, chunk, proba)

    def _proba(self, chunk: Chunk) -> np.ndarray | None:

        if self.classes is None or "p:0" not in chunk:
            return None
        return np.column_stack([chunk[f"p:{j}"] for j in range(len(self.classes))])

    def _estimate(self, window: Window, chunk: Chunk, proba: np.ndarray) -> None:

        pred = chunk["prediction"]
        ok = np.isfinite(proba).all(axis=1) & np.isfinite(pred) & (pred >= 0)
        if not bool(ok.any()):
            return
        raw = proba[ok]
        cal = calibrate(self.calibration, raw)
        predicted = pred[ok].astype(np.int64)
        window.est_n += int(ok.sum())
        window.est_sum += float(cal[np.arange(predicted.size), predicted].sum())
        if raw.shape[1] == 2:
            counts, pos = score_histogram(raw[:, 1], cal[:, 1])
            window.est_counts = counts if window.est_counts is None else window.est_counts + counts
            window.est_pos = pos if window.est_pos is None else window.est_pos + pos

    def _realise(self, window: Window, chunk: Chunk, proba: np.ndarray | None) -> None:

        rids = chunk["request_id"]
        has = np.fromiter((r in self.label_ids for r in rids.tolist()), dtype=bool, count=rids.size)
        if not bool(has.any()):
            return
        where = np.nonzero(has)[0]
        values = self.labels.values
        truth = np.array(
            [values.get((rids[i], int(chunk["row"][i])), math.nan) for i in where.tolist()]
        )
        found = np.isfinite(truth)
        where, truth = where[found], truth[found]
        if where.size == 0:
            return
        pred = chunk["prediction"][where]
        window.labelled += int(where.size)
        if self.classes is None:
            err = pred - truth
            window.sse += float((err * err).sum())
            window.abs_err += float(np.abs(err).sum())
            window.sum_y += float(truth.sum())
            window.sum_y2 += float((truth * truth).sum())
            return
        window.correct += float((pred == truth).sum())
        if proba is not None and proba.shape[1] == 2:
            score = proba[where, 1]
            ok = np.isfinite(score)
            counts, pos = score_histogram(score[ok], (truth[ok] == 1).astype(np.float64))
            window.real_counts = (
                counts if window.real_counts is None else window.real_counts + counts
            )
            window.real_pos = pos if window.real_pos is None else window.real_pos + pos

    def _schema_breaks(self, chunk: Chunk) -> None:

        for spec in self.features:
            values = chunk[f"f:{spec.name}"]
            if spec.kind == "categorical":
                continue  # counted from the sketches' category counts (category_breaks)
            finite = np.isfinite(values)
            bad = 0 if spec.nullable else int((~finite).sum())
            if spec.min is not None:
                bad += int((values[finite] < spec.min).sum())
            if spec.max is not None:
                bad += int((values[finite] > spec.max).sum())
            if bad:
                self.out_of_schema[spec.name] += bad

    def _coarsen(self) -> None:
        """Double the windows: each pair of neighbours becomes one."""
        self.window_seconds *= 2
        merged: dict[int, Window] = {}
        for index in sorted(self.windows):
            window = self.windows[index]
            into = merged.get(index // 2)
            if into is None:
                window.index = index // 2
                merged[window.index] = window
            else:
                into.absorb(window)
        self.windows = merged

    def finish(self) -> None:
        """Widen the windows towards the configured one while that keeps MIN_POINTS of them
        (or, with fewer, loses none); call once every chunk is in."""
        while self.window_seconds * 2 <= self.target_seconds * (1 + 1e-9):
            now = len(self.windows)
            wider = len({index // 2 for index in self.windows})
            if now and wider < min(MIN_POINTS, now):
                return
            self._coarsen()

    # -- reading ---------------------------------------------------------------------------------

    def category_breaks(self, spec: ColumnSpec, sketch: ColumnSketch) -> int:
        """Values of a categorical feature outside its schema (unknown category, or null)."""
        bad = 0 if spec.nullable else sketch.nulls
        if spec.categories is not None and spec.closed:  # open categories: a drift rate
            allowed = set(spec.categories)
            bad += sum(n for k, n in sketch.counts.items() if k not in allowed)
        return bad

    def ordered(self) -> list[Window]:
        """The windows that saw rows or errors, in time order."""
        return [self.windows[i] for i in sorted(self.windows)]

    def total(self, name: str, predictions: bool = False) -> ColumnSketch | None:
        """The whole period's sketch of a feature (or of `prediction`/`score`)."""
        merged: ColumnSketch | None = None
        for window in self.ordered():
            store = window.predictions if predictions else window.sketches
            sketch = store.get(name)
            if sketch is None:
                continue
            if merged is None:
                merged = ColumnSketch(sketch.ref, keep=self.keep, psi=self.psi)
            merged.merge(sketch)
        return merged

    def latency_quantiles(self, qs: tuple[float, ...]) -> dict[str, float]:
        """Latency percentiles in ms (to the histogram's 2.3% resolution), and the count."""

        n = int(self.latency.sum())
        if n == 0:
            return {}
        edges = latency_edges()
        cum = np.cumsum(self.latency)
        out: dict[str, float] = {"requests": float(n)}
        for q in qs:
            i = int(np.searchsorted(cum, q * n, side="left"))
            i = min(max(i, 1), edges.size)  # bin i covers (edges[i-1], edges[i]]
            out[f"p{round(q * 100):d}"] = float(edges[i - 1])
        return out
