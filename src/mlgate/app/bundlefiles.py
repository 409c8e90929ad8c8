"""The files every bundle holds beside its model, written the same way whatever trained it (a
scikit-learn Pipeline in `mlgate.app.train`, a team's command in `mlgate.app.command`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlgate
from mlgate.core.ci import CiEnv
from mlgate.core.config import Project
from mlgate.core.metrics import compute_metrics
from mlgate.core.profile import build_profile
from mlgate.core.records.lineage import BundleMeta, DataLineage
from mlgate.core.schema import ColumnSpec, Schema
from mlgate.model.calibration import build_reference
from mlgate.model.train import Fitted
from mlgate.store import atomic
from mlgate.store import bundle as bundle_mod
from mlgate.store.files import write_reference
from mlgate.store.lineage import git_info, jsonable, library_versions


def common_lineage(
    project: Project,
    fitted: Fitted,
    classes: tuple[Any, ...] | None,
    *,
    data_fingerprint: str,
    rows: int,
    created_at: str,
    ci: CiEnv,
) -> dict[str, Any]:
    """The fields of mlgate.json every model has, whatever trained it: what it predicts, from
    which data and commit, its holdout metrics (computed here) and its example predictions."""
    config, split = project.config, fitted.split
    return {
        "name": config.name,
        "task": fitted.task,
        "target": config.data.target,
        "features": tuple(f.name for f in fitted.features),
        "classes": classes,
        "created_at": created_at,
        "mlgate_version": mlgate.__version__,
        "git": git_info(project.root, ci),
        "data": DataLineage(
            path=config.data.path,
            fingerprint=data_fingerprint,
            rows=rows,
            train_rows=len(split.x_train),
            holdout_rows=len(split.x_test),
            holdout_fingerprint=split.fingerprint,
            dropped_target_rows=fitted.dropped_target_rows,
        ),
        "config_hash": config.digest(),
        "seed": config.split.seed,
        "metrics": compute_metrics(
            fitted.task,
            split.y_test,
            fitted.predictions,
            fitted.probabilities,
            classes,
            fitted.positive,
        ),
        "libraries": library_versions(),
        "example_predictions": tuple(
            jsonable(p) for p in fitted.model.predict(split.x_train.head(5)).tolist()
        ),
        "positive_label": jsonable(fitted.positive),
        "notes": fitted.notes,
    }


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
