"""Feedback parsing, the bounded memory of recent predictions, and the rotating feedback log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.serve.errors import RequestError
from mlgate.serve.feedback import (
    FEEDBACK_FILE,
    FeedbackLog,
    LabelCheck,
    RecentPredictions,
    parse_feedback,
)

pytestmark = pytest.mark.unit


def test_single_batch_and_label_forms() -> None:
    check = LabelCheck(["no", "yes"])
    assert parse_feedback({"request_id": "a", "label": "yes"}, check)[0].labels == ["yes"]
    items = parse_feedback(
        {
            "feedback": [
                {"request_id": "a", "labels": ["no", "yes"]},
                {"request_id": "b", "label": "no"},
            ]
        },
        check,
    )
    assert [(i.request_id, i.labels) for i in items] == [("a", ["no", "yes"]), ("b", ["no"])]


def test_regression_labels_are_finite_numbers() -> None:
    check = LabelCheck(None)
    assert parse_feedback({"request_id": "a", "labels": [1, 2.5]}, check)[0].labels == [1, 2.5]
    for bad in ("1", True, None, float("inf")):
        with pytest.raises(RequestError) as info:
            parse_feedback({"request_id": "a", "label": bad}, check)
        assert info.value.field == "label"


def test_class_labels_keep_their_json_type() -> None:
    check = LabelCheck([0, 1])
    with pytest.raises(RequestError, match="one of the model's classes"):
        parse_feedback({"request_id": "a", "label": "1"}, check)


def test_recent_predictions_forget_the_oldest_past_the_row_bound() -> None:
    recent = RecentPredictions(max_rows=5)
    recent.add("a", [1, 2, 3])
    recent.add("b", [1, 2])
    recent.add("c", [1])
    assert recent.get("a") is None
    assert recent.get("b") == [1, 2]
    assert recent.rows == 3


def test_the_log_rotates_and_keeps_the_newest(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path, max_bytes=1024, keep=2)
    line = json.dumps({"request_id": "x" * 100, "labels": [1]}) + "\n"
    for _ in range(60):
        log.append([line])
    log.close()
    rotated = sorted(tmp_path.glob("feedback-*.jsonl"))
    assert len(rotated) == 2
    for path in [*rotated, tmp_path / FEEDBACK_FILE]:
        for text in path.read_text().splitlines():
            assert json.loads(text)["labels"] == [1]


def test_the_log_reopens_a_file_removed_under_it(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path, max_bytes=1 << 20, keep=2)
    log.append(["{}\n"])
    (tmp_path / FEEDBACK_FILE).unlink()
    log.append(['{"a": 1}\n'])
    log.close()
    assert (tmp_path / FEEDBACK_FILE).read_text() == '{"a": 1}\n'
