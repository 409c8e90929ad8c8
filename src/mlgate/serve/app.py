"""The FastAPI app factory: the serving contract of DESIGN.md plus the Open Inference Protocol.

The hot route reads the raw body and validates it by hand (see validate.py) instead of declaring
a pydantic body: the OpenAPI document still describes the body (`openapi_extra`), so clients and
schemathesis see the contract, but a request does not pay for a model instance per row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.requests import ClientDisconnect

from mlgate.serve import schemas
from mlgate.serve.errors import ClientDisconnected, RequestError
from mlgate.serve.limits import DRAINING, GUARD_KEY, Guard, Limits
from mlgate.serve.settings import ServeSettings
from mlgate.serve.state import ServerState, new_request_id
from mlgate.serve.validate import PredictRequest
from mlgate.store.bundle import Bundle, load_bundle

log = logging.getLogger("mlgate.serve")

ENV_BUNDLE = "MLGATE_SERVE_BUNDLE"
ENV_SETTINGS = "MLGATE_SERVE_SETTINGS"

try:  # orjson parses and encodes several times faster; the stdlib is the fallback
    import orjson

    def _dumps(data: Any) -> bytes:
        return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)

    def _loads_fast(body: bytes) -> Any:
        return orjson.loads(body)

except ImportError:  # pragma: no cover - depends on the install

    def _dumps(data: Any) -> bytes:
        return json.dumps(data, separators=(",", ":")).encode()

    def _loads_fast(body: bytes) -> Any:
        return json.loads(body)


JSON = "application/json"
# Routes whose refused requests go to the prediction log (the monitor's error rate).
PREDICT_ROUTES = frozenset({"/predict", "/v2/models/{name}/infer"})


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded once, without FastAPI's generic encoder."""
    return Response(_dumps(data), status_code=status, media_type=JSON, headers=headers)


