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
    frame["request_id"] = frame["request_id"].astype("string")
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


def _offline_column(spec: ColumnSpec, column: pd.Series) -> np.ndarray:
    """An offline column as the log's `f:` column of the feature holds it: numbers as floats
    (NaN missing), dates as seconds, categories as text (None missing)."""
    if spec.kind not in ("categorical", "datetime") and pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    if spec.kind == "categorical" and pd.api.types.infer_dtype(column, skipna=True) == "string":
        return column.astype(object).to_numpy(dtype=object)  # NaN missing: core.skew reads it
    raw = column.astype(object)
    return feature_column(spec, raw.where(raw.notna(), None).tolist())


@dataclass
class SkewCollector:
    """The answered rows of the log, kept for the join: ids and the compared features, as the
    chunks' own numpy columns (no frame is built of them)."""

    features: tuple[ColumnSpec, ...]
    version: str
    since: float | None = None
    until: float | None = None
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, chunk: Chunk) -> None:
        """Keep the chunk's answered rows of this model version within the period."""
        answered = np.asarray(pd.isna(chunk["error"]), dtype=bool)
        answered &= chunk["version"] == self.version
        if self.since is not None:
            answered &= chunk["ts"] >= self.since
        if self.until is not None:
            answered &= chunk["ts"] < self.until
        for name in (*KEYS, *(f"f:{f.name}" for f in self.features)):
            self.columns.setdefault(name, []).append(chunk[name][answered])

    def _column(self, name: str, dtype: type) -> np.ndarray:
        parts = self.columns.get(name, [])
        return np.concatenate(parts) if parts else np.array([], dtype=dtype)

    def compare(self, offline: pd.DataFrame, cfg: SkewConfig) -> tuple[list[FeatureSkew], str]:
        """Each feature's skew over the joined rows, and a note on what did not join."""
        # Text columns of one dtype on both sides (pandas' string dtype, on Arrow when it is
        # there): the signature strip and the join's key factorisation stay vectorised.
        ids = pd.Series(self._column("request_id", object), dtype="string")
        keys = pd.DataFrame(
            {
                "request_id": ids.str.replace(_SIGNED, "", regex=True),
                "row": self._column("row", np.int64),
                "_served": np.arange(len(ids)),
            }
        )
        offline_keys = offline[list(KEYS)].assign(_offline=np.arange(len(offline)))
        joined = keys.merge(offline_keys, on=list(KEYS), how="inner")
        at_served = joined["_served"].to_numpy()
        at_offline = joined["_offline"].to_numpy()
        results = []
        for spec in self.features:
            served = self._column(f"f:{spec.name}", object)[at_served]
            expected = _offline_column(spec, offline[spec.name])[at_offline]
            if spec.kind == "categorical":
                results.append(categorical_skew(spec.name, served.astype(object), expected, cfg))
            else:
                results.append(numeric_skew(spec.name, served.astype(np.float64), expected, cfg))
        note = (
            f"skew: {len(joined)} row(s) joined; {len(keys) - len(joined)} logged and "
            f"{len(offline) - len(joined)} offline row(s) without a match"
        )
        return results, note
