"""OpenAPI descriptions of the request bodies that the routes parse by hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlgate.core.schema import ColumnSpec
from mlgate.serve.wire import JSON_NUMBER, MAX_NUMBER_CHARS

FEEDBACK_ITEMS = 10_000
"""Items one /feedback body may carry."""

# A number feature also takes a string that is exactly a JSON number (serve/wire.py,
# `number_of`; docs/serving.md): these patterns say so in the OpenAPI document. An integer
# feature's takes digits only, narrower than what the server reads (`"2.0"` and `"1e3"` are
# whole too). Neither states the float32 bound a value must keep, as the number types do not.
NUMBER_STRING = f"^{JSON_NUMBER.pattern}$"
INTEGER_STRING = r"^-?(?:0|[1-9][0-9]*)$"
NUMBER_STRING_CHARS = MAX_NUMBER_CHARS
"""The longest string a number feature reads as a number."""


def _body_responses(refused: str) -> dict[str, dict[str, str]]:
    """The refusals every JSON body route shares, and its 422 described as `refused`."""
    return {
        "400": {"description": "Malformed JSON, or text that is not Unicode"},
        "413": {"description": "Body too large"},
        "415": {"description": "Content-Type is not application/json"},
        "422": {"description": refused},
    }


def value_schema(spec: ColumnSpec) -> dict[str, Any]:
    """The JSON schema of one feature value."""
    schema: dict[str, Any]
    if spec.kind == "categorical":
        schema = {"type": "string"}
        if spec.categories is not None and spec.closed:
            schema["enum"] = list(spec.categories)
        elif spec.categories:
            schema["examples"] = list(spec.categories[:10])
    elif spec.kind == "datetime":
        schema = {"type": "string", "description": f"A date ({spec.format or 'ISO 8601'})."}
    elif spec.kind == "boolean":
        schema = {"type": "boolean"}
    else:
        return _number_schema(spec)
    if spec.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _number_schema(spec: ColumnSpec) -> dict[str, Any]:
    """A number feature: a JSON number, or a string that is exactly one (`"3.5"`); null where
    the feature is nullable (a missing word such as `"NA"` is not null)."""
    integer = spec.kind == "integer"
    as_text = {
        "type": "string",
        "pattern": INTEGER_STRING if integer else NUMBER_STRING,
        "maxLength": NUMBER_STRING_CHARS,
        "description": "The number as a string: exactly a JSON number "
        + ('("42")' if integer else '("3.5")')
        + ", nothing around it.",
    }
    forms: list[dict[str, Any]] = [{"type": "integer" if integer else "number"}, as_text]
    if spec.nullable:
        forms.append({"type": "null"})
    return {"anyOf": forms}


def _response(classifier: bool, id_column: str | None) -> dict[str, Any]:
    """The 200 answer of POST /predict."""
    props: dict[str, Any] = {
        "model": {"type": "string"},
        "version": {"type": "string"},
        "predictions": {"type": "array", "description": "One prediction per row, in row order."},
        "prediction": {"description": "The prediction, for a single `features` row."},
    }
    if classifier:
        props["classes"] = {
            "type": "array",
            "description": "With probabilities: the classes, in the order of each row's "
            "probabilities.",
        }
        props["probabilities"] = {
            "type": "array",
            "items": {"type": "array", "items": {"type": "number"}},
            "description": 'Only when asked (`?probabilities=true` or `"probabilities": '
            "true`): one list per row, the probability of each class in `classes` order.",
        }
    if id_column is not None:
        props["id_column"] = {"type": "string", "const": id_column}
        props["ids"] = {
            "type": "array",
            "description": f"When `instances` carry {id_column!r}: its value for each row, "
            "beside the prediction at the same position.",
        }
    return {
        "description": "Predictions, in row order",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": props,
                    "required": ["model", "version", "predictions"],
                }
            }
        },
    }


def _request_bodies(
    features: Sequence[ColumnSpec], max_rows: int, passthrough: Sequence[ColumnSpec]
) -> list[dict[str, Any]]:
    """The two body forms of POST /predict: `features` rows, or named `instances`."""
    values = [value_schema(f) for f in features]
    row = {
        "type": "array",
        "prefixItems": values,
        "items": False,
        "minItems": len(values),
        "maxItems": len(values),
        "description": "One row: values in feature order ("
        + ", ".join(f.name for f in features)
        + ").",
    }
    others = {
        c.name: {"description": f"{c.role} column of the training file: accepted, not used"}
        for c in passthrough
    }
    instance = {
        "type": "object",
        "properties": {**others, **{f.name: v for f, v in zip(features, values, strict=True)}},
        "required": [f.name for f in features],
        "additionalProperties": False,
    }
    return [
        {
            "type": "object",
            "properties": {
                "features": {
                    "oneOf": [
                        row,
                        {"type": "array", "items": row, "minItems": 1, "maxItems": max_rows},
                    ]
                },
                "probabilities": {"type": "boolean"},
            },
            "required": ["features"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "instances": {
                    "type": "array",
                    "items": instance,
                    "minItems": 1,
                    "maxItems": max_rows,
                },
                "probabilities": {"type": "boolean"},
            },
            "required": ["instances"],
            "additionalProperties": False,
        },
    ]


def predict_openapi(
    features: Sequence[ColumnSpec],
    max_rows: int,
    *,
    passthrough: Sequence[ColumnSpec] = (),
    classifier: bool = False,
    id_column: str | None = None,
) -> dict[str, Any]:
    """`openapi_extra` for POST /predict: the body forms and the answers. `passthrough` are the
    other columns of the training file: accepted in `instances`, dropped, the id echoed."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": _request_bodies(features, max_rows, passthrough)}
                }
            },
        },
        "parameters": [
            {
                "name": "probabilities",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean"},
                "description": "Also return class probabilities (classifiers): `classes` and "
                "one list of probabilities per row. The only query parameter: any other is a "
                "400.",
            }
        ],
        "responses": {
            "200": _response(classifier, id_column),
            **_body_responses("Refused input, with the field (and row) at fault"),
            "400": {"description": "Malformed JSON or text, or an unknown query parameter"},
            "503": {"description": "The model is not loaded yet"},
        },
    }