def parse_json(body: bytes) -> Any:
    """Parse a request body; malformed JSON is a 400."""
    try:
        return _loads_fast(body)
    except ValueError:
        pass
    try:
        # The stdlib also reads NaN / Infinity literals, which validation then judges.
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RequestError(
            400, "invalid_json", f"the body is not valid JSON: {exc}", field="body"
        ) from None


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body of a request, after checking its content type and size."""
    return await read_json_raw(
        request.headers.get("content-type", ""),
        request.headers.get("content-length"),
        request.stream(),
        limit,
    )


async def read_json_raw(
    ctype: str, declared: str | None, chunks: AsyncIterator[bytes], limit: int
) -> Any:
    """`read_json` over the raw parts: content type, declared length, body chunks."""
    media = ctype.split(";", 1)[0].strip().lower()
    if media != JSON and not (media.startswith("application/") and media.endswith("+json")):
        raise RequestError(
            415,
            "unsupported_media_type",
            f"send Content-Type: {JSON}, not {ctype or 'none'!r}",
            field="content-type",
        )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, "body_too_large", f"the body is over {limit} bytes", field="body")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise RequestError(
                413, "body_too_large", f"the body is over {limit} bytes", field="body"
            )
        parts.append(chunk)
    return parse_json(b"".join(parts))


PREDICT_PARAMETERS = frozenset({"probabilities"})


def probabilities_flag(query: str) -> bool:
    """`?probabilities=true` (or 1, yes; false, 0, no); any other parameter or value is a 400."""
    if not query:
        return False
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - PREDICT_PARAMETERS)
    if unknown:
        raise RequestError(
            400,
            "unknown_parameter",
            f"unknown query parameter {unknown[0]!r}; /predict takes only probabilities",
            field=unknown[0],
        )
    value = params.get("probabilities", ["false"])[-1].lower()
    if value in ("1", "true", "yes", ""):
        return True
    if value in ("0", "false", "no"):
        return False
    raise RequestError(
        400,
        "bad_parameter",
        f"probabilities must be true or false, got {value!r}",
        field="probabilities",
    )


Handler = Callable[[Request, str], Awaitable[Response]]
Thunk = Callable[[str], Awaitable[Response]]


def create_app(bundle_dir: Path, settings: ServeSettings | None = None) -> FastAPI:
    """A FastAPI app serving the bundle at `bundle_dir` (verified now, loaded in the background)."""
    settings = settings or ServeSettings()
    bundle = load_bundle(bundle_dir, check=settings.verify, trust=settings.trust())
    state = ServerState(bundle, settings)
    guard = Guard(
        limits_of(settings),
        lambda reason: state.metrics.limited.labels(reason).inc(),
        state.metrics.body_bytes.set,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await state.start()
        # A daemon thread: a load that hangs must not keep a stopping server alive.
        threading.Thread(target=state.load, name="mlgate-model-load", daemon=True).start()
        # The lifespan state reaches every connection's protocol, which applies the limits.
        yield {GUARD_KEY: guard}
        # uvicorn has finished in-flight requests when the lifespan ends.
        await state.stop()
        state.metrics.worker_exited(os.getpid())

    app = FastAPI(
        title=f"mlgate: {bundle.meta.name}",
        version=state.version,
        description=f"Predictions from the {bundle.meta.task} model {bundle.meta.name!r}.",
        lifespan=lifespan,
    )
    app.state.mlgate = state
    metrics = state.metrics

    def guarded(route: str) -> Callable[[str | None, Thunk], Awaitable[Response]]:
        """Run one request's work with the error contract, request id and metrics."""
        latency = metrics.latency.labels(route)

        async def run(given_id: str | None, work: Thunk) -> Response:
            start = time.perf_counter()
            request_id = new_request_id(given_id)
            try:
                response = await work(request_id)
            except RequestError as exc:
                metrics.errors.labels(exc.kind).inc()
                response = json_response(exc.body(), exc.status, exc.headers)
                if logs_refusals and route in PREDICT_ROUTES:
                    log_refusal(request_id, exc, time.perf_counter() - start)
            except (ClientDisconnected, ClientDisconnect):
                # Its own metric: not a bad request, and nobody reads the answer.
                metrics.client_disconnects.labels(route).inc()
                response = json_response({"error": {"kind": "client_disconnected"}}, 499)
            except Exception:
                # Never an input problem: validation raised RequestError before the model ran.
                log.exception("internal error answering %s (request %s)", route, request_id)
                metrics.errors.labels("internal").inc()
                response = json_response(
                    {
                        "error": {
                            "kind": "internal",
                            "message": "internal server error",
                            "field": None,
                            "row": None,
                        }
                    },
                    500,
                )
            response.headers["x-request-id"] = request_id
            metrics.requests.labels(route, str(response.status_code)).inc()
            latency.observe(time.perf_counter() - start)
            return response

        return run

    def timed(route: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        run = guarded(route)

        async def endpoint(request: Request) -> Response:
            return await run(request.headers.get("x-request-id"), lambda rid: handler(request, rid))

        return endpoint

    # Monitoring: the log keeps the probabilities of every prediction (for label-free
    # performance estimates) and the requests refused, so the monitor sees the error rate.
    logs_scores = state.classifier and settings.log_dir is not None and settings.log_probabilities
    logs_refusals = settings.log_dir is not None

    def log_refusal(request_id: str, exc: RequestError, latency: float) -> None:
        if state.predlog is not None:
            state.predlog.submit(
                {
                    "ts": time.time(),
                    "request_id": request_id,
                    "model": bundle.meta.name,
                    "version": state.version,
                    "latency_ms": round(latency * 1000.0, 3),
                    "error": {"status": exc.status, "kind": exc.kind, "field": exc.field},
                }
            )

    def predict_response(
        req: PredictRequest, request_id: str, start: float, out: Any, asked: bool
    ) -> dict[str, Any]:
        preds = state.record(
            request_id, req.batch, out, req.probabilities, time.perf_counter() - start
        )
        body: dict[str, Any] = {
            "model": bundle.meta.name,
            "version": state.version,
            "predictions": preds,
        }
        if req.single:
            body["prediction"] = preds[0]
        if req.batch.ids is not None:
            body["id_column"] = state.validator.id_column
            body["ids"] = req.batch.ids
        if asked and out.probabilities is not None:
            body["classes"] = state.classes
            body["probabilities"] = out.probabilities
        return body

    async def predict_raw(
        ctype: str,
        declared: str | None,
        chunks: AsyncIterator[bytes],
        query: str,
        request_id: str,
    ) -> Response:
        start = time.perf_counter()
        if not state.ready:
            raise RequestError(503, "not_ready", "the model is not loaded yet")
        payload = await read_json_raw(ctype, declared, chunks, settings.max_body_bytes)
        req = state.validator.predict_request(payload, probabilities_flag(query))
        asked = req.probabilities
        if logs_scores and not asked:
            req = dataclasses.replace(req, probabilities=True)
        out = await state.predict(req)
        return json_response(predict_response(req, request_id, start, out, asked))

    async def predict(request: Request, request_id: str) -> Response:
        return await predict_raw(
            request.headers.get("content-type", ""),
            request.headers.get("content-length"),
            request.stream(),
            request.url.query,
            request_id,
        )

    async def status(request: Request, request_id: str) -> Response:
        return json_response(state.status())

    async def health(request: Request, request_id: str) -> Response:
        # The detail is in the server's log; the body says what happened, not the exception.
        if state.failed:
            return json_response({"status": "failed", "error": state.failed}, 503)
        return json_response({"status": "ok"})

    async def ready(request: Request, request_id: str) -> Response:
        ready = state.server_ready and not DRAINING.is_set()
        body = {"ready": ready, "error": state.failed}
        return json_response(body, 200 if ready else 503)

    public = public_metadata(bundle, state.version)

    async def metadata(request: Request, request_id: str) -> Response:
        return json_response(
            {**public, "runtime": state.predictor.name if state.predictor else None}
        )

    async def feedback(request: Request, request_id: str) -> Response:
        payload = await read_json(request, settings.max_body_bytes)
        return json_response(await state.monitoring.feedback.accept(payload))

    async def prometheus(request: Request, request_id: str) -> Response:
        from mlgate.serve.metrics import CONTENT_TYPE

        state.monitoring.live.refresh()
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    features = bundle.schema.features
    app.add_api_route(
        "/predict",
        timed("/predict", predict),
        methods=["POST"],
        summary="Predict one row or a batch",
        openapi_extra=schemas.predict_openapi(
            features,
            settings.max_rows,
            passthrough=bundle.schema.passthrough,
            classifier=bundle.meta.task != "regression",
            id_column=state.validator.id_column,
        ),
    )
    app.add_api_route("/", timed("/", status), methods=["GET"], summary="Status")
    app.add_api_route("/health", timed("/health", health), methods=["GET"], summary="Liveness")
    app.add_api_route(
        "/ready",
        timed("/ready", ready),
        methods=["GET"],
        summary="Readiness: model loaded and warmed",
        responses={503: {"description": "Not ready yet"}},
    )
    app.add_api_route(
        "/metadata", timed("/metadata", metadata), methods=["GET"], summary="Bundle lineage"
    )
    app.add_api_route(
        "/metrics", timed("/metrics", prometheus), methods=["GET"], summary="Prometheus metrics"
    )
    from mlgate.serve.feedback import feedback_openapi

    app.add_api_route(
        "/feedback",
        timed("/feedback", feedback),
        methods=["POST"],
        summary="True labels of earlier predictions, by request id",
        openapi_extra=feedback_openapi(state.classes if state.classifier else None),
    )

    from mlgate.serve import v2

    v2.add_routes(app, state, timed, read_json, json_response)

    from mlgate.serve.fastpath import PredictFastPath

    # The route above documents /predict in the OpenAPI schema; requests take the fast path.
    app.add_middleware(
        PredictFastPath, path="/predict", run=guarded("/predict"), answer=predict_raw
    )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "path", "query"))
        err = RequestError(
            422, "validation", str(first.get("msg", "invalid request")), field=field or None
        )
        metrics.errors.labels(err.kind).inc()
        return json_response(err.body(), 422)

    return app


