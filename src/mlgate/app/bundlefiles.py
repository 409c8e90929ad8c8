"""The files every bundle holds beside its model, written the same way whatever trained it (a
scikit-learn Pipeline in `mlgate.app.train`, a team's command in `mlgate.app.command`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlgate.core.profile import build_profile
from mlgate.core.records.lineage import BundleMeta
from mlgate.core.schema import ColumnSpec, Schema
from mlgate.model.calibration import build_reference
from mlgate.model.train import Fitted
from mlgate.store import atomic
from mlgate.store import bundle as bundle_mod
from mlgate.store.files import write_reference


def bundle_schema(schema: Schema, features: Sequence[ColumnSpec]) -> Schema:
    """The features first, in training order, then every other column of the training file, so
    a server can take a raw row and drop the rest."""
    names = {f.name for f in features}
    return Schema(columns=(*features, *(c for c in schema.columns if c.name not in names)))


def _write_json(path: Path, data: Any) -> None:
    atomic.write_text(path, json.dumps(data, indent=2) + "\n")


def write_records(dest: Path, meta: BundleMeta, schema: Schema, fitted: Fitted) -> None:
    """mlgate.json, schema.json, the reference profile of the training rows, and the reference
    predictions and calibration `mlgate monitor` and the server's gauges compare with."""
    split = fitted.split
    _write_json(dest / bundle_mod.META_FILE, meta.model_dump(mode="json"))
    _write_json(dest / bundle_mod.SCHEMA_FILE, schema.model_dump(mode="json", exclude_none=True))
    profile = build_profile(split.x_train, schema)
    _write_json(dest / bundle_mod.PROFILE_FILE, profile.model_dump(mode="json"))
    reference = build_reference(
        fitted.task,
        meta.classes,
        split.y_test,
        fitted.predictions,
        fitted.probabilities,
        meta.metrics,
    )
    write_reference(dest, reference)
