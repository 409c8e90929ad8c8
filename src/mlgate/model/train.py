"""Training: one scikit-learn Pipeline (preprocessing + estimator), fitted reproducibly and
written as a model bundle.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlgate
from mlgate.config import Config, Project, Task
from mlgate.data.schema import ColumnSpec, Schema
from mlgate.errors import ConfigError, DataError
from mlgate.model import bundle as bundle_mod
from mlgate.model.features import to_frame
from mlgate.model.lineage import git_info, jsonable, library_versions
from mlgate.model.metrics import compute_metrics
from mlgate.model.trust import Trust

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULT_ESTIMATORS: dict[str, str] = {
    "binary": "sklearn.ensemble.RandomForestClassifier",
    "multiclass": "sklearn.ensemble.RandomForestClassifier",
    "regression": "sklearn.ensemble.RandomForestRegressor",
}
_MAX_CLASSES = 50


@dataclass(frozen=True)
class Split:
    """The train/holdout split every stage agrees on (same data + seed = same split)."""

    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    fingerprint: str


@dataclass(frozen=True)
class TrainResult:
    """What `train` produced: the bundle on disk and what it took to make it."""

    bundle_dir: Path
    meta: bundle_mod.BundleMeta
    split: Split
    model: Any


def infer_task(y: pd.Series) -> Task:
    """Binary, multiclass or regression, from the target's values."""
    import pandas as pd

    values = y.dropna()
    distinct = int(values.nunique())
    if distinct < 2:
        raise DataError(
            f"target column {y.name!r} has {distinct} distinct value(s); nothing to learn",
            hint="check data.target in mlgate.yaml",
        )
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "binary" if distinct == 2 else "multiclass"
    integral = bool((values == values.round()).all())
    if distinct == 2:
        return "binary"
    if integral and distinct <= min(_MAX_CLASSES, max(2, len(values) // 20)):
        return "multiclass"
    return "regression"


def resolve_task(config: Config, y: pd.Series) -> Task:
    """The configured task, or the inferred one."""
    return config.task or infer_task(y)


def feature_specs(config: Config, schema: Schema, frame: pd.DataFrame) -> tuple[ColumnSpec, ...]:
    """Feature columns in data order: every column but the target and `data.drop`."""
    target = config.data.target
    if target not in frame.columns:
        raise DataError(
            f"target column {target!r} is not in the data (columns: {', '.join(frame.columns)})",
            hint="fix data.target in mlgate.yaml",
        )
    missing_drop = [c for c in config.data.drop if c not in frame.columns]
    if missing_drop:
        raise ConfigError(f"data.drop: column(s) not in the data: {', '.join(missing_drop)}")
    specs: list[ColumnSpec] = []
    for name in frame.columns:
        if name == target or name in config.data.drop:
            continue
        try:
            spec = schema.column(str(name))
        except KeyError:
            raise DataError(
                f"column {name!r} is in the data but not in the schema",
                hint="run `mlgate schema infer` to refresh the schema, then commit it",
            ) from None
        specs.append(spec.model_copy(update={"role": "feature"}))
    if not specs:
        raise DataError("no feature columns left after removing the target and data.drop")
    return tuple(specs)


def holdout_fingerprint(x_test: pd.DataFrame, y_test: pd.Series) -> str:
    """A hash of the holdout rows, so gates can prove they evaluate on the same holdout."""
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(x_test, index=True).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(y_test, index=True).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def split_data(
    config: Config, task: Task, frame: pd.DataFrame, features: tuple[ColumnSpec, ...]
) -> Split:
    """Deterministic split from `split.seed`, stratified for classification when asked."""
    from sklearn.model_selection import train_test_split

    y = frame[config.data.target]
    if y.isna().any():
        raise DataError(
            f"target column {config.data.target!r} has {int(y.isna().sum())} missing value(s)",
            hint="drop or fill those rows before training",
        )
    x = to_frame(frame, features)
    stratify = y if task != "regression" and config.split.stratify else None
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            x,
            y,
            test_size=config.split.test_size,
            random_state=config.split.seed,
            stratify=stratify,
        )
    except ValueError as exc:
        raise DataError(
            f"cannot split {len(frame)} rows with split.test_size={config.split.test_size}: {exc}",
            hint="use more data, a different test_size, or split.stratify: false",
        ) from None
    return Split(x_train, x_test, y_train, y_test, holdout_fingerprint(x_test, y_test))


def make_estimator(config: Config, task: Task) -> Any:
    """Instantiate `model.estimator` with `model.params`, seeded from `split.seed`."""
    path = config.model.estimator or DEFAULT_ESTIMATORS[task]
    module_name, _, cls_name = path.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"model.estimator: {path!r} is not an import path",
            hint="use a dotted path such as sklearn.ensemble.RandomForestClassifier",
        )
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"model.estimator: cannot import {path!r}: {exc}") from None
    if not inspect.isclass(cls) or not hasattr(cls, "fit"):
        raise ConfigError(f"model.estimator: {path!r} is not an estimator class")
    estimator: Any = cls()
    allowed = estimator.get_params(deep=False)
    unknown = sorted(set(config.model.params) - set(allowed))
    if unknown:
        raise ConfigError(
            f"model.params: {cls_name} has no parameter(s) {', '.join(unknown)}",
            hint=f"valid parameters: {', '.join(sorted(allowed))}",
        )
    params: dict[str, Any] = dict(config.model.params)
    if "random_state" in allowed and "random_state" not in params:
        params["random_state"] = config.split.seed
    estimator.set_params(**params)
    return estimator


