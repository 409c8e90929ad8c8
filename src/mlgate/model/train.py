"""Training on frames: one scikit-learn Pipeline (preprocessing + estimator), split and fitted
reproducibly. Writes nothing: `mlgate.app.train` turns the fitted model into a bundle.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

from mlgate.core.config import Config
from mlgate.core.records.lineage import SearchRecord
from mlgate.core.schema import ColumnSpec, Schema
from mlgate.core.vocab import Task
from mlgate.errors import ConfigError, DataError
from mlgate.model.boost import dataset_warnings_muted, library, prepare, quiet
from mlgate.model.custom import fit_failed, project_estimator
from mlgate.model.features import build_pipeline, to_frame
from mlgate.model.target import (
    handle_imbalance,
    infer_task,
    labelled_rows,
    leaks,
    positive_class,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DEFAULT_ESTIMATORS: dict[str, str] = {
    "binary": "sklearn.ensemble.RandomForestClassifier",
    "multiclass": "sklearn.ensemble.RandomForestClassifier",
    "regression": "sklearn.ensemble.RandomForestRegressor",
}


@dataclass(frozen=True)
class Split:
    """The train/holdout split every stage agrees on (same data + seed = same split)."""

    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    fingerprint: str


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
        if spec.role == "feature":
            specs.append(spec)
    if not specs:
        raise DataError(
            "no feature columns: every column is the target, an id, text or ignored",
            hint="give a column role feature in schema.yaml (or `mlgate init --role COL=feature`)",
        )
    empty = [f.name for f in specs if not frame[f.name].notna().any()]
    if empty:
        raise DataError(
            f"feature(s) {', '.join(map(repr, empty))} hold no values at all: nothing to learn",
            hint="fix the data, or give the column role ignored in schema.yaml",
        )
    return tuple(specs)


def holdout_fingerprint(x_test: pd.DataFrame, y_test: pd.Series) -> str:
    """A hash of the holdout rows, so gates can prove they evaluate on the same holdout."""

    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(x_test, index=True).to_numpy().tobytes())
    digest.update(pd.util.hash_pandas_object(y_test, index=True).to_numpy().tobytes())
    return "sha256:" + digest.hexdigest()


def split_data(
    config: Config, task: Task, frame: pd.DataFrame, features: tuple[ColumnSpec, ...]
) -> Split:
    """Deterministic split from `split.seed`, stratified for classification when asked."""

    frame, _dropped = labelled_rows(config, frame)
    y = frame[config.data.target]
    holdout = math.ceil(len(frame) * config.split.test_size)
    minimum = config.evaluation.min_holdout_rows
    if holdout < minimum:
        raise DataError(
            f"the holdout would have {holdout} rows ({config.split.test_size:g} of {len(frame)} "
            f"labelled rows), fewer than evaluation.min_holdout_rows={minimum}: metrics on so "
            "few rows are noise, and so would every gate be",
            hint="use more data or a larger split.test_size; lower evaluation.min_holdout_rows "
            "only knowing that the gates then judge noise",
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


# Estimator parameters whose mappings are keyed by class (scikit-learn's class_weight).
LABEL_KEYED = ("class_weight",)


_NO_CLASS = object()


def _names_class(written: object, label: object) -> bool:
    """A key as YAML or JSON wrote it names a class: 1, "1" and 1.0 alike; "true" a True."""
    if str(written) == str(label):
        return True
    if isinstance(label, bool) or isinstance(written, bool):
        return str(written).lower() == str(label).lower()
    try:
        return float(str(written)) == float(str(label))
    except ValueError:
        return False


def by_class(config: Config, key: str, mapping: dict[Any, Any], classes: tuple[Any, ...]) -> Any:
    """`mapping` re-keyed by the target's own labels (YAML gives 0, JSON "0": the class 0)."""
    out: dict[Any, Any] = {}
    for written, value in mapping.items():
        label = next((c for c in classes if _names_class(written, c)), _NO_CLASS)
        if label is _NO_CLASS or label in out:
            target = config.data.target
            why = (
                f"is no class of {target!r}"
                if label is _NO_CLASS
                else f"names class {label!r} of {target!r}, as an earlier key does"
            )
            raise ConfigError(
                f"model.params.{key}: key {written!r} {why} "
                f"(classes: {', '.join(map(repr, classes))})",
                hint=f"key model.params.{key} by the classes above, each once",
            )
        out[label] = value
    return out