def infer_openapi(features: Sequence[ColumnSpec], max_rows: int) -> dict[str, Any]:
    """`openapi_extra` for the Open Inference Protocol's infer route."""
    tensor = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": [f.name for f in features]},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string"},
            "data": {"type": "array", "maxItems": max_rows},
            "parameters": {"type": "object"},
        },
        "required": ["name", "shape", "datatype", "data"],
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "parameters": {"type": "object"},
                            "inputs": {"type": "array", "items": tensor},
                            "outputs": {"type": "array", "items": {"type": "object"}},
                        },
                        "required": ["inputs"],
                    }
                }
            },
        },
        "responses": {
            "200": {"description": "Inference response"},
            "404": {"description": "No such model"},
            **_body_responses("Refused input, with the input at fault"),
            "503": {"description": "The model is not loaded yet"},
        },
    }


def feedback_openapi(classes: Sequence[Any] | None, id_chars: int) -> dict[str, Any]:
    """`openapi_extra` for POST /feedback; request ids are at most `id_chars` long."""
    label: dict[str, Any] = {"type": "number"} if classes is None else {"enum": list(classes)}
    item = {
        "type": "object",
        "properties": {
            "request_id": {"type": "string", "minLength": 1, "maxLength": id_chars},
            "label": label,
            "labels": {"type": "array", "items": label, "minItems": 1},
        },
        "required": ["request_id"],
        "additionalProperties": False,
    }
    batch = {
        "type": "object",
        "properties": {
            "feedback": {"type": "array", "items": item, "minItems": 1, "maxItems": FEEDBACK_ITEMS}
        },
        "required": ["feedback"],
        "additionalProperties": False,
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [item, batch]}}},
        },
        "responses": {
            "200": {"description": "Accepted: {accepted, matched, logged}"},
            **_body_responses("Refused feedback, with the field at fault"),
            "401": {"description": "A feedback token is configured and was not sent"},
            "403": {"description": "A request id this server did not issue (for that many rows)"},
            "409": {"description": "A request id that has its labels already"},
        },
    }
