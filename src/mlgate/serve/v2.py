"""The Open Inference Protocol (KServe V2) routes, so KServe and Seldon tooling can call mlgate.

Each feature is one input tensor named after it, shape [rows] or [rows, 1]; the answer has a
`predictions` tensor and, when asked (`parameters.probabilities` or an output of that name), a
`probabilities` tensor of shape [rows, classes].
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from mlgate.serve import schemas
from mlgate.serve.contract import Mount, mount
from mlgate.serve.errors import RequestError, invalid
from mlgate.serve.predict import Answered, Parsed, serve_prediction
from mlgate.serve.validate import Batch, PredictRequest, Validator
from mlgate.serve.wire import Body, clip, json_response, shown

if TYPE_CHECKING:
    import numpy as np

    from mlgate.serve.state import ServerState

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
_NOT_READY: dict[int | str, dict[str, Any]] = {503: {"description": "Not ready yet"}}
_NO_MODEL: dict[int | str, dict[str, Any]] = {404: {"description": "No such model"}}
INFER = "/v2/models/{name}/infer"
MAX_ID = 128
"""The longest `id` a V2 request may carry (it is echoed in the answer)."""


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


def _options(payload: Any, classifier: bool) -> tuple[list[Any], str | None, bool]:
    """The inputs, the request's own id and whether probabilities are asked for (a regression
    model has none: asking for them, or for any output it does not have, is refused)."""
    if type(payload) is not dict:
        raise invalid("the body must be a JSON object", field="body")
    inputs = payload.get("inputs")
    if type(inputs) is not list or not inputs:
        raise invalid("inputs must be a non-empty list of tensors", field="inputs")
    request_id = payload.get("id")
    if request_id is not None and (type(request_id) is not str or len(request_id) > MAX_ID):
        raise invalid(f"id must be a string of at most {MAX_ID} characters", field="id")
    params = payload.get("parameters") or {}
    if type(params) is not dict:
        raise invalid("parameters must be an object", field="parameters")
    want = params.get("probabilities", False)
    if type(want) is not bool:
        raise invalid(
            "parameters.probabilities must be true or false", field="parameters.probabilities"
        )
    if want and not classifier:
        raise invalid(
            "parameters.probabilities applies to classifiers; this is a regression model",
            field="parameters.probabilities",
        )
    outputs = payload.get("outputs") or []
    if type(outputs) is not list or not all(type(o) is dict for o in outputs):
        raise invalid("outputs must be a list of objects", field="outputs")
    known = ("predictions", "probabilities") if classifier else ("predictions",)
    for o in outputs:
        if o.get("name") not in known:
            raise invalid(
                f"unknown output {shown(o.get('name'))}; this model has {', '.join(known)}",
                field="outputs",
            )
    want = want or any(o["name"] == "probabilities" for o in outputs)
    return inputs, request_id, want


def _tensor(validator: Validator, i: int, tensor: Any, seen: dict[str, list[Any]]) -> None:
    """Check input tensor `i` and put its values in `seen`, by feature name."""
    if type(tensor) is not dict:
        raise invalid(f"inputs[{i}] must be an object", field="inputs")
    name = tensor.get("name")
    if type(name) is not str or name not in validator.name_set:
        raise invalid(f"inputs[{i}] names unknown feature {shown(name)}", field=clip(str(name)))
    if name in seen:
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
            f"input {name!r}: shape {shown(shape)} does not match {len(values)} values", field=name
        )
    dtype = tensor.get("datatype")
    spec = next(f for f in validator.features if f.name == name)
    expected = "BYTES" if spec.kind == "categorical" else "BOOL" if spec.kind == "boolean" else None
    if type(dtype) is not str or (dtype != expected if expected else dtype not in _NUMERIC_TYPES):
        want_type = expected or "a numeric type (FP32, FP64, INT64, ...)"
        raise invalid(
            f"input {name!r} has datatype {shown(dtype)}; expected {want_type}", field=name
        )
    seen[name] = values


def parse_infer(state: ServerState, payload: Any) -> tuple[PredictRequest, str | None]:
    """A V2 inference request as a validated batch, or a 422 naming the input at fault."""
    validator = state.validator
    inputs, request_id, want = _options(payload, state.classifier)
    data: dict[str, list[Any]] = {}
    for i, tensor in enumerate(inputs):
        _tensor(validator, i, tensor, data)
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


class V2Form:
    """`POST /v2/models/{name}/infer`: one input tensor per feature; no query parameters."""

    def parse(self, state: ServerState, payload: Any, query: str) -> Parsed:
        """The request of an inference body, with the id it carries."""
        req, given_id = parse_infer(state, payload)
        return Parsed(req, req.probabilities, given_id)

    def answer(self, state: ServerState, done: Answered) -> dict[str, Any]:
        """The `predictions` tensor, and `probabilities` when asked; the request's id."""
        parsed, out, predictions = done.parsed, done.out, done.predictions
        outputs: list[dict[str, Any]] = [
            {
                "name": "predictions",
                "datatype": datatype(out.predictions),
                "shape": [len(predictions)],
                "data": predictions,
            }
        ]
        if parsed.asked and out.probabilities is not None:
            proba = out.probabilities
            outputs.append(
                {
                    "name": "probabilities",
                    "datatype": "FP64",
                    "shape": list(proba.shape),
                    "data": proba.reshape(-1),
                }
            )
        return {
            "model_name": state.meta.name,
            "model_version": state.version,
            "outputs": outputs,
            "id": parsed.given_id if parsed.given_id is not None else done.request_id,
        }