def limits_of(settings: ServeSettings) -> Limits:
    """The connection and request limits the settings ask for."""
    return Limits(
        max_connections=settings.max_connections,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_body_bytes_in_flight=settings.max_body_bytes_in_flight,
        retry_after=settings.retry_after,
    )


def _public_path(value: Any) -> Any:
    """A path of the host that trained or gated the model, reduced to its last part."""
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return Path(value.replace("\\", "/")).name
    return value


def public_metadata(bundle: Bundle, version: str) -> dict[str, Any]:
    """GET /metadata: the bundle's lineage, without the paths of the hosts it came from."""
    data = bundle.meta.model_dump(mode="json")
    data["version"] = version
    data["data"]["path"] = _public_path(data["data"].get("path"))
    data["schema"] = [f.model_dump(mode="json", exclude_none=True) for f in bundle.schema.features]
    gate = bundle.gate_report()
    if gate is not None:
        gate.pop("bundle", None)
        champion = gate.get("champion")
        if isinstance(champion, dict):
            champion["label"] = _public_path(champion.get("label"))
    data["gate"] = gate
    return data


def app_from_env() -> FastAPI:
    """The app factory uvicorn workers call: bundle and settings come from the environment."""
    bundle = os.environ.get(ENV_BUNDLE)
    if not bundle:
        raise RuntimeError(f"{ENV_BUNDLE} is not set; start the server with `mlgate serve`")
    raw = os.environ.get(ENV_SETTINGS)
    settings = ServeSettings.model_validate_json(raw) if raw else ServeSettings()
    return create_app(Path(bundle), settings)
