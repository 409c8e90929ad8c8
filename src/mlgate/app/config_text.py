"""The mlgate.yaml that `mlgate init` writes: the config text, with the default gates per task."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from mlgate.core.config import EvaluationConfig, SplitConfig
from mlgate.core.vocab import Task


def _per_task(classifier: str, regressor: str) -> dict[Task, str]:
    """The estimator for each task: `classifier` for binary and multiclass, else `regressor`."""
    return {"binary": classifier, "multiclass": classifier, "regression": regressor}


# The estimator init writes for a team's table: histogram gradient boosting with native
# categories, slowed (learning rate 0.05) and stopped early on a tenth of the training rows, which
# kept it level with the forest on noisy tables with a rare class (Caravan, lending_club) where
# scikit-learn's defaults lost 7-8% of ROC-AUC (benchmarks/RESULTS_models.md). Under
# BOOSTING_MIN_ROWS labelled rows the forest stays: boosting lost 12% RMSE on Hitters (263).
# The demo keeps the forest too: its synthetic churn is what the ONNX export, the forest serving
# path and the fault suites are built on (docs/pipeline.md).
BOOSTING_MIN_ROWS = 500
BOOSTING = _per_task(
    "sklearn.ensemble.HistGradientBoostingClassifier",
    "sklearn.ensemble.HistGradientBoostingRegressor",
)
BOOSTING_PARAMS = """\
  params:
    learning_rate: 0.05
    max_iter: 300
    early_stopping: true  # on a tenth of the training rows: stop when 10 rounds do not help
    max_leaf_nodes: 31
    min_samples_leaf: 20
    l2_regularization: 1.0
"""
FOREST = _per_task(
    "sklearn.ensemble.RandomForestClassifier", "sklearn.ensemble.RandomForestRegressor"
)
FOREST_PARAMS = """\
  params:
    n_estimators: 100
    max_depth: 12
    min_samples_leaf: 2
    n_jobs: -1
"""

# The holdout never takes more than half the labelled rows: past that, training on fewer rows
# than are judged makes a worse model than the data allows.
MAX_TEST_SIZE = 0.5


@dataclass(frozen=True)
class SplitChoice:
    """The `split.test_size` and `evaluation.min_holdout_rows` init writes for a table, and why
    when either differs from the default."""

    test_size: float
    min_holdout_rows: int
    holdout_rows: int
    note: str | None = None
    warning: str | None = None
    labelled: int = 0


def choose_split(labelled: int) -> SplitChoice:
    """The smallest holdout fraction (in hundredths, from the default up to a half) whose
    holdout of `labelled` rows reaches `evaluation.min_holdout_rows`; on a table too small for
    that, a half, and the minimum lowered to what it holds, with a warning."""
    default = SplitConfig().test_size
    minimum = EvaluationConfig().min_holdout_rows
    if math.ceil(labelled * default) >= minimum:
        return SplitChoice(default, minimum, math.ceil(labelled * default), labelled=labelled)
    for hundredths in range(round(default * 100) + 1, round(MAX_TEST_SIZE * 100) + 1):
        size = hundredths / 100
        holdout = math.ceil(labelled * size)
        if holdout >= minimum:
            return SplitChoice(
                size,
                minimum,
                holdout,
                note=f"split.test_size: {size:g} (not {default:g}): a holdout of {holdout} of "
                f"the {labelled} rows with a target, at least evaluation.min_holdout_rows="
                f"{minimum}",
                labelled=labelled,
            )
    holdout = max(1, math.ceil(labelled * MAX_TEST_SIZE))
    return SplitChoice(
        MAX_TEST_SIZE,
        holdout,
        holdout,
        warning=f"only {labelled} rows have a target: half of them make a holdout of {holdout}, "
        f"fewer than the {minimum} below which metrics are mostly noise. "
        f"evaluation.min_holdout_rows is lowered to {holdout} so that the gates run, but they "
        "judge noise: collect more labelled rows, then remove that line",
        labelled=labelled,
    )


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


def _model_block(estimator: str, params: str, pipeline: str | None) -> str:
    imbalance = (
        "  imbalance: auto     # binary with a rare positive class: tune the decision threshold "
        "for F1\n"
    )
    if pipeline is None:
        return f"model:\n  estimator: {estimator}\n{imbalance}{params}"
    package = pipeline.partition(".")[0]
    return (
        "model:\n"
        f"  # The team's own code builds the model: src/{package}/pipeline.py (tested in tests/).\n"
        "  # The bundle pins that code by hash; serving refuses a model whose code changed.\n"
        f"  pipeline: {pipeline}\n{imbalance}"
        "  params:             # keyword arguments of build()\n"
        "    max_iter: 200\n"
    )


MISSING_COMMENT = "# rows without a target are dropped; more than this fails"


def config_text(
    name: str,
    data_path: str,
    target: str,
    drop: tuple[str, ...],
    task: Task,
    gates: str,
    positive: object = None,
    split: SplitChoice | None = None,
    stratify: bool = True,
    boosting: bool | None = None,
    pipeline: str | None = None,
    max_missing_target: float = 0.5,
) -> str:
    """The whole mlgate.yaml of a new project. `boosting` picks histogram gradient boosting
    over the random forest; unset, a team's table (a `split` chosen for it) of at least
    BOOSTING_MIN_ROWS labelled rows gets boosting, a smaller one and the demo (no `split`) the
    forest."""

    drop_line = f"  drop: {json.dumps(list(drop))}\n" if drop else ""
    if task == "binary":
        drop_line += (
            f"  positive_label: {json.dumps(positive)}"
            "  # precision/recall/F1/ROC-AUC are about this class\n"
        )
    if boosting is None:
        boosting = split is not None and split.labelled >= BOOSTING_MIN_ROWS
    estimator = (BOOSTING if boosting else FOREST)[task]
    params = BOOSTING_PARAMS if boosting else FOREST_PARAMS
    if split is None:
        split = SplitChoice(SplitConfig().test_size, EvaluationConfig().min_holdout_rows, 0)
    test_size = f"{split.test_size:g}"
    if split.note or split.warning:
        test_size += f"     # a holdout of {split.holdout_rows} rows with a target"
    evaluation = ""
    if split.min_holdout_rows != EvaluationConfig().min_holdout_rows:
        evaluation = (
            "\nevaluation:\n"
            "  # Lowered by `mlgate init`: the table is too small for a holdout of "
            f"{EvaluationConfig().min_holdout_rows}.\n"
            f"  min_holdout_rows: {split.min_holdout_rows}\n"
        )
    stratified = "true" if task != "regression" and stratify else "false"
    model = _model_block(estimator, params, pipeline)
    return f"""\
# mlgate pipeline config. `mlgate config --schema` lists every key.
name: {name}
task: {task}

data:
  path: {json.dumps(data_path)}
  target: {json.dumps(target)}
{drop_line}  schema_path: schema.yaml          # column roles and checks; `mlgate schema infer`
  profile_path: reference/profile.json  # reference distribution for drift checks
  max_missing_target: {f"{max_missing_target:g}":<13} {MISSING_COMMENT}

{model}
split:
  test_size: {test_size}
  seed: 42
  stratify: {stratified}
{evaluation}
{gates}
drift:
  method: auto        # KS / chi-square up to 1000 rows, Wasserstein / Jensen-Shannon above
  share: 0.5          # the data gate fails when half the features drift
"""
