"""What one server process holds: the bundle, the predictor, the batcher, the log, the metrics.

The bundle is verified when the app is created (a tampered bundle never starts a server); the
model is loaded and warmed in a background thread, so `/health` answers at once and `/ready`
turns 200 only when a prediction would be fast (with `--online-features`, also after one
bounded warm-up lookup of the online store, made on the server's event loop meanwhile). A
prediction request asks `ready_predictor` once: the one readiness decision on its path; what
follows is handed the predictor.

Every prediction-log record is built here (`record`, `record_refusal`), in the type of
core/records/predlog.py that the monitor reads back.

The state is given the deployment's `FeedbackKeys` (app.py resolves them): the secret that
signs the request ids of answered predictions (wire.RequestIds), so that POST /feedback
takes labels only for those, and the bearer token /feedback asks for, if any. Without keys a
random secret is made for this process: its ids are then taken by it alone.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.lowlevel import EventLoopToken

from mlgate.core.records.predlog import PredictionRecord, Refusal
from mlgate.core.redact import redact_uri
from mlgate.serve.batcher import MicroBatcher
from mlgate.serve.errors import RequestError
from mlgate.serve.feedback import FeedbackGate
from mlgate.serve.metrics import ServerMetrics
from mlgate.serve.monitoring import Monitoring
from mlgate.serve.online import FeatureServer, OnlineJoin, warm_soon
from mlgate.serve.predlog import PredictionLog
from mlgate.serve.runtime import Output, Predictor, concat, load_predictor
from mlgate.serve.settings import ServeSettings
from mlgate.serve.validate import Batch, PredictRequest, Validator
from mlgate.serve.wire import RequestIds, clip
from mlgate.serve.workers import WorkerReadiness
from mlgate.store.bundle import Bundle

if TYPE_CHECKING:
    import anyio

log = logging.getLogger("mlgate.serve")

# Enough to amortise one scikit-learn call (milliseconds) over a burst of concurrent rows.
AUTO_MAX_BATCH = 32


@dataclass(frozen=True)
class FeedbackKeys:
    """The deployment's feedback secret (at least 16 bytes) and bearer token (None: none)."""

    secret: bytes
    token: str | None = None

    def __repr__(self) -> str:  # never the secret in a log or traceback
        return f"FeedbackKeys(token={'set' if self.token else None})"

    @classmethod
    def fresh(cls) -> FeedbackKeys:
        """A random secret, for this process only."""
        return cls(secrets.token_bytes(32))


def example_rows(bundle: Bundle) -> list[list[Any]]:
    """Warm-up rows: the bundle's MLflow input example, else one row made from the schema."""
    features = bundle.schema.features
    path = bundle.path / "input_example.json"
    if path.is_file():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            index = {name: i for i, name in enumerate(raw["columns"])}
            return [[row[index[f.name]] for f in features] for row in raw["data"]]
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("input_example.json does not fit the schema; warming with a made-up row")
    row: list[Any] = []
    for f in features:
        if f.kind == "categorical":
            row.append(f.categories[0] if f.categories else "")
        elif f.kind == "datetime":
            row.append(f.earliest or "2000-01-01")
        elif f.kind == "boolean":
            row.append(False)
        else:
            row.append(f.min if f.min is not None else 0.0)
    return [row]


