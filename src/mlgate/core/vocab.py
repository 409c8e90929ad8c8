"""The domain's words, one type each: what every layer says about tasks, metrics, releases and
checks. Pure: no I/O, no third-party imports.

    Task            what the model predicts
    MetricName      a holdout metric; LOWER_IS_BETTER says which direction wins
    ReleaseStrategy how a local or cluster release moves traffic
    CheckStatus     one check of a gate, a canary window or a monitor run
    StageStatus     one stage of `mlgate run`
"""

from __future__ import annotations

from typing import Literal, get_args

Task = Literal["binary", "multiclass", "regression"]

MetricName = Literal[
    "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "rmse", "mae", "r2"
]
CLASSIFICATION_METRICS: tuple[MetricName, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
)
REGRESSION_METRICS: tuple[MetricName, ...] = ("rmse", "mae", "r2")
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "rmse", "mae"})

DriftMethod = Literal["auto", "ks", "chisquare", "wasserstein", "jensenshannon", "psi"]

# `direct` replaces the incumbent at once; the other three run the analysis first.
ReleaseStrategy = Literal["direct", "canary", "ab", "shadow"]
RELEASE_STRATEGIES: tuple[ReleaseStrategy, ...] = get_args(ReleaseStrategy)
AnalysedStrategy = Literal["canary", "ab", "shadow"]

CheckStatus = Literal["passed", "failed", "skipped"]
StageStatus = Literal["passed", "failed", "skipped"]


def greater_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is the better one."""
    return metric not in LOWER_IS_BETTER


def metrics_for(task: Task) -> tuple[MetricName, ...]:
    """The metrics that mean something for `task`."""
    return REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
