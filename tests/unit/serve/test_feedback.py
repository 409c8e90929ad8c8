"""Feedback parsing, the gate (ids issued here, once; the token), the bounded memory of recent
predictions, and the rotating feedback log with its own budget."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mlgate.serve.errors import RequestError
from mlgate.serve.feedback import (
    FEEDBACK_FILE,
    Feedback,
    FeedbackGate,
    FeedbackLog,
    RecentPredictions,
)
from mlgate.serve.feedbackbody import MAX_LABELS, LabelCheck, parse_feedback
from mlgate.serve.wire import RequestIds

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


@pytest.mark.parametrize("label", [[1], {"a": 1}, None, "x" * 10_000])
def test_a_label_of_the_wrong_shape_is_a_422(label: object) -> None:
    with pytest.raises(RequestError) as info:
        parse_feedback({"request_id": "a", "label": label}, LabelCheck(["no", "yes"]))
    assert (info.value.status, info.value.field) == (422, "label")
    assert len(info.value.message) < 200


def test_labels_are_bounded_per_item_and_per_body() -> None:
    check = LabelCheck([0, 1])
    with pytest.raises(RequestError, match="at most 3 rows"):
        parse_feedback({"request_id": "a", "labels": [0] * 4}, check, max_rows=3)
    many = {"feedback": [{"request_id": str(i), "labels": [0] * 600} for i in range(200)]}
    with pytest.raises(RequestError, match=f"at most {MAX_LABELS}"):
        parse_feedback(many, check, max_rows=1000)


IDS = RequestIds(b"s" * 32)


def gate(tmp_path: Path | None = None, token: str | None = None) -> FeedbackGate:
    log = None if tmp_path is None else FeedbackLog(tmp_path, max_bytes=1 << 20, keep=2)
    feedback = Feedback(
        model="m",
        version="v",
        classes=[0, 1],
        registry=CollectorRegistry(),
        log=log,
        memory_rows=100,
    )
    return FeedbackGate(feedback, IDS.issued, token=token, max_rows=10)


def post(g: FeedbackGate, body: object) -> dict[str, object]:
    return asyncio.run(g.accept(body))


def status_of(g: FeedbackGate, body: object) -> int:
    with pytest.raises(RequestError) as info:
        post(g, body)
    return info.value.status


def test_labels_are_taken_once_and_only_for_ids_issued_here(tmp_path: Path) -> None:
    g = gate(tmp_path)
    one, two = IDS.sign("a", 1), IDS.sign("b", 2)
    assert status_of(g, {"request_id": "a", "label": 1}) == 403  # never issued
    assert status_of(g, {"request_id": RequestIds(b"o" * 32).sign("a", 1), "label": 1}) == 403
    assert status_of(g, {"request_id": two, "label": 1}) == 403  # two rows, one label
    assert post(g, {"request_id": one, "label": 1})["accepted"] == 1
    assert status_of(g, {"request_id": one, "label": 0}) == 409  # a second label
    pair = {"feedback": [{"request_id": two, "labels": [0, 1]}] * 2}
    assert status_of(g, pair) == 409  # twice in one body: refused whole, nothing taken
    assert post(g, {"request_id": two, "labels": [0, 1]})["accepted"] == 1
    g.feedback.log.close()  # type: ignore[union-attr]
    text = (tmp_path / FEEDBACK_FILE).read_text()
    logged = [json.loads(x)["request_id"] for x in text.splitlines()]
    assert logged == [one, two]


def test_a_label_that_could_not_be_logged_may_be_sent_again(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    g = gate(blocked)
    rid = IDS.sign("a", 1)
    with pytest.raises(FileExistsError):  # the log directory is a file
        post(g, {"request_id": rid, "label": 1})
    g.feedback.log = None
    assert post(g, {"request_id": rid, "label": 1})["accepted"] == 1


def test_a_configured_token_is_required() -> None:
    g = gate(token="t0ken")
    for header in (None, "Bearer nope", "t0ken", "Bearer t0ken\udc80"):
        with pytest.raises(RequestError) as info:
            g.authorize(header)
        assert info.value.status == 401
        assert info.value.headers == {"www-authenticate": "Bearer"}
    g.authorize("Bearer t0ken")
    gate().authorize(None)  # no token configured: nothing asked


def test_the_log_keeps_to_its_own_budget(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path, max_bytes=1 << 30, keep=3, budget=8 * 1024)
    line = json.dumps({"request_id": "x" * 200, "labels": [1]}) + "\n"
    for _ in range(500):
        log.append([line])
    log.close()
    files = list(tmp_path.glob("feedback*.jsonl"))
    assert len(files) == 4
    assert sum(f.stat().st_size for f in files) <= 8 * 1024 + 4 * len(line)


def test_a_shadow_scores_the_label_the_incumbents_answer_id_carries() -> None:
    # Both variants of a release share the secret; each signs the mirrored request its own way.
    shadow = gate()
    shadow.feedback.remember(RequestIds(b"s" * 32).sign("r1", 1), [1])
    incumbents_id = IDS.sign("r1", 1)
    assert post(shadow, {"request_id": incumbents_id, "label": 1})["matched"] == 1