def build_pipeline(config: Config, features: tuple[ColumnSpec, ...], estimator: Any) -> Any:
    """Impute + scale numerics, impute + one-hot categoricals, then the estimator: one Pipeline."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = config.preprocess
    numeric = [f.name for f in features if f.kind != "categorical"]
    categorical = [f.name for f in features if f.kind == "categorical"]
    num_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy=pre.numeric_impute, keep_empty_features=True))
    ]
    if pre.scale:
        num_steps.append(("scale", StandardScaler()))
    cat_steps: list[tuple[str, Any]] = [
        (
            "impute",
            SimpleImputer(
                strategy=pre.categorical_impute, fill_value="missing", keep_empty_features=True
            ),
        ),
        (
            "onehot",
            OneHotEncoder(
                handle_unknown="infrequent_if_exist" if pre.max_categories else "ignore",
                max_categories=pre.max_categories,
                sparse_output=False,
            ),
        ),
    ]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numeric", Pipeline(num_steps), numeric))
    if categorical:
        transformers.append(("categorical", Pipeline(cat_steps), categorical))
    return Pipeline([("preprocess", ColumnTransformer(transformers)), ("estimator", estimator)])


def predict_all(model: Any, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions and, for a classifier, class probabilities."""
    pred = model.predict(x)
    proba = model.predict_proba(x) if hasattr(model, "predict_proba") else None
    return pred, proba


def _classes(model: Any) -> tuple[Any, ...] | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    return tuple(c.item() if hasattr(c, "item") else c for c in classes)


def fit(config: Config, task: Task, features: tuple[ColumnSpec, ...], split: Split) -> Any:
    """Fit the Pipeline on the training rows; bad estimator params are a ConfigError."""
    from sklearn.utils._param_validation import InvalidParameterError

    estimator = make_estimator(config, task)
    pipeline = build_pipeline(config, features, estimator)
    try:
        pipeline.fit(split.x_train, split.y_train)
    except InvalidParameterError as exc:
        raise ConfigError(f"model.params: {exc}") from None
    # Fit in parallel, predict serially: parallel tree averaging sums in thread order, so the
    # same model could give probabilities that differ in the last bit; servers scale by process.
    if "n_jobs" in pipeline.named_steps["estimator"].get_params(deep=False):
        pipeline.named_steps["estimator"].set_params(n_jobs=1)
    return pipeline


def save_sklearn(
    model: Any,
    dest: Path,
    trust: Trust,
    *,
    signature: Any,
    input_example: Any,
    pip_requirements: list[str],
) -> None:
    """Save the Pipeline as an MLflow Model in skops format (never pickle).

    MLflow records the types beyond skops' defaults in MLmodel (`skops_trusted_types`), so
    `mlflow models serve` can load the bundle; mlgate itself never reads that list (the file's
    author controls it) and loads with its own (`mlgate.model.trust`). A model holding a type
    mlgate does not trust is a ConfigError naming it: nobody could load the bundle.
    """
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    from mlgate.model.trust import refused_types, save_allow_list

    try:
        mlflow.sklearn.save_model(
            model,
            path=str(dest),
            serialization_format="skops",
            skops_trusted_types=save_allow_list(model, trust),
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
        )
    except MlflowException as exc:
        # MLflow wraps every failure of the skops writer, a full disk included.
        if isinstance(exc.__cause__, OSError):
            raise exc.__cause__ from None
        import skops.io

        found = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        refused = refused_types(found, trust) or ["(a type skops cannot store)"]
        raise ConfigError(
            f"model.estimator: the fitted model contains type(s) that no mlgate process would "
            f"load: {', '.join(refused)}",
            hint="use scikit-learn estimators, or list your own classes in trust.trusted_types",
        ) from None