class ServerState:
    """The model server's moving parts and its readiness."""

    def __init__(
        self, bundle: Bundle, settings: ServeSettings, keys: FeedbackKeys | None = None
    ) -> None:
        self.bundle = bundle
        self.settings = settings
        self.meta = bundle.meta
        self.version = bundle.version
        self.classifier = bundle.meta.task != "regression"
        self.classes: list[Any] | None = list(bundle.meta.classes) if bundle.meta.classes else None
        # The schema does not say the task: the validator refuses `probabilities` (body or
        # query) on a regression model's /predict.
        self.validator = Validator.for_schema(
            bundle.schema, settings.max_rows, classifier=self.classifier
        )
        self.metrics = ServerMetrics(_value_buckets(bundle))
        # Drift gauges and POST /feedback (serve/monitoring.py).
        self.monitoring = Monitoring.for_bundle(
            bundle, settings, self.version, self.metrics.registry
        )
        keys = keys or FeedbackKeys.fresh()
        self.ids = RequestIds(keys.secret)
        self.feedback = FeedbackGate(
            self.monitoring.feedback, self.ids.issued, token=keys.token, max_rows=settings.max_rows
        )
        self.predictor: Predictor | None = None
        self.ready = False
        self.workers = WorkerReadiness.from_env()
        self.failed: str | None = None
        self.started = time.monotonic()
        self.ready_seconds: float | None = None
        self.batcher: MicroBatcher[tuple[Predictor, Batch, bool], Output] | None = None
        self.predlog: PredictionLog | None = None
        # The log keeps the probabilities of every prediction, for label-free performance
        # estimates (and the refused requests, for the monitor's error rate).
        self.logs_scores = (
            self.classifier and settings.log_dir is not None and settings.log_probabilities
        )
        self.public = public_metadata(bundle, self.version)
        self.online = _online_join(bundle, settings)
        # The server's event loop (`start`): the online store's client lives on it.
        self._token: EventLoopToken | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._loaded = threading.Event()
        self.batching = False
        self._latency: dict[str, Any] = {}

    def route_latency(self, route: str) -> Any:
        """The latency histogram of `route` (its series created at zero on first use)."""
        child = self._latency.get(route)
        if child is None:
            child = self._latency[route] = self.metrics.latency.labels(route)
        return child

    # -- lifecycle ------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the runtime and warm it; runs in a thread while the server already answers."""
        warmed = warm_soon(self.online, self.settings.online_timeout, self._token)
        try:
            predictor = load_predictor(self.bundle, self.settings.runtime)
            rows = example_rows(self.bundle)
            warm = self.validator.from_lists(rows, field="input_example")
            one = self.validator.from_lists(rows[:1], field="input_example")
            # A few calls: the first ones pay for lazy allocations in the runtime.
            for _ in range(3):
                predictor.predict(warm, self.classifier)
                predictor.predict(one, self.classifier)
        except Exception:
            # /health and /ready say that it failed; the log says why (never a client).
            self.failed = "the model could not be loaded; see the server log"
            log.exception("the model could not be loaded; the server stays unready")
            return
        finally:
            self._loaded.set()
        max_batch = self.settings.max_batch
        self.batching = max_batch is not None and max_batch > 1
        if max_batch is None:
            self.batching = predictor.name == "sklearn"
        self.metrics.set_model(
            {
                "name": self.meta.name,
                "version": self.version,
                "runtime": predictor.name,
                "task": self.meta.task,
                "git_commit": self.meta.git.commit or "",
                "created_at": self.meta.created_at,
            },
            self.classes,
        )
        warmed()  # the online store's warm-up, begun alongside the load (serve/online.py)
        self.ready_seconds = time.monotonic() - self.started
        # Set together: `ready_predictor` decides from the predictor, /ready from the flag.
        self.predictor = predictor
        self.ready = True
        self.metrics.ready.set(1)
        self.workers.mark_ready()
        log.info(
            "model %s (%s, %s) ready in %.2f s",
            self.meta.name,
            self.version,
            predictor.name,
            self.ready_seconds,
        )

    async def start(self) -> None:
        """Start the batcher and the log writer (on the server's event loop)."""
        self._token = anyio.lowlevel.current_token()

        # One prediction thread for the slow runtime: parallel threads would only contend for
        # the GIL, and the micro-batcher already merges concurrent requests.
        self._limiter = anyio.CapacityLimiter(1)
        if self.settings.max_batch is None or self.settings.max_batch > 1:
            self.batcher = MicroBatcher(
                self._run_batch,
                max_batch=self.settings.max_batch or AUTO_MAX_BATCH,
                max_wait=self.settings.max_wait_ms / 1000.0,
                on_batch=self.metrics.batch_size.observe,
            )
            self.batcher.start()
        if self.settings.log_dir is not None:
            self.predlog = PredictionLog(
                self.settings.log_dir,
                features=self.validator.names,
                capacity=self.settings.log_queue,
                max_bytes=self.settings.log_max_bytes,
                keep=self.settings.log_keep,
                on_drop=self.metrics.log_dropped.inc,
            )
            self.predlog.start()

    async def stop(self) -> None:
        """Stop counting as ready, finish queued predictions, then flush and close the log."""
        self.workers.mark_gone()
        if self.batcher is not None:
            await self.batcher.close()
        if self.predlog is not None:
            await anyio.to_thread.run_sync(self.predlog.close)
        self.monitoring.close()
        if self.online is not None:
            await self.online.store.close()

    # -- predicting -----------------------------------------------------------------------------

    def ready_predictor(self) -> Predictor:
        """The loaded predictor, or a 503 while it is not: whether a prediction can run."""
        predictor = self.predictor
        if predictor is None:
            raise RequestError(503, "not_ready", "the model is not loaded yet")
        return predictor

    async def call(self, predictor: Predictor, batch: Batch, probabilities: bool) -> Output:
        """Run the predictor: inline for ONNX (microseconds), in a thread for scikit-learn."""
        if predictor.name == "onnx":
            return predictor.predict(batch, probabilities)

        return await anyio.to_thread.run_sync(
            predictor.predict, batch, probabilities, limiter=self._limiter
        )

    async def _run_batch(self, items: list[tuple[Predictor, Batch, bool]]) -> list[Output]:
        merged = concat([b for _, b, _ in items])
        out = await self.call(items[0][0], merged, any(p for _, _, p in items))
        results: list[Output] = []
        start = 0
        for _, b, _ in items:
            results.append(out.slice(start, start + b.rows))
            start += b.rows
        return results

    async def predict(self, predictor: Predictor, request: PredictRequest) -> Output:
        """Predict one request, through the micro-batcher when it is a single row."""
        batch = request.batch
        if batch.rows == 1 and self.batching and self.batcher is not None:
            return await self.batcher.submit((predictor, batch, request.probabilities))
        return await self.call(predictor, batch, request.probabilities)

    def record(
        self,
        request_id: str,
        batch: Batch,
        out: Output,
        probabilities: bool,
        latency: float,
    ) -> list[Any]:
        """Count the predictions and queue the log record; returns the predictions as JSON."""
        preds: list[Any] = out.predictions.tolist()
        self.metrics.rows.inc(batch.rows)
        self.metrics.observe_predictions(preds, self.classifier)
        self.monitoring.observe(request_id, batch, preds)
        if self.predlog is not None:
            proba = out.probabilities
            scores = proba.tolist() if probabilities and proba is not None else None
            self._log(request_id, latency, None, batch.raw, preds, scores)
        return preds

    def record_refusal(self, request_id: str, error: RequestError, latency: float) -> None:
        """Queue the log record of a refused prediction request (when there is a log)."""
        if self.predlog is not None:
            refusal = Refusal(error.status, error.kind, clip(error.field))
            self._log(request_id, latency, refusal, None, None, None)

    def _log(
        self,
        request_id: str,
        latency: float,
        error: Refusal | None,
        rows: Sequence[Any] | None,
        preds: list[Any] | None,
        scores: list[Any] | None,
    ) -> None:
        """Queue one record: a refusal (`error`), or rows with their predictions and scores."""
        assert self.predlog is not None
        self.predlog.submit(
            PredictionRecord(
                ts=time.time(),
                request_id=request_id,
                model=self.meta.name,
                version=self.version,
                runtime=None if error is not None or not self.predictor else self.predictor.name,
                latency_ms=round(latency * 1000.0, 3),
                instances=rows,
                predictions=preds,
                probabilities=scores,
                error=error,
            )
        )

    @property
    def server_ready(self) -> bool:
        """Ready to take traffic: this worker's model is warm, and so is every sibling's."""
        return self.ready and self.workers.all_ready()

    def status(self) -> dict[str, Any]:
        """GET /: what is served and whether it is ready."""
        return {
            "name": self.meta.name,
            "version": self.version,
            "task": self.meta.task,
            "runtime": self.predictor.name if self.predictor else None,
            "ready": self.ready,
            "error": self.failed,
            "features": list(self.validator.names),
            "classes": self.classes,
            "ready_seconds": self.ready_seconds,
        }


