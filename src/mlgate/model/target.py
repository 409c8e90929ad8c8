"""The target column: which task it makes, which rows can be learned from, which class is
"positive", what a rare positive class needs, and whether any column gives the answer away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import StratifiedKFold, TunedThresholdClassifierCV

from mlgate.core.config import Config
from mlgate.core.leakage import find_leaks
from mlgate.core.schema import Schema
from mlgate.core.vocab import Task
from mlgate.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

_MAX_CLASSES = 50


def infer_task(y: pd.Series) -> Task:
    """Binary, multiclass or regression, from the target's values."""

    values = y.dropna()
    distinct = int(values.nunique())
    if distinct < 2:
        first: Any = values.iloc[0] if distinct else None
        if hasattr(first, "item"):
            first = first.item()
        only = f" (every row is {first!r})" if distinct else " (every value is missing)"
        raise DataError(
            f"target column {y.name!r} has {distinct} class(es){only}; there is nothing to learn",
            hint="check data.target in mlgate.yaml, or collect rows of the other classes",
        )
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "binary" if distinct == 2 else "multiclass"
    integral = bool((values == values.round()).all())
    if distinct == 2:
        return "binary"
    if integral and distinct <= min(_MAX_CLASSES, max(2, len(values) // 20)):
        return "multiclass"
    return "regression"


def labelled_rows(config: Config, frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows that have a target value, and how many were dropped for lacking one."""
    y = frame[config.data.target]
    missing = y.isna()
    count = int(missing.sum())
    if count == 0:
        return frame, 0
    kept = frame.loc[~missing]
    if kept.empty:
        raise DataError(
            f"target column {config.data.target!r} is missing in every row",
            hint="check data.target in mlgate.yaml",
        )
    return kept, count


def _same_label(label: Any, wanted: str | int | bool) -> bool:
    """A configured label names a class by its text or its number (1, "1" and 1.0 alike)."""
    if str(label) == str(wanted):
        return True
    try:
        return float(label) == float(wanted)
    except (TypeError, ValueError):
        return False


def positive_class(config: Config, task: Task, y: pd.Series) -> Any:
    """Binary tasks: the class the precision/recall/F1/ROC-AUC are about (None otherwise).

    `data.positive_label` when set (matched by its text, so 1 and "1" are the same class), else
    the minority class of `y`: the rare outcome is the one a team wants found.
    """
    if task != "binary":
        return None
    counts = y.value_counts()
    classes = sorted(counts.index.tolist(), key=str)
    wanted = config.data.positive_label
    if wanted is not None:
        for c in classes:
            if _same_label(c, wanted):
                return c.item() if hasattr(c, "item") else c
        raise ConfigError(
            f"data.positive_label: {wanted!r} is not a class of {config.data.target!r} "
            f"(classes: {', '.join(map(repr, classes))})",
            hint="set it to one of the classes, or remove it for the minority class",
        )
    smallest = min(classes, key=lambda c: (int(counts[c]), str(c)))
    return smallest.item() if hasattr(smallest, "item") else smallest


IMBALANCE_SHARE = 0.3


def handle_imbalance(
    config: Config, task: Task, estimator: Any, y: pd.Series, positive: Any
) -> tuple[Any, str | None]:
    """The estimator adapted to a rare positive class (binary tasks), and a note saying how.

    `threshold` (the auto choice, measured in benchmarks/RESULTS_imbalance.md) keeps the
    estimator and tunes its decision threshold for F1 of the positive class on training folds;
    `class_weight` reweights the classes inversely to their frequency.
    """
    mode = config.model.imbalance
    if task != "binary" or mode == "none" or positive is None:
        return estimator, None
    share = float((y == positive).mean())
    if mode == "auto":
        if share >= IMBALANCE_SHARE:
            return estimator, None
        mode = "threshold"
    if mode == "class_weight":
        params = estimator.get_params(deep=False)
        if "class_weight" not in params:
            raise ConfigError(
                f"model.imbalance: class_weight, but {type(estimator).__name__} takes no "
                "class_weight",
                hint="use model.imbalance: threshold",
            )
        if "class_weight" not in config.model.params:
            estimator.set_params(class_weight="balanced")
        return estimator, f"positive class {positive!r} is {share:.1%} of rows: classes reweighted"

    tuned = TunedThresholdClassifierCV(
        estimator,
        scoring=make_scorer(f1_score, pos_label=positive),
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=config.split.seed),
        random_state=config.split.seed,
    )
    return tuned, (
        f"positive class {positive!r} is {share:.1%} of rows: decision threshold tuned for F1 "
        "on training folds"
    )


def leaks(schema: Schema, task: Task, frame: pd.DataFrame) -> list[str]:
    """Leakage warnings over the columns of the schema (features and the rest)."""

    target = schema.target
    if target is None or target.name not in frame.columns:
        return []
    columns = [c for c in schema.columns if c.role != "target"]
    return find_leaks(frame, target.name, columns, classify=task != "regression")
