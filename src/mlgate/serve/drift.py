"""Drift gauges on /metrics: the latest inputs of this worker against the bundle's reference.

The server keeps its last `drift_window` predicted rows (the inputs and the predictions) and,
when Prometheus scrapes /metrics (and rows arrived since the last scrape),
tests every feature of that window against the bundle's reference profile with the same tests
and thresholds as `mlgate validate` (`data.stream.sketch_drift`, exact on the window's values):

    mlgate_feature_drift{feature}            the statistic: normalized Wasserstein distance
                                             (numeric) or Jensen–Shannon distance (categorical)
    mlgate_feature_drifted{feature}          1 when it is past its threshold (0.1)
    mlgate_prediction_drift                  the same test on the predictions, against the
                                             holdout's predictions (monitoring.json)
    mlgate_unseen_category_rate{feature}     share of the window's values the reference never saw
    mlgate_drift_window_rows                 rows in the window

The gauges appear once the window holds more than `drift.small_sample` (1000) rows, where
`validate` would use those distances too: a statistic that switched between a p-value and a
distance as the window filled could not be read on one graph. Recording a prediction costs one
deque append; the work happens at scrape time, off the prediction path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge

from mlgate.core.config import DriftConfig
from mlgate.core.profile import CategoricalProfile, NumericProfile, Profile
from mlgate.core.schema import ColumnSpec
from mlgate.core.stream import ColumnSketch, sketch_drift, unseen_count

if TYPE_CHECKING:
    import numpy as np

    from mlgate.serve.validate import Batch

# Deferred imports: NumPy loads with the model: the server's parent process imports this module
# without predicting (tests/unit/test_imports.py).


class LiveDrift:
    """The window of recent rows and the drift gauges computed from it."""

    def __init__(
        self,
        features: Sequence[ColumnSpec],
        profile: Profile,
        predictions: Profile | None,
        *,
        window: int,
        registry: CollectorRegistry,
        config: DriftConfig | None = None,
    ) -> None:
        self.names = [f.name for f in features if f.name in profile.features]
        self.profile = profile
        self.predictions = predictions
        self.window = window
        self.config = config or DriftConfig()
        self.min_rows = min(window, self.config.small_sample + 1)
        self._parts: deque[tuple[dict[str, np.ndarray], list[Any]]] = deque()
        self._rows = 0
        self._new = 0
        self.drift = Gauge(
            "mlgate_feature_drift",
            "Drift statistic of the recent inputs against the reference profile, by feature.",
            ["feature"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.drifted = Gauge(
            "mlgate_feature_drifted",
            "1 when the feature's drift statistic is past its threshold.",
            ["feature"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.prediction = Gauge(
            "mlgate_prediction_drift",
            "Drift statistic of the recent predictions against the holdout's predictions.",
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.unseen = Gauge(
            "mlgate_unseen_category_rate",
            "Share of the recent values of a categorical feature the reference never saw.",
            ["feature"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.rows = Gauge(
            "mlgate_drift_window_rows",
            "Rows in the window the drift gauges are computed from.",
            registry=registry,
            multiprocess_mode="livesum",
        )

    @property
    def enabled(self) -> bool:
        """False when the window is off (size 0)."""
        return self.window > 0

    def observe(self, batch: Batch, predictions: list[Any]) -> None:
        """Keep a predicted batch (O(1)); the oldest rows leave past the window size."""
        if self.window <= 0:
            return
        self._parts.append((batch.columns, predictions))
        self._rows += batch.rows
        self._new += batch.rows
        while self._parts and self._rows - len(self._parts[0][1]) >= self.window:
            _, old = self._parts.popleft()
            self._rows -= len(old)

    def _column(self, name: str) -> np.ndarray:
        import numpy as np

        arrays = [cols[name] for cols, _ in self._parts]
        return np.concatenate(arrays)[-self.window :]

    def refresh(self) -> None:
        """Recompute the gauges if rows arrived since the last time."""
        if not self.enabled or self._new == 0:
            return
        self._new = 0
        rows = min(self._rows, self.window)
        self.rows.set(rows)
        if rows < self.min_rows:
            return
        for name in self.names:
            ref = self.profile.features[name]
            sketch = self._sketch(ref, self._column(name))
            result = sketch_drift(name, ref, sketch, self.config)
            if result.statistic is not None:
                self.drift.labels(name).set(result.statistic)
                self.drifted.labels(name).set(1 if result.drifted else 0)
            if isinstance(ref, CategoricalProfile):
                self.unseen.labels(name).set(unseen_count(ref, sketch) / max(sketch.rows, 1))
        self._prediction_drift()

    def _sketch(self, ref: NumericProfile | CategoricalProfile, values: np.ndarray) -> ColumnSketch:
        sketch = ColumnSketch(ref, keep=self.window)
        sketch.add(values)
        return sketch

    def _prediction_drift(self) -> None:
        import numpy as np

        if self.predictions is None or "prediction" not in self.predictions.features:
            return
        ref = self.predictions.features["prediction"]
        preds = [p for _, ps in self._parts for p in ps][-self.window :]
        if isinstance(ref, CategoricalProfile):
            values = np.array([str(p) for p in preds], dtype=object)
        else:
            values = np.asarray(preds, dtype=np.float64)
        result = sketch_drift("prediction", ref, self._sketch(ref, values), self.config)
        if result.statistic is not None:
            self.prediction.set(result.statistic)
