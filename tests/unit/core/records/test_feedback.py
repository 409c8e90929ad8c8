"""The feedback log's record: written, read back equal; version 0 read, others refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.core.records.feedback import FeedbackRecord, decode
from mlgate.errors import FormatError

pytestmark = pytest.mark.unit

LEGACY = Path(__file__).parent / "legacy" / "feedback.jsonl"


def test_a_record_is_written_as_one_line_and_read_back_equal() -> None:
    record = FeedbackRecord(
        request_id="req-1", labels=[0, "yes", True], ts=1.5, model="churn", version="v"
    )
    line = record.line()
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert json.loads(line) == {
        "format_version": 1,
        "request_id": "req-1",
        "labels": [0, "yes", True],
        "ts": 1.5,
        "model": "churn",
        "version": "v",
    }
    assert decode(line, "feedback.jsonl, line 1") == record


def test_every_line_today_s_server_wrote_reads_as_version_0() -> None:
    records = [decode(line, str(LEGACY)) for line in LEGACY.read_bytes().splitlines()]
    assert [(r.request_id, r.labels, r.model) for r in records if r is not None] == [
        ("req-1", [0, 1], "churn"),
        ("req-2", [1], "churn"),
    ]


def test_a_hand_written_label_for_one_row_reads_as_a_record() -> None:
    line = '{"request_id": "r", "label": "yes", "row": 2, "comment": "from the call centre"}'
    assert decode(line, "labels.jsonl") == FeedbackRecord(request_id="r", labels=["yes"], row=2)


@pytest.mark.parametrize("version", [2, 9])
def test_another_version_is_refused_naming_it(version: int) -> None:
    line = json.dumps({"format_version": version, "request_id": "r", "labels": [1]})
    with pytest.raises(FormatError, match=rf"fb, line 3: .* format version {version} .*reads 0, 1"):
        decode(line, "fb, line 3")


@pytest.mark.parametrize(
    "line",
    [
        '{"request_id": "r", "labels": [1',
        "[1]",
        '{"request_id": 3, "labels": [1]}',
        '{"request_id": "r", "labels": []}',
        '{"request_id": "r"}',
        '{"format_version": 1, "request_id": "r", "labels": [1], "extra": 2}',
    ],
)
def test_a_line_that_is_not_a_record_is_none(line: str) -> None:
    assert decode(line, "fb") is None
