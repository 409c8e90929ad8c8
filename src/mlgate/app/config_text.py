"""The mlgate.yaml that `mlgate init` writes: the config text, with the default gates per task."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mlgate.core.vocab import Task

if TYPE_CHECKING:
    pass


def default_gates(task: Task) -> str:
    """The `gates:` block for a task, commented."""
    if task == "binary":
        return """\
gates:
  # Beat the best trivial model (a scikit-learn Dummy fitted on the same training rows, scored
  # on the same holdout: ROC-AUC 0.5, the F1 of always answering the positive class) by a margin.
  - metric: roc_auc
    min_gain_over_baseline: 0.1
  - metric: f1
    min_gain_over_baseline: 0.05
  # No regression against the champion on the same holdout: fails only when, by a paired
  # bootstrap, the challenger is more than 0.01 worse with 95% confidence (noise passes).
  - metric: roc_auc
    min_absolute_change: -0.01
"""
    if task == "multiclass":
        return """\
gates:
  # Beat the best trivial model (always the majority class, scored on the same holdout).
  - metric: accuracy
    min_gain_over_baseline: 0.05
  - metric: f1
    min_gain_over_baseline: 0.05
  # No regression against the champion: fails only when, by a paired bootstrap on the same
  # holdout, the challenger is more than 0.02 worse with 95% confidence.
  - metric: accuracy
    min_absolute_change: -0.02
"""
    return """\
gates:
  # Beat the best trivial model (predicting the training mean or median) on the same holdout:
  # explain at least a tenth of the variance more than it does.
  - metric: r2
    min_gain_over_baseline: 0.1
  # No regression against the champion: fails only when, by a paired bootstrap on the same
  # holdout, RMSE is more than 2% worse with 95% confidence.
  - metric: rmse
    min_relative_change: -0.02
"""


def config_text(
    name: str,
    data_path: str,
    target: str,
    drop: tuple[str, ...],
    task: Task,
    gates: str,
    positive: object = None,
) -> str:
    """The whole mlgate.yaml of a new project."""

    drop_line = f"  drop: {json.dumps(list(drop))}\n" if drop else ""
    if task == "binary":
        drop_line += (
            f"  positive_label: {json.dumps(positive)}"
            "  # precision/recall/F1/ROC-AUC are about this class\n"
        )
    estimator = (
        "sklearn.ensemble.RandomForestRegressor"
        if task == "regression"
        else "sklearn.ensemble.RandomForestClassifier"
    )
    return f"""\
# mlgate pipeline config. `mlgate config --schema` lists every key.
name: {name}
task: {task}

data:
  path: {json.dumps(data_path)}
  target: {json.dumps(target)}
{drop_line}  schema_path: schema.yaml          # column roles and checks; `mlgate schema infer`
  profile_path: reference/profile.json  # reference distribution for drift checks
  max_missing_target: 0.5           # rows without a target are dropped; more than this fails

model:
  estimator: {estimator}
  imbalance: auto     # binary with a rare positive class: tune the decision threshold for F1
  params:
    n_estimators: 100
    max_depth: 12
    min_samples_leaf: 2
    n_jobs: -1

split:
  test_size: 0.2
  seed: 42
  stratify: {"false" if task == "regression" else "true"}

{gates}
drift:
  method: auto        # KS / chi-square up to 1000 rows, Wasserstein / Jensen-Shannon above
  share: 0.5          # the data gate fails when half the features drift
"""
