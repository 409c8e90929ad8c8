"""`mlgate monitor --skew FILE`: the features a server used, against the same rows computed
offline.

FILE (CSV or Parquet) holds `request_id`, optionally `row` (the row within its request, 0 when
absent) and any of the bundle's features, as the offline pipeline computes them. The log's
answered rows are joined with it on (request id, row), the server's signature taken off the
logged ids, and each feature of FILE is compared by `mlgate.core.skew`. Rows in only one of the
two are counted, not compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlgate.app.monitor.logs import Chunk, feature_column
from mlgate.core.schema import ColumnSpec
from mlgate.core.skew import FeatureSkew, SkewConfig, categorical_skew, numeric_skew
from mlgate.errors import DataError
from mlgate.store.tables import load_table

KEYS = ("request_id", "row")
# The server's signature on an answered id: a dot and 32 hex digits (core/records/predlog.py).
_SIGNED = r"\.[0-9a-f]{32}$"


def read_offline(path: Path, features: Sequence[ColumnSpec]) -> tuple[pd.DataFrame, list[str]]:
    """The offline rows, keyed by (request_id, row), and which bundle features they carry."""
    frame = load_table(path, named_by="the offline rows given to --skew")
    if "request_id" not in frame.columns:
        raise DataError(
            f"--skew {path}: no request_id column to join the prediction log on",
            hint="write the request id the server answered with (or the one the client sent), "
            "and `row` for requests of several rows",
        )
    frame = frame.copy()
    frame["request_id"] = frame["request_id"].astype(str)
    frame["row"] = frame["row"].astype("int64") if "row" in frame.columns else 0
    if frame.duplicated(list(KEYS)).any():
        first = frame[frame.duplicated(list(KEYS))].iloc[0]
        raise DataError(
            f"--skew {path}: request {first['request_id']!r} row {first['row']} appears twice",
            hint="one line per (request_id, row)",
        )
    known = {f.name for f in features}
    compared = [c for c in frame.columns if c in known]
    if not compared:
        raise DataError(
            f"--skew {path}: none of its columns is a feature of the model",
            hint=f"the features: {', '.join(sorted(known))}",
        )
    return frame, compared


@dataclass
class SkewCollector:
    """The answered rows of the log, kept for the join: ids and the compared features."""

    features: tuple[ColumnSpec, ...]
    version: str
    since: float | None = None
    until: float | None = None
    parts: list[pd.DataFrame] = field(default_factory=list)

    def add(self, chunk: Chunk) -> None:
        """Keep the chunk's answered rows of this model version within the period."""
        answered = np.array([e is None for e in chunk["error"]], dtype=bool)
        answered &= chunk["version"] == self.version
        if self.since is not None:
            answered &= chunk["ts"] >= self.since
        if self.until is not None:
            answered &= chunk["ts"] < self.until
        columns: dict[str, Any] = {
            "request_id": chunk["request_id"][answered],
            "row": chunk["row"][answered],
        }
        for spec in self.features:
            columns[spec.name] = chunk[f"f:{spec.name}"][answered]
        self.parts.append(pd.DataFrame(columns))

    def compare(self, offline: pd.DataFrame, cfg: SkewConfig) -> tuple[list[FeatureSkew], str]:
        """Each feature's skew over the joined rows, and a note on what did not join."""
        served = (
            pd.concat(self.parts, ignore_index=True)
            if self.parts
            else pd.DataFrame(columns=[*KEYS, *(f.name for f in self.features)])
        )
        served["request_id"] = served["request_id"].astype(str).str.replace(_SIGNED, "", regex=True)
        served = served.drop_duplicates(list(KEYS))
        joined = served.merge(offline, on=list(KEYS), how="inner", suffixes=(":s", ":o"))
        results = []
        for spec in self.features:
            raw = joined[f"{spec.name}:o"].astype(object)
            expected = feature_column(spec, raw.where(raw.notna(), None).tolist())
            if spec.kind == "categorical":  # pandas may hold a missing category as NaN
                got = joined[f"{spec.name}:s"].astype(object)
                served_values = got.where(got.notna(), None).to_numpy(dtype=object)
                results.append(categorical_skew(spec.name, served_values, expected, cfg))
            else:
                served_numbers = joined[f"{spec.name}:s"].to_numpy(dtype=np.float64)
                results.append(numeric_skew(spec.name, served_numbers, expected, cfg))
        note = (
            f"skew: {len(joined)} row(s) joined; {len(served) - len(joined)} logged and "
            f"{len(offline) - len(joined)} offline row(s) without a match"
        )
        return results, note