V2 = V2Form()


def _check_model(state: ServerState, request: Request) -> None:
    model = request.path_params["model_name"]
    name = state.meta.name
    if model != name:
        raise RequestError(
            404,
            "unknown_model",
            f"no model {shown(model)}; this server has {name!r}",
            field="model_name",
        )


async def live(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /v2/health/live."""
    return json_response({"live": True})


async def ready(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /v2/health/ready: every worker's model is warm."""
    is_ready = state.server_ready
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


def _input_type(kind: str) -> str:
    return "BYTES" if kind == "categorical" else "BOOL" if kind == "boolean" else "FP64"


async def model_metadata(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /v2/models/{name}: the input and output tensors."""
    _check_model(state, request)
    inputs = [
        {"name": f.name, "datatype": _input_type(f.kind), "shape": [-1, 1]}
        for f in state.bundle.schema.features
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
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(classes)]})
    platform = f"mlgate_{state.predictor.name}" if state.predictor else "mlgate"
    return json_response(
        {
            "name": state.meta.name,
            "versions": [state.version],
            "platform": platform,
            "inputs": inputs,
            "outputs": outputs,
        }
    )


async def model_ready(state: ServerState, request: Request, request_id: str) -> Response:
    """GET /v2/models/{name}/ready."""
    _check_model(state, request)
    is_ready = state.server_ready
    return json_response({"name": state.meta.name, "ready": is_ready}, 200 if is_ready else 503)


async def infer(state: ServerState, request: Request, request_id: str) -> Response:
    """POST /v2/models/{name}/infer: the shared prediction path, in V2's form."""
    _check_model(state, request)
    return await serve_prediction(state, V2, Body.of(request), "", request_id)


def add_routes(app: FastAPI, state: ServerState) -> None:
    """Mount the V2 health, metadata and infer routes on `app`."""
    model = {"parameters": [_MODEL_PARAM]}
    mount(app, state, Mount("/v2/health/live", live, "V2 liveness"))
    mount(app, state, Mount("/v2/health/ready", ready, "V2 readiness", responses=_NOT_READY))
    mount(
        app,
        state,
        Mount(
            "/v2/models/{model_name}",
            model_metadata,
            "V2 model metadata",
            route="/v2/models/{name}",
            responses=_NO_MODEL,
            openapi_extra=model,
        ),
    )
    mount(
        app,
        state,
        Mount(
            "/v2/models/{model_name}/ready",
            model_ready,
            "V2 model readiness",
            route="/v2/models/{name}/ready",
            responses={**_NO_MODEL, **_NOT_READY},
            openapi_extra=model,
        ),
    )
    mount(
        app,
        state,
        Mount(
            "/v2/models/{model_name}/infer",
            infer,
            "V2 inference",
            method="POST",
            route=INFER,
            openapi_extra={
                **schemas.infer_openapi(state.bundle.schema.features, state.settings.max_rows),
                "parameters": [_MODEL_PARAM],
            },
        ),
    )