def estimator_params(config: Config, task: Task, classes: tuple[Any, ...]) -> dict[str, Any]:
    """`model.params` as the estimator takes them: mappings keyed by class re-keyed."""
    params: dict[str, Any] = dict(config.model.params)
    if task == "regression":
        return params
    for key in LABEL_KEYED:
        value = params.get(key)
        if isinstance(value, dict):
            params[key] = by_class(config, key, value, classes)
        elif isinstance(value, list):  # one mapping per output
            params[key] = [
                by_class(config, key, v, classes) if isinstance(v, dict) else v for v in value
            ]
    return params


def make_estimator(config: Config, task: Task, classes: tuple[Any, ...] = ()) -> Any:
    """Instantiate `model.estimator` with `model.params` (keyed by the target's `classes` where
    a parameter is keyed by class), seeded from `split.seed`."""
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
    allowed = {**constructor_params(cls), **estimator.get_params(deep=False)}
    unknown = sorted(set(config.model.params) - set(allowed))
    if unknown:
        where = config.model.written_at(unknown[0]).rsplit(".", 1)[0]
        raise ConfigError(
            f"{where}: {cls_name} has no parameter(s) {', '.join(unknown)}",
            hint=f"valid parameters: {', '.join(sorted(allowed))}",
        )
    params = estimator_params(config, task, classes)
    if "random_state" in allowed and "random_state" not in params:
        params["random_state"] = config.split.seed
    try:
        estimator.set_params(**params)
    except (ValueError, TypeError) as exc:
        raise rejected(config, cls_name, exc) from None
    quiet(config, estimator)
    return estimator


def constructor_params(cls: type) -> dict[str, Any]:
    """The keyword parameters of `cls()`: CatBoost's `get_params` lists only those set."""
    sig = inspect.signature(cls)
    keyword = (p for n, p in sig.parameters.items() if n != "self")
    return {p.name: p.default for p in keyword if p.kind == p.POSITIONAL_OR_KEYWORD}


def rejected(config: Config, estimator: str, exc: Exception) -> ConfigError:
    """The estimator refused a value of `model.params`: the key(s) its message names (else
    every key given), the value as written and the estimator's own words."""
    given = config.model.params
    named = [k for k in given if re.search(rf"\b{re.escape(k)}\b", str(exc), re.IGNORECASE)]
    # A message that names no parameter: the one the failing code held in a variable of its name.
    named = named or _held_by_traceback(exc, given)
    if len(named) == 1:
        what = f"{config.model.written_at(named[0])}: {estimator} rejects {given[named[0]]!r}"
    else:
        shown = ", ".join(f"{k}={given[k]!r}" for k in named or given)
        what = f"model.params: {estimator} rejects one of {shown}"
    return ConfigError(
        f"{what}: {exc}",
        hint="fix the value in mlgate.yaml (the estimator's documentation lists what it takes)",
    )


def final_estimator(model: Any) -> Any:
    """The fitted estimator at the end of the Pipeline (inside a threshold tuner, if any)."""
    est = model.named_steps["estimator"] if hasattr(model, "named_steps") else model
    return est.estimator_ if hasattr(est, "best_threshold_") else est