def _online_join(bundle: Bundle, settings: ServeSettings) -> OnlineJoin | None:
    """The online-feature join of `--online-features` (serve/online.py), or None."""
    if settings.online_features is None:
        return None
    store = FeatureServer(settings.online_features, settings.online_timeout)
    return OnlineJoin.for_bundle(
        bundle, store, max_rows=settings.max_rows, retry_after=settings.retry_after
    )


def _public_path(value: Any) -> Any:
    """A path of the host that trained or gated the model, reduced to its last part (a URL's
    credentials and tokens redacted first)."""
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return Path(redact_uri(value).replace("\\", "/")).name
    return value


def public_metadata(bundle: Bundle, version: str) -> dict[str, Any]:
    """GET /metadata: the bundle's lineage, without the paths of the hosts it came from."""
    data = bundle.meta.model_dump(mode="json")
    data["version"] = version
    data["data"]["path"] = _public_path(data["data"].get("path"))
    data["schema"] = [f.model_dump(mode="json", exclude_none=True) for f in bundle.schema.features]
    report = bundle.gate_report()
    gate = None if report is None else report.dump()
    if gate is not None:
        gate.pop("bundle", None)
        champion = gate.get("champion")
        if isinstance(champion, dict):
            champion["label"] = _public_path(champion.get("label"))
    data["gate"] = gate
    return data


def _value_buckets(bundle: Bundle) -> Sequence[float] | None:
    target = bundle.schema.target
    if bundle.meta.task != "regression" or target is None:
        return None
    if target.min is None or target.max is None or not target.max > target.min:
        return None
    lo, hi = target.min, target.max
    step = (hi - lo) / 10
    return [lo + i * step for i in range(11)] + [math.inf]
