"""True labels joined on request id: the server's feedback log, or a labels file.

    feedback.jsonl (POST /feedback)   one `FeedbackRecord` a line (core/records/feedback.py):
                                      {"request_id", "labels": [one per row], ...}
    a .jsonl labels file              the same records ({"label": y, "row": r} for one row)
    a .csv labels file                columns request_id, label, and row (default 0)

Labels are keyed by (request id, row). A later label for the same row replaces an earlier one.
A line that is not a record is counted as bad and skipped; a record of a format version this
mlgate does not read stops the read with a `FormatError` naming the file, line and version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.app.monitor.logs import FEEDBACK_GLOB, Layout
from mlgate.core.records.feedback import decode
from mlgate.errors import DataError


@dataclass
class Labels:
    """Known labels: class index (classifiers) or value (regression), by (request id, row)."""

    values: dict[tuple[str, int], float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    bad: int = 0
    unknown_class: int = 0

    @property
    def request_ids(self) -> frozenset[str]:
        return frozenset(rid for rid, _ in self.values)

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
    labels: Labels, rid: str, row: int, label: Any, layout: Layout, index: dict[Any, int]
) -> None:
    value = _value(label, layout, index)
    if value is None:
        labels.unknown_class += 1
        return
    labels.values[(rid, row)] = value


def _read_jsonl(path: Path, labels: Labels, layout: Layout, index: dict[Any, int]) -> None:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            rec = decode(line, f"{path}, line {number}")
            if rec is None:
                labels.bad += 1
                continue
            for i, y in enumerate(rec.labels):
                _add(labels, rec.request_id, rec.row + i, y, layout, index)


def _read_csv(path: Path, labels: Labels, layout: Layout, index: dict[Any, int]) -> None:
    import pandas as pd

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
    for rid, row, label in zip(frame["request_id"], rows, frame["label"].tolist(), strict=True):
        if not isinstance(rid, str):  # an empty cell
            labels.bad += 1
            continue
        if isinstance(label, float) and label.is_integer() and layout.classes is not None:
            label = int(label)
        _add(labels, rid, int(row), label, layout, index)


def load_labels(paths: Sequence[Path], layout: Layout) -> Labels:
    """Every label in `paths` (feedback logs and labels files)."""
    labels = Labels()
    index = layout.class_index()
    for path in paths:
        if not path.is_file():
            raise DataError(f"labels file not found: {path}")
        labels.files.append(str(path))
        if path.suffix.lower() == ".csv":
            _read_csv(path, labels, layout, index)
        else:
            _read_jsonl(path, labels, layout, index)
    return labels
