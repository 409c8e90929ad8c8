"""True labels joined on request id: the server's feedback log, or a labels file.

    feedback.jsonl (POST /feedback)   one `FeedbackRecord` a line (core/records/feedback.py):
                                      {"request_id", "labels": [one per row], ...}
    a .jsonl labels file              the same records ({"label": y, "row": r} for one row)
    a .csv labels file                columns request_id, label, and row (default 0)

Labels are keyed by (request id, row). In the server's feedback logs (`feedback*.jsonl`) the
first label of a row wins: the server takes one label per request, and a copy that reached
another worker, or was posted again, is a duplicate, counted and skipped. A labels file given
by hand replaces what came before it (a correction). A line that is not a record is counted as
bad and skipped; a record of a format version this mlgate does not read stops the read with a
`FormatError` naming the file, line and version.

Reading is bounded in memory and time whatever the files hold: lines are read one at a time,
a line over `MAX_LINE_BYTES` is skipped without being held, and past `max_labels` labelled
rows the rest is only counted, not parsed. `Labels.skipped` counts what was left out, by
reason, and `Labels.notes()` says it in sentences (also logged as a warning).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd

from mlgate.app.monitor.logs import FEEDBACK_GLOB, Layout
from mlgate.core.records.feedback import decode
from mlgate.errors import DataError

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 4 * 1024 * 1024
"""The longest feedback line read (the server writes far shorter ones)."""
MAX_LABELS = 2_000_000
"""Labelled rows kept by default; the rest of the files is counted, not read."""
_BLOCK = 1 << 20
_REASONS = {
    "overlong": "line(s) longer than {limit} bytes",
    "duplicate": "repeated label(s) of a row already labelled in the feedback log",
    "capped": "line(s) or CSV row(s) not read past the cap of {cap} labelled rows",
}


@dataclass
class Labels:
    """Known labels: class index (classifiers) or value (regression), by (request id, row)."""

    values: dict[tuple[str, int], float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    bad: int = 0
    unknown_class: int = 0
    max_labels: int = MAX_LABELS
    skipped: dict[str, int] = field(default_factory=dict)
    """What was left out, by reason: overlong (lines), duplicate (labels), capped (lines)."""

    @property
    def request_ids(self) -> frozenset[str]:
        return frozenset(rid for rid, _ in self.values)

    @property
    def full(self) -> bool:
        """True once `max_labels` rows are labelled: the rest is counted, not read."""
        return len(self.values) >= self.max_labels

    def skip(self, reason: str, n: int = 1) -> None:
        """Count `n` things left out for `reason`."""
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    def notes(self) -> list[str]:
        """What reading left out, one sentence per reason."""
        return [
            f"{n} {_REASONS[reason].format(limit=MAX_LINE_BYTES, cap=self.max_labels)} skipped"
            for reason, n in sorted(self.skipped.items())
        ]

    def __len__(self) -> int:
        return len(self.values)


def feedback_files(paths: Sequence[Path]) -> list[Path]:
    """The feedback logs beside the prediction logs (in the same directories)."""
    found: list[Path] = []
    for p in paths:
        directory = p if p.is_dir() else p.parent
        found.extend(sorted(directory.glob(FEEDBACK_GLOB)))
    return sorted(dict.fromkeys(found))


def _value(label: Any, layout: Layout, index: dict[Any, int]) -> float | None:
    if layout.classes is None:
        return (
            float(label) if isinstance(label, int | float) and not isinstance(label, bool) else None
        )
    found = index.get(label)
    if found is None and not isinstance(label, str):
        found = index.get(str(label))
    return None if found is None else float(found)


def _add(
    labels: Labels,
    rid: str,
    row: int,
    label: Any,
    layout: Layout,
    index: dict[Any, int],
    first_wins: bool = False,
) -> None:
    value = _value(label, layout, index)
    if value is None:
        labels.unknown_class += 1
        return
    key = (rid, row)
    if first_wins and key in labels.values:
        labels.skip("duplicate")
        return
    labels.values[key] = value


def _lines(fh: IO[bytes], labels: Labels) -> Iterator[tuple[int, bytes]]:
    """The file's lines and their numbers; a line over `MAX_LINE_BYTES` is skipped unread."""
    number = 0
    while line := fh.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            labels.skip("overlong")
            while line and not line.endswith(b"\n"):
                line = fh.readline(_BLOCK)
            continue
        yield number, line


def _count_lines(fh: IO[bytes]) -> int:
    """The lines left in the file, counted in blocks without keeping them."""
    count, last = 0, b"\n"
    while block := fh.read(_BLOCK):
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")


def _read_jsonl(path: Path, labels: Labels, layout: Layout, index: dict[Any, int]) -> None:
    first_wins = path.match(FEEDBACK_GLOB)
    with path.open("rb") as fh:
        for number, line in _lines(fh, labels):
            if labels.full:
                labels.skip("capped", 1 + _count_lines(fh))
                return
            if not line.strip():
                continue
            rec = decode(line, f"{path}, line {number}")
            if rec is None:
                labels.bad += 1
                continue
            for i, y in enumerate(rec.labels):
                _add(labels, rec.request_id, rec.row + i, y, layout, index, first_wins)


def _read_csv(path: Path, labels: Labels, layout: Layout, index: dict[Any, int]) -> None:
    try:
        frame = pd.read_csv(path, dtype={"request_id": str})
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read labels file {path}: {exc}") from None
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise DataError(
            f"labels file {path} has no column(s) {', '.join(missing)} "
            f"(columns: {', '.join(map(str, frame.columns))})",
            hint="a labels CSV needs request_id and label (and row for multi-row requests)",
        )
    rows = frame["row"].fillna(0).astype(int) if "row" in frame.columns else [0] * len(frame)
    for n, (rid, row, label) in enumerate(
        zip(frame["request_id"], rows, frame["label"].tolist(), strict=True)
    ):
        if labels.full:
            labels.skip("capped", len(frame) - n)
            return
        if not isinstance(rid, str):  # an empty cell
            labels.bad += 1
            continue
        if isinstance(label, float) and label.is_integer() and layout.classes is not None:
            label = int(label)
        _add(labels, rid, int(row), label, layout, index)


def load_labels(paths: Sequence[Path], layout: Layout, *, max_labels: int = MAX_LABELS) -> Labels:
    """Every label in `paths` (feedback logs and labels files), up to `max_labels` rows."""
    labels = Labels(max_labels=max_labels)
    index = layout.class_index()
    for path in paths:
        if not path.is_file():
            raise DataError(f"labels file not found: {path}")
        labels.files.append(str(path))
        if path.suffix.lower() == ".csv":
            _read_csv(path, labels, layout, index)
        else:
            _read_jsonl(path, labels, layout, index)
    for note in labels.notes():
        log.warning("labels: %s", note)
    return labels
