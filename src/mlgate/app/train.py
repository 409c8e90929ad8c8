"""`mlgate train`: fit the project's Pipeline on its data and write the sealed model bundle.

The fit is `model.train.fit_frame` (frames in, a fitted model out), after `model.search` when
one is configured (`model.search.fit_searched`), here or on a Ray cluster (`app.compute`); this
use case reads the
files, records the lineage (git, libraries, the clock) and writes the bundle through the store:
the MLflow Model, the optional ONNX export, mlgate.json, the schema, the reference profile and
the monitoring reference, in a staging directory renamed into place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.app.bundlefiles import bundle_schema, common_lineage, write_records
from mlgate.app.command import train_by_command
from mlgate.app.compute import fit_where
from mlgate.core.ci import NO_CI, CiEnv
from mlgate.core.config import Project
from mlgate.core.records.lineage import CodeRecord, FeastRecord
from mlgate.core.schema import Schema
from mlgate.model.custom import package_of
from mlgate.model.onnx import export_onnx, onnx_blocker, onnx_wanted
from mlgate.model.train import Fitted, Split, final_estimator
from mlgate.store import bundle as bundle_mod
from mlgate.store.code import (
    BUNDLE_CODE_DIR,
    copy_code,
    find_code,
    import_root_of,
    import_verified,
    record_code,
)
from mlgate.store.files import read_schema
from mlgate.store.lineage import jsonable
from mlgate.store.tables import fingerprint, load_table
from mlgate.store.trust import project_trust

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrainResult:
    """What `train` produced: the bundle on disk and what it took to make it."""

    bundle_dir: Path
    meta: bundle_mod.BundleMeta
    split: Split
    model: Any
    holdout_predictions: Any = None
    holdout_probabilities: Any = None


def train(
    project: Project,
    frame: pd.DataFrame | None = None,
    *,
    ci: CiEnv = NO_CI,
    progress: Callable[[str], None] | None = None,
    feast: FeastRecord | None = None,
) -> TrainResult:
    """Fit the configured Pipeline on the project's data and write the bundle (`ci`: what the
    CI runner says of the commit, for the lineage; `progress`: a line per search trial;
    `feast`: how the frame was built from the feature store, for the lineage)."""
    schema = read_schema(project.schema_path)
    if frame is None:
        frame = load_table(project.data_path)
    if project.config.model.command is not None:  # the team's own training, through ONNX
        done = train_by_command(project, schema, frame, ci=ci)
        trained = done.fitted
        return TrainResult(
            done.bundle_dir,
            done.meta,
            trained.split,
            trained.model,
            trained.predictions,
            trained.probabilities,
        )
    code = project_code(project)
    fitted, compute = fit_where(project.config, schema, frame, progress)
    meta = describe(
        project,
        fitted,
        data_fingerprint=fingerprint(project.data_path),
        rows=len(frame),
        created_at=datetime.now(UTC),
        ci=ci,
    ).model_copy(update={"code": code, "compute": compute, "feast": feast})
    bundle_dir, meta = write_bundle(project, schema, fitted, meta)
    return TrainResult(
        bundle_dir=bundle_dir,
        meta=meta,
        split=fitted.split,
        model=fitted.model,
        holdout_predictions=fitted.predictions,
        holdout_probabilities=fitted.probabilities,
    )


def project_code(project: Project) -> CodeRecord | None:
    """The team's code `model.pipeline` names (or a `model.estimator` class of the project's
    own): found in the project, pinned by hash and imported from there, before training."""
    model = project.config.model
    if model.pipeline is not None:
        package = package_of(model.pipeline)
    elif model.estimator is not None:
        package = model.estimator.split(".")[0]
        found = find_code(package, project.root)
        if found is None or not found.path.is_relative_to(project.root):
            return None  # a library's estimator
    else:
        return None
    record, source = record_code(package, project.root)
    import_verified(source)
    return record


def _classes(model: Any) -> tuple[Any, ...] | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    return tuple(c.item() if hasattr(c, "item") else c for c in classes)


def describe(
    project: Project,
    fitted: Fitted,
    *,
    data_fingerprint: str,
    rows: int,
    created_at: datetime,
    ci: CiEnv = NO_CI,
) -> bundle_mod.BundleMeta:
    """The lineage of a fitted model: mlgate.json before the ONNX export is known."""
    config, model = project.config, fitted.model
    estimator = final_estimator(model)
    if config.model.pipeline is not None and hasattr(estimator, "steps"):
        estimator = estimator.steps[-1][1]  # the team's Pipeline: its estimator
    threshold = getattr(model.named_steps["estimator"], "best_threshold_", None)
    common = common_lineage(
        project,
        fitted,
        _classes(model),
        data_fingerprint=data_fingerprint,
        rows=rows,
        created_at=created_at.isoformat(timespec="seconds"),
        ci=ci,
    )
    return bundle_mod.BundleMeta(
        **common,
        estimator=f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        # The estimator's every parameter; those mlgate.yaml sets as written there.
        params={
            **{k: jsonable(v) for k, v in estimator.get_params(deep=False).items()},
            **config.model.model_dump(mode="json")["params"],
            # A search's winner: its values, as written in model.search.params.
            **(fitted.search.trials[fitted.search.winner].params if fitted.search else {}),
        },
        decision_threshold=None if threshold is None else float(threshold),
        search=fitted.search,
    )


def write_bundle(
    project: Project, schema: Schema, fitted: Fitted, meta: bundle_mod.BundleMeta
) -> tuple[Path, bundle_mod.BundleMeta]:
    """Write the MLflow Model + lineage + schema + profile, sealed, then rename into place."""
    # MLflow is the heaviest import of the pipeline: only a run that trains pays for it.
    from mlgate.adapters.mlflow.flavor import save_sklearn

    model, split = fitted.model, fitted.split
    versions = meta.libraries
    trust = project_trust(project)
    if meta.code is not None:  # verified above: the model may hold the package's classes
        trust = replace(trust, packages=(meta.code.package,))
    example = split.x_train.head(5)
    with bundle_mod.staging(project.bundle_dir, trust) as tmp:
        save_sklearn(
            model,
            tmp,
            trust,
            input_example=example,
            example_predictions=model.predict(example),
            pip_requirements=[
                f"{dist}=={versions[dist]}" for dist in ("scikit-learn", "numpy", "pandas", "skops")
            ],
        )
        if meta.code is not None:  # the code it was trained with, to judge it as champion
            root = import_root_of(meta.code, project.root)
            copy_code(meta.code, root, tmp / BUNDLE_CODE_DIR)
        meta = _with_onnx(project, fitted, meta, tmp)
        write_records(tmp, meta, bundle_schema(schema, fitted.features), fitted)
    return project.bundle_dir, meta


def _with_onnx(
    project: Project, fitted: Fitted, meta: bundle_mod.BundleMeta, dest: Path
) -> bundle_mod.BundleMeta:
    """Export model.onnx into `dest` when wanted and exact; say why when it cannot be."""
    setting = project.config.model.onnx
    blocker = onnx_blocker(fitted.model, fitted.features) if setting != "never" else None
    if blocker is not None:
        # Said, not hidden: the bundle is complete, it serves with scikit-learn.
        note = f"no model.onnx: {blocker}; the bundle serves with scikit-learn"
        return meta.model_copy(update={"notes": (*meta.notes, note)})
    if not onnx_wanted(setting, fitted.model):
        return meta
    # Kept only when it predicts exactly as scikit-learn does on the holdout.
    exported = export_onnx(fitted.model, fitted.split.x_test, fitted.features, fitted.task)
    if exported is None:
        return meta
    (dest / bundle_mod.ONNX_FILE).write_bytes(exported)
    return meta.model_copy(update={"runtimes": ("sklearn", "onnx")})
