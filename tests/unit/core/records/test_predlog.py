"""The prediction log's record: written, read back equal; version 0 read, others refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.core.records.predlog import PredictionRecord, Refusal, decode, encode
from mlgate.errors import FormatError

pytestmark = pytest.mark.unit

LEGACY = Path(__file__).parent / "legacy" / "predictions.jsonl"
FEATURES = ("x", "c")


def answered(**changes: object) -> PredictionRecord:
    fields: dict[str, object] = {
        "ts": 1796157415.25,
        "request_id": "req-1",
        "model": "churn",
        "version": "dae0b58f2172",
        "runtime": "onnx",
        "latency_ms": 0.833,
        "instances": [{"x": 1.5, "c": "p"}, {"x": None, "c": "q"}],
        "predictions": [1, 0],
        "probabilities": [[0.25, 0.75], [0.5, 0.5]],
    }
    fields.update(changes)
    return PredictionRecord(**fields)  # type: ignore[arg-type]


def test_an_answered_request_is_written_and_read_back_equal() -> None:
    record = answered()
    line = encode(record, FEATURES)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line)["format_version"] == 1
    assert decode(line, "predictions.jsonl, line 1") == record


def test_a_refused_request_is_written_and_read_back_equal() -> None:
    record = PredictionRecord(
        ts=2.0,
        request_id="bad",
        model="churn",
        version="v",
        latency_ms=0.4,
        error=Refusal(422, "validation", "age"),
    )
    line = encode(record, FEATURES)
    assert set(json.loads(line)) == {
        "format_version", "ts", "request_id", "model", "version", "latency_ms", "error",
    }  # fmt: skip
    assert decode(line, "p") == record


def test_rows_in_feature_order_are_written_as_objects() -> None:
    record = answered(instances=[[1.5, "p"], [None, "q"]], probabilities=None)
    back = decode(encode(record, FEATURES), "p")
    assert back == answered(probabilities=None)
    assert "probabilities" not in json.loads(encode(record, FEATURES))


def test_values_beyond_orjson_are_still_written() -> None:
    big = 2**70  # a client may send it for a numeric feature; orjson stops at 64 bits
    back = decode(encode(answered(instances=[[big, "p"], [1, "q"]]), FEATURES), "p")
    assert back is not None
    assert back.instances is not None
    row = back.instances[0]
    assert isinstance(row, dict)
    assert row["x"] == big


def test_a_non_finite_value_is_read_as_missing() -> None:
    line = encode(answered(instances=[[math.nan, "p"], [1.0, "q"]]), FEATURES)
    back = decode(line, "p")
    assert back is not None
    assert back.instances is not None
    row = back.instances[0]
    assert isinstance(row, dict)
    assert row["x"] is None


def test_every_line_today_s_server_wrote_reads_as_version_0() -> None:
    # Written by mlgate 0.1.0 before the log was versioned: no format_version, NaN literals.
    records = [decode(line, str(LEGACY)) for line in LEGACY.read_bytes().splitlines()]
    assert all(r is not None for r in records)
    assert [r.request_id for r in records if r is not None] == ["req-1", "req-2", "req-3", "req-4"]
    nan_row, refused = records[2], records[3]
    assert nan_row is not None
    assert nan_row.instances is not None
    row = nan_row.instances[0]
    assert isinstance(row, dict)
    assert math.isnan(row["tenure_months"])
    assert refused is not None
    assert refused.error == Refusal(422, "validation", "age")
    assert refused.runtime is None


@pytest.mark.parametrize(
    "line",
    [
        b'{"format_version": 2, "ts": 1, "request_id": "a", "instances": [{}], "predictions": [0]}',
        b'{"format_version": 7, "a shape": "of a later mlgate"}',
    ],
)
def test_another_version_is_refused_naming_it(line: bytes) -> None:
    version = json.loads(line)["format_version"]
    with pytest.raises(
        FormatError, match=rf"log, line 9: .* format version {version} .*reads 0, 1"
    ):
        decode(line, "log, line 9")


@pytest.mark.parametrize(
    "line",
    [
        b'{"ts": 1.0, "request_id": "a", "instances": [{"x": 1}], "predic',  # truncated
        b"[1, 2]",
        b'{"ts": "1.0", "request_id": "a", "instances": [{}], "predictions": [0]}',
        b'{"ts": 1.0, "request_id": "a", "instances": [{}, {}], "predictions": [0]}',
        b'{"ts": 1.0, "request_id": "a", "instances": [], "predictions": []}',
        b'{"ts": 1.0, "request_id": "a"}',
        b'{"ts": 1.0, "request_id": 7, "instances": [{}], "predictions": [0]}',
        b'{"format_version": "1", "ts": 1.0, "request_id": "a"}',
    ],
)
def test_a_line_that_is_not_a_record_is_none(line: bytes) -> None:
    assert decode(line, "p") is None


def test_a_record_without_rows_or_an_error_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="instances and predictions"):
        PredictionRecord(ts=1.0, request_id="a")
    with pytest.raises(ValueError, match="one prediction per row"):
        PredictionRecord(ts=1.0, request_id="a", instances=[[1]], predictions=[1, 2])


_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@given(
    rows=st.lists(st.tuples(_value, _value), min_size=1, max_size=5),
    ts=st.floats(0, 4e9),
    rid=st.text(min_size=1, max_size=20),
)
def test_any_logged_rows_read_back_equal(
    rows: list[tuple[object, object]], ts: float, rid: str
) -> None:
    record = PredictionRecord(
        ts=ts,
        request_id=rid,
        instances=[dict(zip(FEATURES, r, strict=True)) for r in rows],
        predictions=[0] * len(rows),
    )
    assert decode(encode(record, FEATURES), "p") == record