def predict_all(model: Any, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions and, for a classifier, class probabilities."""
    pred = model.predict(x)
    if getattr(pred, "ndim", 1) == 2 and pred.shape[1] == 1:  # CatBoost's multiclass labels
        pred = pred.reshape(-1)
    proba = model.predict_proba(x) if hasattr(model, "predict_proba") else None
    return pred, proba


def fit(
    config: Config,
    task: Task,
    features: tuple[ColumnSpec, ...],
    split: Split,
    positive: Any = None,
) -> tuple[Any, str | None]:
    """Fit the Pipeline on the training rows (a ConfigError for bad estimator params), and a
    note on how class imbalance was handled."""

    labels = pd.concat([split.y_train, split.y_test]).unique().tolist()
    classes = () if task == "regression" else tuple(sorted(labels, key=str))
    custom = config.model.pipeline
    if custom is not None:
        params = estimator_params(config, task, classes)
        made = project_estimator(custom, params, config.split.seed)
    else:
        made = make_estimator(config, task, classes)
    estimator, note = handle_imbalance(config, task, made, split.y_train, positive)
    if custom is not None:  # the team's pipeline takes the feature columns as they are
        pipeline = Pipeline([("estimator", estimator)])
    else:
        pipeline = build_pipeline(config, features, estimator)
    fit_params: dict[str, Any] = {}
    try:
        with dataset_warnings_muted():
            if custom is None:  # LightGBM, XGBoost, CatBoost: categories and early stopping
                fit_params, boost_note = prepare(
                    config, task, pipeline, split.x_train, split.y_train
                )
                note = "; ".join(n for n in (note, boost_note) if n) or None
            pipeline.fit(split.x_train, split.y_train, **fit_params)
    except Exception as exc:
        if custom is not None:
            raise fit_failed(custom, exc) from None
        # LightGBMError, XGBoostError, CatBoostError: the library refused a value.
        if library(exc) is not None and _raised_in(exc, type(made)):
            raise rejected(config, type(made).__name__, exc) from None
        if not isinstance(exc, ValueError | TypeError):
            raise
        # InvalidParameterError is both; other errors are the estimator's only when its own
        # code raised them (a failing preprocessing step is not a config error).
        if isinstance(exc, InvalidParameterError) or _raised_in(exc, type(made)):
            raise rejected(config, type(made).__name__, exc) from None
        raise
    # Fit in parallel, predict serially: parallel tree averaging sums in thread order, so the
    # same model could give probabilities that differ in the last bit; servers scale by process.
    for step in {
        id(s): s for s in (pipeline.named_steps["estimator"], final_estimator(pipeline))
    }.values():
        if "n_jobs" in step.get_params(deep=False):
            step.set_params(n_jobs=1)
    return pipeline, note


def _held_by_traceback(exc: BaseException, keys: Iterable[str]) -> list[str]:
    """The keys that name a local variable of the innermost frame holding any of them."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        held = [k for k in keys if k in frame.f_code.co_varnames]
        if held:
            return held
    return []


def _raised_in(exc: BaseException, cls: type) -> bool:
    """Whether a method of a `cls` instance is on the traceback of `exc`."""
    tb = exc.__traceback__
    while tb is not None:
        if isinstance(tb.tb_frame.f_locals.get("self"), cls):
            return True
        tb = tb.tb_next
    return False


@dataclass(frozen=True)
class Fitted:
    """A fitted Pipeline and what fitting it learned: the split it used, its holdout outputs,
    and the facts the bundle's lineage records."""

    task: Task
    features: tuple[ColumnSpec, ...]
    split: Split
    model: Any
    predictions: Any
    probabilities: Any
    positive: Any = None
    dropped_target_rows: int = 0
    notes: tuple[str, ...] = ()
    search: SearchRecord | None = None


def fit_frame(config: Config, schema: Schema, frame: pd.DataFrame) -> Fitted:
    """Split `frame`, fit the configured Pipeline on the training rows, predict the holdout
    (`model.search.fit_searched` runs a configured search first)."""
    features = feature_specs(config, schema, frame)
    labelled, dropped = labelled_rows(config, frame)
    task = resolve_task(config, labelled[config.data.target])
    split = split_data(config, task, labelled, features)
    positive = positive_class(config, task, split.y_train)
    model, imbalance_note = fit(config, task, features, split, positive)
    notes = []
    if dropped:
        notes.append(
            f"{dropped} of {len(frame)} rows ({dropped / len(frame):.1%}) have no "
            f"{config.data.target!r}: dropped from training and holdout"
        )
    if imbalance_note:
        notes.append(imbalance_note)
    notes += leaks(schema, task, labelled)
    pred, proba = predict_all(model, split.x_test)
    return Fitted(task, features, split, model, pred, proba, positive, dropped, tuple(notes))
