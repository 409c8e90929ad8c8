"""The Open Inference Protocol (KServe V2) routes, so KServe and Seldon tooling can call mlgate.

Each feature is one input tensor named after it, shape [rows] or [rows, 1]; the answer has a
`predictions` tensor and, when asked (`parameters.probabilities` or an output of that name), a
`probabilities` tensor of shape [rows, classes].
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from mlgate.serve import schemas
from mlgate.serve.errors import RequestError, invalid
from mlgate.serve.validate import Batch, PredictRequest

if TYPE_CHECKING:
    import numpy as np

    from mlgate.serve.state import ServerState

Timed = Callable[
    [str, Callable[[Request, str], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]
]
ReadJson = Callable[[Request, int], Awaitable[Any]]
JsonResponse = Callable[..., Response]

_NUMERIC_TYPES = frozenset(
    {
        "FP16",
        "FP32",
        "FP64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
    }
)

_MODEL_PARAM = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}}


def datatype(arr: np.ndarray) -> str:
    """The V2 datatype of an output array."""
    kind = arr.dtype.kind
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    if kind == "b":
        return "BOOL"
    return "BYTES"


def parse_infer(state: ServerState, payload: Any) -> tuple[PredictRequest, str | None]:
    """A V2 inference request as a validated batch, or a 422 naming the input at fault."""
    validator = state.validator
    if type(payload) is not dict:
        raise invalid("the body must be a JSON object", field="body")
    inputs = payload.get("inputs")
    if type(inputs) is not list or not inputs:
        raise invalid("inputs must be a non-empty list of tensors", field="inputs")
    request_id = payload.get("id")
    if request_id is not None and type(request_id) is not str:
        raise invalid("id must be a string", field="id")
    params = payload.get("parameters") or {}
    if type(params) is not dict:
        raise invalid("parameters must be an object", field="parameters")
    want = params.get("probabilities", False)
    if type(want) is not bool:
        raise invalid(
            "parameters.probabilities must be true or false", field="parameters.probabilities"
        )
    outputs = payload.get("outputs") or []
    if type(outputs) is not list or not all(type(o) is dict for o in outputs):
        raise invalid("outputs must be a list of objects", field="outputs")
    want = want or any(o.get("name") == "probabilities" for o in outputs)

    data: dict[str, list[Any]] = {}
    for i, tensor in enumerate(inputs):
        if type(tensor) is not dict:
            raise invalid(f"inputs[{i}] must be an object", field="inputs")
        name = tensor.get("name")
        if type(name) is not str or name not in validator.name_set:
            raise invalid(f"inputs[{i}] names unknown feature {name!r}", field=str(name))
        if name in data:
            raise invalid(f"feature {name!r} is given twice", field=name)
        values = tensor.get("data")
        if type(values) is not list:
            raise invalid(f"input {name!r} has no data list", field=name)
        if values and all(type(v) is list and len(v) == 1 for v in values):
            values = [v[0] for v in values]  # shape [rows, 1], sent nested
        shape = tensor.get("shape")
        if (
            type(shape) is not list
            or not all(type(d) is int and d >= 0 for d in shape)
            or math.prod(shape) != len(values)
        ):
            raise invalid(
                f"input {name!r}: shape {shape!r} does not match {len(values)} values", field=name
            )
        dtype = tensor.get("datatype")
        spec = next(f for f in validator.features if f.name == name)
        expected = (
            "BYTES" if spec.kind == "categorical" else "BOOL" if spec.kind == "boolean" else None
        )
        if type(dtype) is not str or (
            dtype != expected if expected else dtype not in _NUMERIC_TYPES
        ):
            want_type = expected or "a numeric type (FP32, FP64, INT64, ...)"
            raise invalid(
                f"input {name!r} has datatype {dtype!r}; expected {want_type}", field=name
            )
        data[name] = values
    missing = [n for n in validator.names if n not in data]
    if missing:
        raise invalid(f"feature {missing[0]!r} is missing", field=missing[0])
    rows = len(data[validator.names[0]])
    for name, values in data.items():
        if len(values) != rows:
            raise invalid(f"input {name!r} has {len(values)} rows, others {rows}", field=name)
    if rows == 0:
        raise invalid("inputs have no rows", field="inputs")
    if rows > validator.max_rows:
        raise invalid(
            f"{rows} rows; this server accepts at most {validator.max_rows}", field="inputs"
        )
    columns = {
        spec.name: validator.column(spec, data[spec.name], spec.name) for spec in validator.features
    }
    raw = [list(r) for r in zip(*(data[n] for n in validator.names), strict=True)]
    return PredictRequest(Batch(columns=columns, rows=rows, raw=raw), want, False), request_id


def add_routes(
    app: FastAPI, state: ServerState, timed: Timed, read_json: ReadJson, json_response: JsonResponse
) -> None:
    """Mount the V2 health, metadata and infer routes on `app`."""
    name = state.meta.name
    features = state.bundle.schema.features

    def check_model(model: str) -> None:
        if model != name:
            raise RequestError(
                404,
                "unknown_model",
                f"no model {model!r}; this server has {name!r}",
                field="model_name",
            )

    async def live(request: Request, request_id: str) -> Response:
        return json_response({"live": True})

    async def ready(request: Request, request_id: str) -> Response:
        ready = state.server_ready
        return json_response({"ready": ready}, 200 if ready else 503)

    async def model_metadata(request: Request, request_id: str) -> Response:
        check_model(request.path_params["model_name"])
        inputs = [
            {
                "name": f.name,
                "datatype": "BYTES"
                if f.kind == "categorical"
                else "BOOL"
                if f.kind == "boolean"
                else "FP64",
                "shape": [-1, 1],
            }
            for f in features
        ]
        classes = state.classes or []
        if not state.classifier:
            pred_type = "FP64"
        elif all(type(c) is int for c in classes):
            pred_type = "INT64"
        else:
            pred_type = "BYTES"
        outputs = [{"name": "predictions", "datatype": pred_type, "shape": [-1]}]
        if state.classifier:
            outputs.append(
                {
                    "name": "probabilities",
                    "datatype": "FP64",
                    "shape": [-1, len(state.classes or ())],
                }
            )
        platform = f"mlgate_{state.predictor.name}" if state.predictor else "mlgate"
        return json_response(
            {
                "name": name,
                "versions": [state.version],
                "platform": platform,
                "inputs": inputs,
                "outputs": outputs,
            }
        )

    async def model_ready(request: Request, request_id: str) -> Response:
        check_model(request.path_params["model_name"])
        ready = state.server_ready
        return json_response({"name": name, "ready": ready}, 200 if ready else 503)

    async def infer(request: Request, request_id: str) -> Response:
        start = time.perf_counter()
        check_model(request.path_params["model_name"])
        if not state.ready:
            raise RequestError(503, "not_ready", "the model is not loaded yet")
        payload = await read_json(request, state.settings.max_body_bytes)
        req, given_id = parse_infer(state, payload)
        out = await state.predict(req)
        preds = state.record(
            request_id, req.batch, out, req.probabilities, time.perf_counter() - start
        )
        outputs: list[dict[str, Any]] = [
            {
                "name": "predictions",
                "datatype": datatype(out.predictions),
                "shape": [len(preds)],
                "data": preds,
            }
        ]
        if req.probabilities and out.probabilities is not None:
            proba = out.probabilities
            outputs.append(
                {
                    "name": "probabilities",
                    "datatype": "FP64",
                    "shape": list(proba.shape),
                    "data": proba.reshape(-1),
                }
            )
        body: dict[str, Any] = {
            "model_name": name,
            "model_version": state.version,
            "outputs": outputs,
        }
        body["id"] = given_id if given_id is not None else request_id
        return json_response(body)

    app.add_api_route(
        "/v2/health/live", timed("/v2/health/live", live), methods=["GET"], summary="V2 liveness"
    )
    app.add_api_route(
        "/v2/health/ready",
        timed("/v2/health/ready", ready),
        methods=["GET"],
        summary="V2 readiness",
        responses={503: {"description": "Not ready yet"}},
    )
    app.add_api_route(
        "/v2/models/{model_name}",
        timed("/v2/models/{name}", model_metadata),
        methods=["GET"],
        summary="V2 model metadata",
        responses={404: {"description": "No such model"}},
        openapi_extra={"parameters": [_MODEL_PARAM]},
    )
    app.add_api_route(
        "/v2/models/{model_name}/ready",
        timed("/v2/models/{name}/ready", model_ready),
        methods=["GET"],
        summary="V2 model readiness",
        openapi_extra={"parameters": [_MODEL_PARAM]},
        responses={404: {"description": "No such model"}, 503: {"description": "Not ready yet"}},
    )
    app.add_api_route(
        "/v2/models/{model_name}/infer",
        timed("/v2/models/{name}/infer", infer),
        methods=["POST"],
        summary="V2 inference",
        openapi_extra={
            **schemas.infer_openapi(features, state.settings.max_rows),
            "parameters": [_MODEL_PARAM],
        },
    )
