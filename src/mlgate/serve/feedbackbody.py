"""The body of POST /feedback, parsed: its items, each label checked against the model's classes.

The refusals are 422s naming the field (serve/errors.py); the endpoint is serve/feedback.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlgate.serve.errors import invalid
from mlgate.serve.schemas import FEEDBACK_ITEMS as MAX_ITEMS
from mlgate.serve.wire import MAX_ID, clip, describe, shown

MAX_LABELS = 100_000
"""Labels one /feedback body may carry, over all its items."""
_SCALARS = frozenset({str, int, float, bool})


@dataclass(frozen=True)
class FeedbackItem:
    """Labels for the rows of one earlier request."""

    request_id: str
    labels: list[Any]
    field: str = "body"
    """Where the item is in the body (`body`, `feedback[3]`), for refusals."""


class LabelCheck:
    """Is a JSON value a label of this model?"""

    def __init__(self, classes: Sequence[Any] | None) -> None:
        self.classes = None if classes is None else list(classes)
        self._allowed = None if classes is None else {(type(c), c) for c in classes}

    def __call__(self, value: Any, field: str) -> Any:
        if self._allowed is None:
            if type(value) not in (int, float) or not math.isfinite(value):
                raise invalid(
                    f"{field} must be a finite number, got {describe(value)}", field=field
                )
            return value
        if type(value) not in _SCALARS or (type(value), value) not in self._allowed:
            known = ", ".join(json.dumps(c) for c in (self.classes or [])[:20])
            got = shown(value) if type(value) in _SCALARS else describe(value)
            raise invalid(
                f"{field} must be one of the model's classes ({known}), got {got}", field=field
            )
        return value


def _item(raw: Any, field: str, check: LabelCheck, max_labels: int) -> FeedbackItem:
    if type(raw) is not dict:
        raise invalid(f"{field} must be an object, got {describe(raw)}", field=field)
    unknown = raw.keys() - {"request_id", "label", "labels"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise invalid(
            f"unknown key {shown(key)}; send request_id and label or labels", field=clip(key)
        )
    rid = raw.get("request_id")
    if type(rid) is not str or not rid or len(rid) > MAX_ID or not rid.isprintable():
        raise invalid(
            "request_id must be the request id of a prediction (the X-Request-ID it answered)",
            field="request_id",
        )
    if ("label" in raw) == ("labels" in raw):
        raise invalid("send exactly one of label or labels", field="labels")
    if "label" in raw:
        return FeedbackItem(rid, [check(raw["label"], "label")], field)
    labels = raw["labels"]
    if type(labels) is not list or not labels:
        raise invalid(f"labels must be a non-empty list, got {describe(labels)}", field="labels")
    if len(labels) > max_labels:
        raise invalid(
            f"labels has {len(labels)} labels; a request has at most {max_labels} rows",
            field="labels",
        )
    return FeedbackItem(rid, [check(v, f"labels[{i}]") for i, v in enumerate(labels)], field)


def parse_feedback(
    payload: Any, check: LabelCheck, max_rows: int = MAX_LABELS
) -> list[FeedbackItem]:
    """The items of a /feedback body, or a 422 naming the field at fault; an item carries at
    most `max_rows` labels (the rows of a request), the body `MAX_LABELS`."""
    if type(payload) is not dict:
        raise invalid(f"the body must be a JSON object, got {describe(payload)}", field="body")
    if "feedback" not in payload:
        return [_item(payload, "body", check, max_rows)]
    if len(payload) != 1:
        raise invalid('send either one item or {"feedback": [items]}', field="feedback")
    items = payload["feedback"]
    if type(items) is not list or not items:
        raise invalid("feedback must be a non-empty list of items", field="feedback")
    if len(items) > MAX_ITEMS:
        raise invalid(f"feedback has {len(items)} items; at most {MAX_ITEMS}", field="feedback")
    total = sum(
        len(i["labels"]) for i in items if type(i) is dict and type(i.get("labels")) is list
    )
    if total > MAX_LABELS:
        raise invalid(f"feedback has {total} labels; at most {MAX_LABELS}", field="feedback")
    return [_item(raw, f"feedback[{i}]", check, max_rows) for i, raw in enumerate(items)]
