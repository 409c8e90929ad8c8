"""Gradient boosting libraries as `model.estimator`: LightGBM, XGBoost and CatBoost through
their scikit-learn APIs (`lightgbm.LGBMClassifier`, `xgboost.XGBRegressor`,
`catboost.CatBoostClassifier`, ...), the `boost` extra.

- **Categories** become one ordinal code each (`category_codes`), as for histogram gradient
  boosting; numbers pass as they are (missing included: the trees learn where missing values
  go). LightGBM is told which columns hold codes (`categorical_feature`), XGBoost too
  (`enable_categorical` and `feature_types`): both split on sets of categories. CatBoost needs
  categories as integers or text, which a numeric matrix cannot carry, so it splits on the
  codes as numbers (its ONNX form takes numbers only as well). A `model.params` that sets the
  library's own categorical parameters is left as written.
- **Early stopping** (`model.early_stopping: auto`): a first fit on 90% of the training rows
  watches the loss on the other 10% (seeded by `split.seed`, stratified for classification;
  the holdout is never seen), stops after `patience` rounds without improvement, and the model
  is then fitted on all training rows with the rounds that scored best. The lineage notes say
  how many rounds were kept.
- **Quiet and self-contained**: no log lines on stdout, and CatBoost writes no `catboost_info`
  directory, unless `model.params` says otherwise.

The libraries are imported only by the code that fits (never by the CLI or the server on start).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OrdinalEncoder

from mlgate.core.config import Config
from mlgate.core.vocab import Task
from mlgate.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

# Deferred imports: lightgbm, xgboost and catboost (the boost extra) load where a model of theirs
# is fitted; this module itself only reads class names.

LIBRARIES = ("lightgbm", "xgboost", "catboost")
# The share of training rows that early stopping watches, and the fewest rows worth watching.
VALIDATION_SHARE = 0.1
MIN_VALIDATION_ROWS = 20
# Rounds without improvement before stopping: a tenth of the rounds, at least 10.
MIN_PATIENCE = 10
# Each library's number of rounds when `model.params` does not set one.
DEFAULT_ROUNDS = {"lightgbm": 100, "xgboost": 100, "catboost": 1000}
# What keeps each library quiet and writing nothing, unless `model.params` says otherwise.
QUIET: dict[str, dict[str, object]] = {
    "lightgbm": {"verbose": -1},
    "xgboost": {"verbosity": 0},
    "catboost": {"verbose": False, "allow_writing_files": False},
}


def library(estimator: Any) -> str | None:
    """The boosting library `estimator`'s class comes from (or an error's: CatBoost's live in
    its `_catboost` extension), or None."""
    root = type(estimator).__module__.partition(".")[0].lstrip("_")
    return root if root in LIBRARIES else None


def boosted(estimator: Any) -> Any:
    """The boosting-library estimator `estimator` is or wraps (a threshold tuner's), or None."""
    for candidate in (estimator, getattr(estimator, "estimator", None)):
        if candidate is not None and library(candidate) is not None:
            return candidate
    return None


def quiet(config: Config, estimator: Any) -> None:
    """Silence the library's own logging (and CatBoost's files) unless `model.params` sets it."""
    lib = library(estimator)
    if lib is None:
        return
    given = set(config.model.params)
    defaults = {k: v for k, v in QUIET[lib].items() if k not in given}
    if lib == "catboost" and given & {"verbose", "silent", "logging_level", "verbose_eval"}:
        defaults.pop("verbose", None)
    if defaults:
        estimator.set_params(**defaults)


@contextmanager
def dataset_warnings_muted() -> Iterator[None]:
    """Fitting with `categorical_feature` as an estimator parameter (under a threshold tuner),
    LightGBM's Python Dataset wrapper warns that it "will be ignored"; its C++ core, which
    reads every parameter, splits on those columns as categories (tests/integration/
    test_boosting.py checks the splits). That one warning is muted, no other."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="categorical_feature keyword has been found", category=UserWarning
        )
        yield


def category_codes(config: Config) -> OrdinalEncoder:
    """Categories as ordinal codes: missing and unseen values stay missing (NaN); categories
    seen in fewer than `preprocess.min_frequency` rows, or the rarest beyond
    `preprocess.max_categories`, share one code."""
    pre = config.preprocess
    return OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=np.nan,
        encoded_missing_value=np.nan,
        min_frequency=pre.min_frequency if pre.min_frequency > 1 else None,
        max_categories=pre.max_categories,
    )


def _code_columns(pre: Any) -> list[int]:
    """The output columns of a fitted ColumnTransformer that hold category codes."""
    block = getattr(pre, "output_indices_", {}).get("categorical")
    return list(range(block.start, block.stop)) if block is not None else []


def _rounds_key(config: Config, lib: str) -> str:
    """The parameter that counts rounds: CatBoost also takes `iterations`, which wins if set."""
    catboost_own = lib == "catboost" and "iterations" in config.model.params
    return "iterations" if catboost_own else "n_estimators"


def _rounds(estimator: Any, key: str, lib: str) -> int:
    value = estimator.get_params(deep=False).get(key)
    return int(value) if value is not None else DEFAULT_ROUNDS[lib]


def prepare(
    config: Config, task: Task, pipeline: Any, x: pd.DataFrame, y: pd.Series
) -> tuple[dict[str, Any], str | None]:
    """Set up a Pipeline whose estimator is a boosting library's before it is fitted on `x`:
    its categorical columns, and its rounds by early stopping. Returns the Pipeline's fit
    parameters and a note for the lineage (None when there is nothing to say)."""
    step = pipeline.steps[-1][1]
    est = boosted(step)
    if est is None:
        return {}, None
    lib = str(library(est))
    if lib == "xgboost" and task != "regression":
        _xgboost_classes(config, y)
    pre = clone(pipeline.steps[0][1])
    matrix = np.asarray(pre.fit_transform(x, y), dtype=np.float64)
    codes = _code_columns(pre)
    given = set(config.model.params)
    fit_params: dict[str, Any] = {}
    if codes and lib == "lightgbm" and "categorical_feature" not in given:
        if step is est:
            fit_params["categorical_feature"] = codes
        else:  # a threshold tuner routes no fit parameters: a parameter of the estimator then
            est.set_params(categorical_feature=codes)  # (LightGBM's Dataset takes it as such)
    if codes and lib == "xgboost" and not given & {"enable_categorical", "feature_types"}:
        kinds = ["c" if i in codes else "q" for i in range(matrix.shape[1])]
        est.set_params(enable_categorical=True, feature_types=kinds)
    note = None
    if config.model.early_stopping == "auto":
        note = _early_stop(config, task, est, lib, matrix, y, fit_params)
    return {f"{pipeline.steps[-1][0]}__{k}": v for k, v in fit_params.items()}, note


def _xgboost_classes(config: Config, y: pd.Series) -> None:
    """XGBoost's classifier takes the classes 0..n-1 only: other labels are a ConfigError."""
    labels = y.unique().tolist()
    codes = all(isinstance(v, int) and not isinstance(v, bool) for v in labels)
    labels = sorted(labels) if codes else sorted(labels, key=str)
    if not codes or labels != list(range(len(labels))):
        shown = ", ".join(map(repr, labels[:5])) + (", ..." if len(labels) > 5 else "")
        raise ConfigError(
            f"model.estimator: XGBoost's classifier takes the classes 0..{len(labels) - 1} only; "
            f"{config.data.target!r} holds {shown}",
            hint=f"map {config.data.target!r} to 0..{len(labels) - 1} in the data, or use "
            "lightgbm.LGBMClassifier or catboost.CatBoostClassifier, which take any labels",
        )


def _early_stop(
    config: Config,
    task: Task,
    est: Any,
    lib: str,
    matrix: np.ndarray,
    y: pd.Series,
    fit_params: dict[str, Any],
) -> str | None:
    """Choose the rounds on a validation split of the training rows and set them on `est`."""
    rows = len(matrix)
    watched = int(np.ceil(rows * VALIDATION_SHARE))
    if watched < MIN_VALIDATION_ROWS:
        return (
            f"early stopping skipped: {rows} training rows leave {watched} to watch "
            f"(fewer than {MIN_VALIDATION_ROWS}); {lib} fitted all its rounds"
        )
    # The probe only counts rounds: class codes 0..n-1 suit every library's eval set.
    target = (
        np.asarray(y) if task == "regression" else np.unique(np.asarray(y), return_inverse=True)[1]
    )
    index = np.arange(rows)
    stratify = target if task != "regression" else None
    try:
        fit_idx, val_idx = train_test_split(
            index, test_size=watched, random_state=config.split.seed, stratify=stratify
        )
    except ValueError:  # a class too rare to stratify: an unstratified split still watches
        fit_idx, val_idx = train_test_split(
            index, test_size=watched, random_state=config.split.seed
        )
    key = _rounds_key(config, lib)
    most = _rounds(est, key, lib)
    patience = max(MIN_PATIENCE, most // 10)
    probe = clone(est)
    x_fit, y_fit = matrix[fit_idx], target[fit_idx]
    x_val, y_val = matrix[val_idx], target[val_idx]
    if lib == "lightgbm":
        import lightgbm

        stop = lightgbm.early_stopping(patience, verbose=False)
        # LightGBM 4.7 renamed eval_set (deprecated since); 4.5 and 4.6 know only the old name.
        named = "eval_X" in inspect.signature(probe.fit).parameters
        watch = (
            {"eval_X": (x_val,), "eval_y": (y_val,)} if named else {"eval_set": [(x_val, y_val)]}
        )
        probe.fit(x_fit, y_fit, callbacks=[stop], **watch, **fit_params)
        best = int(probe.best_iteration_ or most)
    elif lib == "xgboost":
        probe.set_params(early_stopping_rounds=patience)
        probe.fit(x_fit, y_fit, eval_set=[(x_val, y_val)], verbose=False)
        best = int(probe.best_iteration) + 1
    else:
        probe.set_params(early_stopping_rounds=patience)
        probe.fit(x_fit, y_fit, eval_set=(x_val, y_val))
        best = int(probe.get_best_iteration()) + 1
    best = max(1, min(best, most))
    est.set_params(**{key: best})
    return (
        f"early stopping: {best} of {most} {lib} rounds kept (the best on {watched} training "
        f"rows held out of the first fit, split.seed={config.split.seed}; never the holdout), "
        f"then fitted on all {rows} training rows"
    )