def write_bundle(
    project: Project,
    *,
    task: Task,
    schema: Schema,
    features: tuple[ColumnSpec, ...],
    split: Split,
    model: Any,
    data_fingerprint: str,
    rows: int,
) -> tuple[Path, bundle_mod.BundleMeta]:
    """Write the MLflow Model + lineage + schema + profile, sealed, then rename into place."""
    from mlflow.models import infer_signature

    from mlgate.data.profile import build_profile
    from mlgate.model.trust import project_trust

    config = project.config
    pred, proba = predict_all(model, split.x_test)
    classes = _classes(model)
    metrics = compute_metrics(task, split.y_test, pred, proba, classes)
    example = split.x_train.head(5)
    example_pred = model.predict(example)
    signature = infer_signature(example, example_pred)
    versions = library_versions()
    estimator = model.named_steps["estimator"]
    meta = bundle_mod.BundleMeta(
        name=config.name,
        task=task,
        target=config.data.target,
        features=tuple(f.name for f in features),
        classes=classes,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        mlgate_version=mlgate.__version__,
        git=git_info(project.root),
        data=bundle_mod.DataLineage(
            path=config.data.path,
            fingerprint=data_fingerprint,
            rows=rows,
            train_rows=len(split.x_train),
            holdout_rows=len(split.x_test),
            holdout_fingerprint=split.fingerprint,
        ),
        config_hash=config.digest(),
        seed=config.split.seed,
        estimator=f"{type(estimator).__module__}.{type(estimator).__qualname__}",
        params={k: jsonable(v) for k, v in estimator.get_params(deep=False).items()},
        metrics=metrics,
        libraries=versions,
        example_predictions=tuple(jsonable(p) for p in example_pred.tolist()),
    )
    bundle_schema = Schema(columns=(*features, *(c for c in schema.columns if c.role == "target")))
    profile = build_profile(split.x_train, bundle_schema)
    target = project.bundle_dir
    trust = project_trust(project)
    with bundle_mod.staging(target, trust) as tmp:
        save_sklearn(
            model,
            tmp,
            trust,
            signature=signature,
            input_example=example,
            pip_requirements=[
                f"scikit-learn=={versions['scikit-learn']}",
                f"numpy=={versions['numpy']}",
                f"pandas=={versions['pandas']}",
                f"skops=={versions['skops']}",
            ],
        )
        from mlgate.model.onnx import export_onnx, onnx_wanted

        # Kept only when it predicts exactly as scikit-learn does on the holdout.
        if onnx_wanted(config.model.onnx, model) and export_onnx(
            model, split.x_test, features, task, tmp
        ):
            meta = meta.model_copy(update={"runtimes": ("sklearn", "onnx")})
        bundle_mod.write_json(tmp / bundle_mod.META_FILE, meta.model_dump(mode="json"))
        bundle_mod.write_json(
            tmp / bundle_mod.SCHEMA_FILE, bundle_schema.model_dump(mode="json", exclude_none=True)
        )
        bundle_mod.write_json(tmp / bundle_mod.PROFILE_FILE, profile.model_dump(mode="json"))
        from mlgate.model.calibration import write_reference

        # Reference predictions and calibration for `mlgate monitor` and the server's gauges.
        write_reference(tmp, task, classes, split.y_test, pred, proba, metrics)
    return target, meta


def train(project: Project, frame: pd.DataFrame | None = None) -> TrainResult:
    """Fit the configured Pipeline on the project's data and write the bundle."""
    from mlgate.data.io import fingerprint, load_table
    from mlgate.data.schema import read_schema

    config = project.config
    schema = read_schema(project.schema_path)
    if frame is None:
        frame = load_table(project.data_path)
    features = feature_specs(config, schema, frame)
    task = resolve_task(config, frame[config.data.target])
    split = split_data(config, task, frame, features)
    model = fit(config, task, features, split)
    bundle_dir, meta = write_bundle(
        project,
        task=task,
        schema=schema,
        features=features,
        split=split,
        model=model,
        data_fingerprint=fingerprint(project.data_path),
        rows=len(frame),
    )
    return TrainResult(bundle_dir=bundle_dir, meta=meta, split=split, model=model)
