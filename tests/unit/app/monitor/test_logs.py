"""Reading the prediction log: normalised chunks, bad lines counted, versions and errors kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlgate.app.monitor.labels import load_labels
from mlgate.app.monitor.logs import Layout, ReadStats, discover, read_jsonl
from mlgate.core.schema import ColumnSpec

pytestmark = pytest.mark.unit

LAYOUT = Layout(
    features=(
        ColumnSpec(name="x", kind="numeric"),
        ColumnSpec(name="c", kind="categorical"),
    ),
    classes=(0, 1),
)


def test_records_become_rows_with_their_versions_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    lines = [
        {
            "ts": 1.0,
            "request_id": "a",
            "version": "v1",
            "latency_ms": 2.0,
            "instances": [{"x": 1.5, "c": "p"}, {"x": None, "c": 3}],
            "predictions": [1, 0],
            "probabilities": [[0.2, 0.8], [0.6, 0.4]],
        },
        {
            "ts": 2.0,
            "request_id": "b",
            "version": "v1",
            "latency_ms": 1.0,
            "error": {"status": 422, "kind": "validation", "field": "x"},
        },
        {
            "ts": 3.0,
            "request_id": "c",
            "version": "v2",
            "instances": [{"x": 9}],
            "predictions": [1],
        },
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n[1, 2]\n{"ts": 4, "request')
    stats = ReadStats()
    chunks = list(read_jsonl(path, LAYOUT, chunk_rows=100, stats=stats))
    by_version = {str(c["version"][0]): c for c in chunks}
    v1 = by_version["v1"]
    assert v1["row"].tolist() == [0, 1, -1]
    assert v1["error"].tolist() == [None, None, "validation"]
    np.testing.assert_array_equal(v1["f:x"], [1.5, np.nan, np.nan])
    assert v1["f:c"].tolist() == ["p", "3", None]
    np.testing.assert_array_equal(v1["latency_ms"], [2.0, np.nan, 1.0])
    np.testing.assert_array_equal(v1["p:1"][:2], [0.8, 0.4])
    assert by_version["v2"]["f:c"].tolist() == [None]  # missing feature: missing value
    assert np.isnan(by_version["v2"]["p:0"][0])  # probabilities not logged
    assert stats.bad_lines == {str(path): 2}


def test_dates_are_read_as_the_reference_profile_reads_them(tmp_path: Path) -> None:
    # A date feature logged as the client sent it (ISO 8601 with a zone, or not): seconds
    # since 1970 like the profile's, missing only when absent or not a date.
    layout = Layout(
        features=(ColumnSpec(name="when", kind="datetime", format="ISO8601"),), classes=(0, 1)
    )
    path = tmp_path / "predictions.jsonl"
    record = {
        "ts": 1.0,
        "request_id": "a",
        "version": "v1",
        "instances": [
            {"when": "2017-09-04T03:40:01Z"},
            {"when": "2017-09-04T05:40:01+02:00"},
            {"when": "2017-09-04"},
            {"when": None},
            {"when": "soon"},
        ],
        "predictions": [0, 0, 0, 0, 0],
    }
    path.write_text(json.dumps(record) + "\n")
    (chunk,) = read_jsonl(path, layout, chunk_rows=100, stats=ReadStats())
    expected = [1504496401.0, 1504496401.0, 1504483200.0, np.nan, np.nan]
    np.testing.assert_array_equal(chunk["f:when"], expected)


def test_chunks_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "predictions.jsonl"
    rec = {
        "ts": 1.0,
        "request_id": "a",
        "version": "v",
        "instances": [{"x": 1.0, "c": "p"}] * 3,
        "predictions": [1, 1, 1],
    }
    path.write_text("\n".join(json.dumps(rec) for _ in range(10)) + "\n")
    sizes = [c["ts"].size for c in read_jsonl(path, LAYOUT, chunk_rows=7, stats=ReadStats())]
    assert sum(sizes) == 30
    assert max(sizes) <= 9  # a chunk closes once it holds chunk_rows; a record is never split


def test_discovery_orders_rotated_files_before_the_live_one(tmp_path: Path) -> None:
    for name in [
        "predictions.jsonl",
        "predictions-20260102T000000.000000Z.jsonl",
        "predictions-20260101T000000.000000Z.jsonl",
        "feedback.jsonl",
        "other.txt",
    ]:
        (tmp_path / name).write_text("")
    assert [p.name for p in discover([tmp_path], None)] == [
        "predictions-20260101T000000.000000Z.jsonl",
        "predictions-20260102T000000.000000Z.jsonl",
        "predictions.jsonl",
    ]


def test_labels_from_feedback_and_csv(tmp_path: Path) -> None:
    fb = tmp_path / "feedback.jsonl"
    fb.write_text(
        json.dumps({"request_id": "a", "labels": [1, 0]})
        + "\nnot json\n"
        + json.dumps({"request_id": "b", "label": 7})
        + "\n"
    )
    csv = tmp_path / "labels.csv"
    csv.write_text("request_id,label,row\nc,1,0\na,0,0\n")
    labels = load_labels([fb, csv], LAYOUT)
    assert labels.values == {("a", 0): 0.0, ("a", 1): 0.0, ("c", 0): 1.0}
    assert labels.bad == 1
    assert labels.unknown_class == 1


def test_a_log_of_a_format_version_not_read_stops_the_read_naming_it(tmp_path: Path) -> None:
    from mlgate.errors import FormatError

    path = tmp_path / "predictions.jsonl"
    fine = {
        "ts": 1.0,
        "request_id": "a",
        "version": "v",
        "instances": [{"x": 1}],
        "predictions": [1],
    }
    later = {**fine, "format_version": 2}
    path.write_text(json.dumps(fine) + "\n" + json.dumps(later) + "\n")
    with pytest.raises(FormatError, match=r"predictions.jsonl, line 2: .*format version 2"):
        list(read_jsonl(path, LAYOUT, chunk_rows=100, stats=ReadStats()))


def test_a_value_logged_as_nan_keeps_its_line(tmp_path: Path) -> None:
    # The server wrote a client's NaN as the NaN literal before the log was versioned.
    path = tmp_path / "predictions.jsonl"
    path.write_text(
        '{"ts": 1.0, "request_id": "a", "version": "v", "instances": [{"x": NaN, "c": "p"}], '
        '"predictions": [1], "probabilities": [[0.4, null]]}\n'
    )
    stats = ReadStats()
    (chunk,) = read_jsonl(path, LAYOUT, chunk_rows=100, stats=stats)
    assert stats.bad == 0
    assert np.isnan(chunk["f:x"][0])
    assert chunk["p:0"][0] == 0.4
    assert np.isnan(chunk["p:1"][0])


def test_labels_of_a_format_version_not_read_stop_the_read_naming_it(tmp_path: Path) -> None:
    from mlgate.errors import FormatError

    fb = tmp_path / "feedback.jsonl"
    fb.write_text(json.dumps({"format_version": 3, "request_id": "a", "labels": [1]}) + "\n")
    with pytest.raises(FormatError, match=r"feedback.jsonl, line 1: .*format version 3"):
        load_labels([fb], LAYOUT)


def test_a_hand_written_label_names_its_row(tmp_path: Path) -> None:
    fb = tmp_path / "labels.jsonl"
    fb.write_text(json.dumps({"request_id": "a", "label": 1, "row": 2}) + "\n")
    assert load_labels([fb], LAYOUT).values == {("a", 2): 1.0}


def test_entity_keys_are_read_as_text_beside_a_single_feature(tmp_path: Path) -> None:
    """`k:` columns (the skew join's entity keys): 7, 7.0 and "7" alike, None when a row has
    none; a row without the one feature reads as missing, not as a tuple."""
    path = tmp_path / "predictions.jsonl"
    record = {
        "ts": 1.0,
        "request_id": "a",
        "version": "v1",
        "latency_ms": 2.0,
        "instances": [{"id": 7, "x": 1.5}, {"id": "7", "x": 2.0}, {"id": 7.0}, {"x": 4.0}],
        "predictions": [1, 0, 1, 0],
    }
    path.write_text(json.dumps(record) + "\n")
    layout = Layout(features=(ColumnSpec(name="x", kind="numeric"),), classes=(0, 1), keys=("id",))
    (chunk,) = read_jsonl(path, layout, chunk_rows=100, stats=ReadStats())
    assert chunk["k:id"].tolist() == ["7", "7", "7", None]
    np.testing.assert_array_equal(chunk["f:x"], [1.5, 2.0, np.nan, 4.0])
    assert "k:id" not in next(read_jsonl(path, LAYOUT, chunk_rows=100, stats=ReadStats()))
