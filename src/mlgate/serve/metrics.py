"""Prometheus metrics of one app, in its own registry (so tests can run several apps).

With `--workers N` the workers are separate processes and a scrape reaches one of them, so
`mlgate serve` points prometheus-client's multiprocess mode at a fresh directory
(`PROMETHEUS_MULTIPROC_DIR`): every worker writes its values there and any worker's /metrics
answers with the sum over all of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client import multiprocess as mp

# Latency buckets from 0.25 ms: the fast path answers in about a millisecond, so the default
# buckets (5 ms and up) would put every request in the first one.
LATENCY_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    """True when the workers share their metrics through a directory."""
    return bool(os.environ.get(MULTIPROC_ENV))


class ServerMetrics:
    """The server's counters, histograms and gauges."""

    def __init__(self, value_buckets: Sequence[float] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._http_series(self.registry)
        self._model_series(self.registry, value_buckets)
        self._class_children: dict[Any, Any] = {}

    def _http_series(self, r: CollectorRegistry) -> None:
        """Requests, latency, errors, limits, disconnects and body bytes in flight."""
        self.requests = Counter(
            "mlgate_requests", "HTTP requests answered.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "mlgate_request_latency_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "mlgate_errors", "Requests refused or failed, by kind.", ["kind"], registry=r
        )
        self.limited = Counter(
            "mlgate_limited",
            "Connections and requests refused or cut by a server limit, by reason "
            "(header_too_large, too_many_headers, header_timeout, body_timeout, idle_timeout, "
            "overloaded, evicted_idle, body_budget, draining).",
            ["reason"],
            registry=r,
        )
        self.client_disconnects = Counter(
            "mlgate_client_disconnects",
            "Requests whose client went away before its body was complete.",
            ["route"],
            registry=r,
        )
        self.body_bytes = Gauge(
            "mlgate_body_bytes_in_flight",
            "Request body bytes held by requests in progress (the --max-inflight-mb budget).",
            registry=r,
            multiprocess_mode="livesum",
        )

    def _model_series(self, r: CollectorRegistry, value_buckets: Sequence[float] | None) -> None:
        """Predictions, batches, the prediction log, the served model and readiness."""
        self.rows = Counter("mlgate_predicted_rows", "Rows predicted.", registry=r)
        self.predicted_class = Counter(
            "mlgate_predictions_by_class", "Predicted rows by class.", ["class_"], registry=r
        )
        self.predicted_value = Histogram(
            "mlgate_prediction_value",
            "Predicted values (regression).",
            buckets=tuple(value_buckets) if value_buckets else Histogram.DEFAULT_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "mlgate_micro_batch_size",
            "Single-row requests per model call.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.log_dropped = Counter(
            "mlgate_prediction_log_dropped",
            "Prediction log records dropped because the queue was full or the disk failed.",
            registry=r,
        )
        # Info metrics do not work across processes: there, the same series is a gauge at 1.
        self.model: Info | None = (
            None if multiprocess() else Info("mlgate_model", "The model being served.", registry=r)
        )
        self.ready = Gauge(
            "mlgate_ready",
            "1 when the model is loaded and warmed (in every live worker).",
            registry=r,
            multiprocess_mode="livemin",
        )

    def set_model(self, info: dict[str, str], classes: Sequence[Any] | None) -> None:
        """Record the served model and pre-create one series per class."""
        if self.model is not None:
            self.model.info(info)
        else:
            names = sorted(info)
            gauge = Gauge(
                "mlgate_model_info",
                "The model being served.",
                names,
                registry=self.registry,
                multiprocess_mode="max",
            )
            gauge.labels(*(info[n] for n in names)).set(1)
        for c in classes or ():
            self._class_children[c] = self.predicted_class.labels(str(c))

    def observe_predictions(self, predictions: Sequence[Any], classifier: bool) -> None:
        """Count predicted classes, or record predicted values."""
        if classifier:
            counts: dict[Any, int] = {}
            for p in predictions:
                counts[p] = counts.get(p, 0) + 1
            for c, n in counts.items():
                child = self._class_children.get(c)
                if child is None:
                    child = self._class_children[c] = self.predicted_class.labels(str(c))
                child.inc(n)
        else:
            for v in predictions:
                self.predicted_value.observe(v)

    def render(self) -> bytes:
        """The text exposition format."""
        if multiprocess():
            combined = CollectorRegistry()
            mp.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
            merged: bytes = generate_latest(combined)
            return merged
        data: bytes = generate_latest(self.registry)
        return data

    @staticmethod
    def worker_exited(pid: int) -> None:
        """Drop a stopped worker's live gauges from the shared directory."""
        if multiprocess():
            mp.mark_process_dead(pid)  # type: ignore[no-untyped-call]
