"""Feast: the point-in-time training frame of `data.source: feast`.

`training_frame` asks the feature repository's offline store for the features that the entity
rows name, as of each row's event timestamp (`FeatureStore.get_historical_features`: no feature
value later than the row's timestamp, none older than its view's `ttl`), and returns the frame
sorted by timestamp and entity keys (Feast's own order is not stable), with the record the
lineage keeps: each feature view's definition hash, the registry's version and the entity
file's fingerprint. Errors name the `data.feast.*` key, the value and the fix.

Imported only for `data.source: feast` (the `feast` extra, resolved apart from `dev` because
Feast caps pandas below 3: `make setup-feast`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
from feast import FeatureStore
from feast.errors import FeastError

from mlgate.core.records.lineage import FeastRecord
from mlgate.errors import ConfigError, DataError


def open_store(repo: Path) -> FeatureStore:
    """The feature store of the repository at `repo`; ConfigError when it is not one."""
    if not (repo / "feature_store.yaml").is_file():
        raise ConfigError(
            f"data.feast.repo: {repo} has no feature_store.yaml",
            hint="point data.feast.repo at the Feast feature repository (where `feast apply` runs)",
        )
    try:
        return FeatureStore(repo_path=str(repo))
    except (FeastError, ValueError, OSError) as exc:
        raise ConfigError(
            f"data.feast.repo: Feast cannot open {repo}: {exc}",
            hint="check feature_store.yaml; `feast apply` in the repository shows the problem",
        ) from None


def _resolve(store: FeatureStore, features: str | tuple[str, ...]) -> tuple[Any, list[str]]:
    """What `get_historical_features` takes, and the `view:feature` references it stands for."""
    views = {v.name: v for v in store.list_feature_views()}
    if isinstance(features, str):
        try:
            service = store.get_feature_service(features)
        except FeastError:
            known = sorted(s.name for s in store.list_feature_services())
            raise ConfigError(
                f"data.feast.features: no feature service {features!r} in {store.repo_path}",
                hint=f"name one of {', '.join(known) or '(none: run `feast apply`)'}, or list "
                "`view:feature` references",
            ) from None
        refs = [f"{p.name}:{f.name}" for p in service.feature_view_projections for f in p.features]
        return service, refs
    for ref in features:
        view, _, name = ref.partition(":")
        if view not in views:
            raise ConfigError(
                f"data.feast.features: {ref!r}: no feature view {view!r}",
                hint=f"the repository's views: {', '.join(sorted(views)) or '(none)'}",
            )
        if name not in {f.name for f in views[view].features}:
            have = ", ".join(f.name for f in views[view].features)
            raise ConfigError(
                f"data.feast.features: {ref!r}: view {view!r} has no feature {name!r}",
                hint=f"its features: {have}",
            )
    return list(features), list(features)


def _entity_rows(entities: pd.DataFrame, timestamp: str, where: str) -> pd.DataFrame:
    """The entity rows with their timestamp as UTC datetimes (the one datetime column)."""
    if timestamp not in entities.columns:
        raise DataError(
            f"data.feast.timestamp: {where} has no column {timestamp!r}",
            hint=f"its columns: {', '.join(map(str, entities.columns))}; set "
            "data.feast.timestamp to the event timestamp column",
        )
    rows = entities.copy()
    try:
        rows[timestamp] = pd.to_datetime(rows[timestamp], utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"data.feast.timestamp: column {timestamp!r} of {where} is not a timestamp ({exc})",
            hint="write ISO 8601 timestamps (2026-01-31T12:00:00Z)",
        ) from None
    if rows[timestamp].isna().any():
        first = int(rows[timestamp].isna().to_numpy().argmax())
        raise DataError(
            f"data.feast.timestamp: row {first + 1} of {where} has no {timestamp!r}",
            hint="every entity row needs its event timestamp",
        )
    return rows


def _view_digest(view: Any) -> str:
    spec = view.to_proto().spec.SerializeToString(deterministic=True)
    return "sha256:" + hashlib.sha256(spec).hexdigest()


def training_frame(
    repo: Path,
    features: str | tuple[str, ...],
    entities: pd.DataFrame,
    *,
    timestamp: str,
    entities_name: str,
    entities_fingerprint: str,
) -> tuple[pd.DataFrame, FeastRecord]:
    """The point-in-time frame of `entities` (keys, timestamps, target) and its record."""
    store = open_store(repo)
    wanted, refs = _resolve(store, features)
    rows = _entity_rows(entities, timestamp, entities_name)
    views = {v.name: v for v in store.list_feature_views()}
    used = sorted({ref.partition(":")[0] for ref in refs})
    keys = sorted({k for name in used for k in views[name].join_keys})
    missing = [k for k in keys if k not in rows.columns]
    if missing:
        raise DataError(
            f"data.feast.entities: {entities_name} lacks the join key(s) {', '.join(missing)} "
            f"of feature view(s) {', '.join(used)}",
            hint="add the entity key columns to the entity file",
        )
    try:
        job = store.get_historical_features(entity_df=rows, features=wanted)
        frame = job.to_df()
    except FeastError as exc:
        raise DataError(
            f"data.feast: Feast could not build the training frame: {exc}",
            hint="check the feature views' sources (`feast apply`, then run again)",
        ) from None
    frame = frame.sort_values([timestamp, *keys], kind="stable").reset_index(drop=True)
    registry = store.registry.proto()
    record = FeastRecord(
        project=store.project,
        service=features if isinstance(features, str) else None,
        features=tuple(refs),
        entity_keys=tuple(keys),
        views={name: _view_digest(views[name]) for name in used},
        registry_version=str(registry.version_id or registry.registry_schema_version),
        entities_fingerprint=entities_fingerprint,
        rows=len(frame),
    )
    return frame, record


def _typed_keys(store: FeatureStore, rows: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """The logged entity keys (text) as the feature views' join-key types: the offline store
    joins on equal values, and "7" is not 7."""
    types = {
        column.name: str(column.dtype)
        for view in store.list_feature_views()
        for column in view.entity_columns
    }
    typed = rows.copy()
    numeric = [k for k in keys if any(t in types.get(k, "") for t in ("Int", "Float"))]
    for key in numeric:
        typed[key] = pd.to_numeric(typed[key], errors="coerce")
    typed = typed[typed[list(keys)].notna().all(axis=1)]
    for key in numeric:
        if "Int" in types[key]:
            typed = typed[typed[key] % 1 == 0]
            typed[key] = typed[key].astype("int64")
    return typed


def offline_values(
    repo: Path, refs: tuple[str, ...], rows: pd.DataFrame, keys: tuple[str, ...]
) -> pd.DataFrame:
    """The features `refs` as the offline store has them for each of `rows` (its entity `keys`
    as text, `event_timestamp`, `request_id`, `row`) at its time, point in time: the values a
    server should have used. One Feast query for the distinct (keys, time) pairs; rows whose
    keys do not parse as the join key's type are left out (counted by the caller as unjoined)."""
    store = open_store(repo)
    typed = _typed_keys(store, rows, keys)
    points = typed[[*keys, "event_timestamp"]].drop_duplicates().reset_index(drop=True)
    points["_mlgate_point"] = range(len(points))
    try:
        values = store.get_historical_features(entity_df=points.copy(), features=list(refs)).to_df()
    except FeastError as exc:
        raise DataError(
            f"--skew feast: Feast could not read the offline values: {exc}",
            hint="check the feature views' sources (`feast apply` in the repository)",
        ) from None
    names = [ref.partition(":")[2] for ref in refs]
    served = typed.merge(points, on=[*keys, "event_timestamp"], how="inner")
    joined = served[["request_id", "row", "_mlgate_point"]].merge(
        values[["_mlgate_point", *names]], on="_mlgate_point", how="left"
    )
    return joined.drop(columns="_mlgate_point")
