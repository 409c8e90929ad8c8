"""Reading labels in bounded memory and time: overlong lines skipped unread, a cap on the
labelled rows, the first label of a row kept in the server's feedback log; what was skipped
is counted and said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.app.monitor import labels as labels_module
from mlgate.app.monitor.labels import load_labels
from mlgate.app.monitor.logs import Layout
from mlgate.core.schema import ColumnSpec
from mlgate.errors import FormatError

pytestmark = pytest.mark.unit

LAYOUT = Layout(features=(ColumnSpec(name="x", kind="numeric"),), classes=(0, 1))


def line(rid: str, labels: list[int]) -> str:
    return json.dumps({"request_id": rid, "labels": labels}) + "\n"


def test_an_overlong_line_is_skipped_unread_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(labels_module, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(labels_module, "_BLOCK", 16)
    fb = tmp_path / "feedback.jsonl"
    fb.write_text(line("a", [1]) + line("flood", [0] * 500) + line("b", [0]))
    labels = load_labels([fb], LAYOUT)
    assert labels.values == {("a", 0): 1.0, ("b", 0): 0.0}
    assert labels.skipped == {"overlong": 1}
    assert labels.notes() == ["1 line(s) longer than 100 bytes skipped"]
    # Line numbers still count the skipped line.
    fb.write_text(line("flood", [0] * 500) + json.dumps({"format_version": 9}) + "\n")
    with pytest.raises(FormatError, match="line 2"):
        load_labels([fb], LAYOUT)


def test_past_the_cap_the_rest_is_counted_not_read(tmp_path: Path) -> None:
    fb = tmp_path / "feedback.jsonl"
    fb.write_text("".join(line(f"r{i}", [1, 0]) for i in range(10)) + "not json")
    csv = tmp_path / "labels.csv"
    csv.write_text("request_id,label\nz,1\ny,0\n")
    labels = load_labels([fb, csv], LAYOUT, max_labels=5)
    assert len(labels) == 6  # three whole lines
    assert labels.bad == 0
    assert labels.skipped == {"capped": 8 + 2}  # 7 lines, the damaged one, 2 CSV rows
    assert "10 line(s) or CSV row(s) not read past the cap of 5 labelled rows skipped" in (
        labels.notes()
    )


def test_the_first_label_of_a_row_wins_in_the_feedback_log(tmp_path: Path) -> None:
    live = tmp_path / "feedback.jsonl"
    live.write_text(line("a", [1, 1]) + line("a", [0, 0]) + line("b", [0]))
    fixes = tmp_path / "corrections.jsonl"
    fixes.write_text(line("b", [1]))
    labels = load_labels([live, fixes], LAYOUT)
    assert labels.values == {("a", 0): 1.0, ("a", 1): 1.0, ("b", 0): 1.0}
    assert labels.skipped == {"duplicate": 2}
