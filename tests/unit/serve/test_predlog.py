"""The prediction log: bounded, never blocking, rotated, flushed on close."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.core.records.predlog import PredictionRecord
from mlgate.serve.predlog import CURRENT, PredictionLog

pytestmark = pytest.mark.unit


def record(i: int) -> PredictionRecord:
    """One log record with a row in feature order."""
    return PredictionRecord(ts=1.0, request_id=str(i), instances=[[i, "x"]], predictions=[i % 2])


def test_records_are_written_with_feature_names(tmp_path: Path) -> None:
    """Rows in feature order are written as objects keyed by feature."""
    log = PredictionLog(tmp_path, features=["a", "b"])
    log.start()
    for i in range(10):
        assert log.submit(record(i))
    log.close()
    lines = [json.loads(line) for line in (tmp_path / CURRENT).read_text().splitlines()]
    assert [r["request_id"] for r in lines] == [str(i) for i in range(10)]
    assert lines[3]["instances"] == [{"a": 3, "b": "x"}]


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    """With the writer not started, the queue fills: submit returns False at once and counts."""
    drops: list[int] = []
    log = PredictionLog(tmp_path, features=["a", "b"], capacity=3, on_drop=drops.append)
    results = [log.submit(record(i)) for i in range(5)]
    assert results == [True, True, True, False, False]
    assert log.dropped == 2
    assert sum(drops) == 2


def test_rotation_keeps_the_newest_files(tmp_path: Path) -> None:
    """Past max_bytes the file is rotated; only `keep` rotated files stay."""
    log = PredictionLog(tmp_path, features=["a", "b"], max_bytes=1024, keep=2)
    log.start()
    for i in range(200):
        log.submit(record(i))
        if i % 20 == 19:
            # Let the writer drain so several rotations happen.
            import time

            deadline = time.monotonic() + 10
            while log.written + log.dropped < i + 1 and time.monotonic() < deadline:
                time.sleep(0.001)
    log.close()
    rotated = sorted(tmp_path.glob("predictions-*.jsonl"))
    assert 1 <= len(rotated) <= 2
    assert (tmp_path / CURRENT).exists()
    assert log.dropped == 0


def _drain(log: PredictionLog, n: int) -> None:
    import time

    deadline = time.monotonic() + 10
    while log.written + log.dropped < n:
        assert time.monotonic() < deadline, "the writer did not catch up"
        time.sleep(0.001)


@pytest.mark.parametrize("how", ["delete_file", "rotate_away", "delete_dir"])
def test_a_deleted_or_moved_log_is_reopened(tmp_path: Path, how: str) -> None:
    import shutil

    directory = tmp_path / "logs"
    log = PredictionLog(directory, features=["a", "b"])
    log.start()
    log.submit(record(0))
    _drain(log, 1)
    if how == "delete_file":
        (directory / CURRENT).unlink()
    elif how == "rotate_away":
        (directory / CURRENT).rename(directory / "predictions.jsonl.1")
    else:
        shutil.rmtree(directory)
    for i in range(1, 6):
        log.submit(record(i))
    _drain(log, 6)
    log.close()
    lines = [json.loads(x) for x in (directory / CURRENT).read_text().splitlines()]
    assert [r["request_id"] for r in lines] == ["1", "2", "3", "4", "5"]
    assert log.dropped == 0


def test_a_failing_disk_counts_every_record_and_logs_once_per_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    directory = tmp_path / "logs"
    drops: list[int] = []
    log = PredictionLog(
        directory, features=["a", "b"], on_drop=drops.append, failure_log_interval=3600
    )
    log.start()
    shutil.rmtree(directory)
    directory.write_text("a file where the directory was: every reopen fails")
    with caplog.at_level("ERROR", logger="mlgate.serve.predlog"):
        for i in range(20):
            log.submit(record(i))
            _drain(log, i + 1)  # one batch per record: twenty failed writes
        log.close()
    assert log.dropped == 20
    assert sum(drops) == 20
    failures = [r for r in caplog.records if "cannot write the prediction log" in r.message]
    assert len(failures) == 1
