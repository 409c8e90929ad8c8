"""`mlgate monitor --skew FILE|feast`: the features a server used, against the same rows
computed offline.

`--skew feast` (a bundle trained from Feast): the offline values are the feature store's own,
as of each logged request. The log's rows carry the entity keys they were served for and the
values the model used (the server logs the rows it completed from the online store); the
feature repository's offline store is asked, point in time, for the same features of the same
entities at the time each request was answered (`mlgate.adapters.feast.offline_values`), and
those are compared with the served ones. Rows logged without their entity keys are counted,
not compared.

`--skew FILE`: FILE (CSV or Parquet) holds `request_id`, optionally `row` (the row within its
request, 0 when absent) and any of the bundle's features, as the offline pipeline computes
them. The log's answered rows are joined with it on (request id, row), the server's signature
taken off the logged ids, and each feature of FILE is compared by `mlgate.core.skew`. Rows in
only one of the two are counted, not compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlgate.app.monitor.logs import Chunk, Layout, feature_column
from mlgate.core.records.lineage import FeastRecord
from mlgate.core.schema import ColumnSpec
from mlgate.core.skew import FeatureSkew, SkewConfig, categorical_skew, numeric_skew
from mlgate.errors import DataError
from mlgate.store.bundle import Bundle
from mlgate.store.tables import load_table

KEYS = ("request_id", "row")
STORE = "feast"
"""`--skew feast`: the offline values come from the bundle's feature store."""
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


@dataclass(frozen=True)
class StoreSkew:
    """`--skew feast`: compare with the offline store of this Feast repository, for the
    bundle's Feast features (`feast.features` of mlgate.json), by its entity keys."""

    repo: Path


def store_features(
    features: Sequence[ColumnSpec], record: FeastRecord | None, bundle: Path
) -> tuple[tuple[ColumnSpec, ...], tuple[str, ...], tuple[str, ...]]:
    """The bundle features that came from Feast, their `view:feature` references and the
    entity keys to join on; DataError when the bundle was not trained from Feast."""
    if record is None or not record.entity_keys:
        raise DataError(
            f"--skew {STORE}: bundle {bundle} was not trained from a feature store "
            "(its mlgate.json has no feast record with entity keys)",
            hint="train it with data.source: feast, or pass --skew FILE with the rows as "
            "computed offline",
        )
    by_name = {ref.partition(":")[2]: ref for ref in record.features}
    specs = tuple(f for f in features if f.name in by_name)
    return specs, tuple(by_name[f.name] for f in specs), record.entity_keys


@dataclass
class SkewCollector:
    """The answered rows of the log, kept for the join: ids and the compared features, as the
    chunks' own numpy columns (no frame is built of them)."""

    features: tuple[ColumnSpec, ...]
    version: str
    since: float | None = None
    until: float | None = None
    keys: tuple[str, ...] = ()  # entity keys kept too (`k:` columns), with the times
    # The rows as computed offline (--skew FILE), or where to ask for them (--skew feast).
    offline: pd.DataFrame | None = None
    store: StoreSkew | None = None
    refs: tuple[str, ...] = ()  # the features' `view:feature` references in the store
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, chunk: Chunk) -> None:
        """Keep the chunk's answered rows of this model version within the period."""
        answered = np.asarray(pd.isna(chunk["error"]), dtype=bool)
        answered &= chunk["version"] == self.version
        if self.since is not None:
            answered &= chunk["ts"] >= self.since
        if self.until is not None:
            answered &= chunk["ts"] < self.until
        kept = (*KEYS, *(f"f:{f.name}" for f in self.features))
        if self.keys:
            kept = (*kept, "ts", *(f"k:{k}" for k in self.keys))
        for name in kept:
            self.columns.setdefault(name, []).append(chunk[name][answered])

    def _ids(self) -> pd.Series:
        """The logged request ids without the server's signature, as pandas strings."""
        ids = pd.Series(self._column("request_id", object), dtype="string")
        return ids.str.replace(_SIGNED, "", regex=True)

    def entity_rows(self) -> pd.DataFrame:
        """The answered rows that carry every entity key: keys (text), the time each was
        answered (`event_timestamp`, UTC) and (request_id, row), for the offline store."""
        frame = pd.DataFrame({f"k:{k}": self._column(f"k:{k}", object) for k in self.keys})
        frame.columns = list(self.keys)
        frame["event_timestamp"] = pd.to_datetime(
            self._column("ts", np.float64), unit="s", utc=True
        )
        frame["request_id"] = self._ids()
        frame["row"] = self._column("row", np.int64)
        return frame[frame[list(self.keys)].notna().all(axis=1)].reset_index(drop=True)

    def _column(self, name: str, dtype: type) -> np.ndarray:
        parts = self.columns.get(name, [])
        return np.concatenate(parts) if parts else np.array([], dtype=dtype)

    def offline_rows(self) -> pd.DataFrame:
        """The offline rows to join: the file's, or the store's for the logged entities."""
        if self.offline is not None:
            return self.offline
        assert self.store is not None
        # The `feast` extra (its own environment: Feast caps pandas below 3), loaded only here.
        from mlgate.adapters.feast import offline_values

        return offline_values(self.store.repo, self.refs, self.entity_rows(), self.keys)

    def compare(self, cfg: SkewConfig) -> tuple[list[FeatureSkew], str]:
        """Each feature's skew over the joined rows, and a note on what did not join."""
        offline = self.offline_rows()
        # Text columns of one dtype on both sides (pandas' string dtype, on Arrow when it is
        # there): the signature strip and the join's key factorisation stay vectorised.
        ids = self._ids()
        keys = pd.DataFrame(
            {
                "request_id": ids,
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


def plan_skew(
    source: Path | StoreSkew | None,
    layout: Layout,
    bundle: Bundle,
    period: tuple[float | None, float | None],
) -> tuple[SkewCollector | None, Layout]:
    """The collector of `--skew` (None without it) and the layout the log is read with: the
    entity keys read too when the offline values come from the store."""
    since, until = period
    if source is None:
        return None, layout
    if isinstance(source, StoreSkew):
        specs, refs, keys = store_features(layout.features, bundle.meta.feast, bundle.path)
        collector = SkewCollector(
            specs, bundle.version, since, until, keys=keys, store=source, refs=refs
        )
        return collector, dataclasses.replace(layout, keys=keys)
    offline, compared = read_offline(source, layout.features)
    specs = tuple(f for f in layout.features if f.name in compared)
    return SkewCollector(specs, bundle.version, since, until, offline=offline), layout
