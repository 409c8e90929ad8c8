"""Hyperparameter search (`model.search`): trials scored on cross-validation folds of the
training rows only, then the winner's values set over `model.params`.

The plan (which grid points, which trial wins) is `mlgate.core.search`; this module scores the
trials. Where they run is one small protocol, `TrialRunner`: `LocalRunner` runs them in this
machine's processes (joblib, through scikit-learn's wrapper), `model.search.n_jobs` at a time; a
cluster's runner implements the same `run(job, trials)`. Each trial fits through `fit`, the path
the final model takes (preprocessing, class imbalance, early stopping), so a trial's score is
the score of the model it would become. The holdout rows are never passed to a trial: a
`TrialJob` holds the training rows alone.
"""

from __future__ import annotations

import importlib.machinery
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.parallel import Parallel, delayed

from mlgate.core.config import Config
from mlgate.core.metrics import compute_metrics, metrics_for
from mlgate.core.records.lineage import SearchRecord, TrialRecord
from mlgate.core.schema import ColumnSpec, Schema
from mlgate.core.search import greater_is_better, grid_size, plan, summarize, winner
from mlgate.core.vocab import MetricName, Task
from mlgate.errors import ConfigError, DataError, MlgateError
from mlgate.model.target import labelled_rows, positive_class
from mlgate.model.train import (
    DEFAULT_ESTIMATORS,
    Fitted,
    Split,
    feature_specs,
    fit,
    fit_frame,
    predict_all,
    resolve_task,
    split_data,
)

if TYPE_CHECKING:
    import pandas as pd

Folds = tuple[tuple[np.ndarray, np.ndarray], ...]
Scores = tuple[float | None, ...]


@dataclass(frozen=True)
class Trial:
    """One point of the grid: its place in the plan and the values it sets."""

    index: int
    params: dict[str, Any]


@dataclass(frozen=True)
class TrialJob:
    """What every trial shares: the config, the training rows (never the holdout) and their
    folds, and what the folds are scored by."""

    config: Config
    task: Task
    features: tuple[ColumnSpec, ...]
    x: pd.DataFrame
    y: pd.Series
    folds: Folds
    positive: Any
    metric: MetricName
    total: int


class TrialRunner(Protocol):
    """Where trials execute: yields each trial's fold scores in the order of `trials`, each as
    soon as it (and every trial before it) is done."""

    def run(self, job: TrialJob, trials: Sequence[Trial]) -> Iterable[Scores]:
        """Score every trial of `trials` on `job`'s folds."""
        ...


@dataclass(frozen=True)
class LocalRunner:
    """Trials on this machine, `n_jobs` at a time: in worker processes, or in threads when the
    model is the project's own code (imported from its location, which a fresh process could
    not import by name)."""

    n_jobs: int = 1
    processes: bool = True

    def run(self, job: TrialJob, trials: Sequence[Trial]) -> Iterable[Scores]:
        """Score the trials; one at a time in this process when `n_jobs` is 1."""
        jobs = min(self.n_jobs, len(trials))
        if jobs <= 1:
            return (run_trial(job, t) for t in trials)
        parallel = Parallel(
            n_jobs=jobs, prefer="processes" if self.processes else "threads", return_as="generator"
        )
        scores: Iterable[Scores] = parallel(delayed(run_trial)(job, t) for t in trials)
        return scores


def with_params(config: Config, params: dict[str, Any]) -> Config:
    """`config` whose `model.params` are set over by `params` (a trial's values)."""
    merged = {**config.model.params, **params}
    return config.model_copy(update={"model": config.model.model_copy(update={"params": merged})})


def _classes(model: Any) -> tuple[Any, ...] | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return None
    return tuple(c.item() if hasattr(c, "item") else c for c in classes)


def run_trial(job: TrialJob, trial: Trial) -> Scores:
    """Fit the trial's model on each fold's training part; score it on the fold's other part."""
    config = with_params(job.config, trial.params)
    scores: list[float | None] = []
    for fit_rows, score_rows in job.folds:
        fold = Split(
            job.x.iloc[fit_rows],
            job.x.iloc[score_rows],
            job.y.iloc[fit_rows],
            job.y.iloc[score_rows],
            fingerprint="",
        )
        try:
            model, _note = fit(config, job.task, job.features, fold, job.positive)
        except MlgateError as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in trial.params.items())
            raise type(exc)(
                f"{exc.message} (search trial {trial.index + 1} of {job.total}: {shown})",
                hint=exc.hint,
            ) from None
        pred, proba = predict_all(model, fold.x_test)
        metrics = compute_metrics(job.task, fold.y_test, pred, proba, _classes(model), job.positive)
        scores.append(metrics.get(job.metric))
    return tuple(scores)


def search_metric(config: Config, task: Task) -> MetricName:
    """`model.search.metric`, else the first gate's, else accuracy (rmse for regression)."""
    spec = config.model.search
    assert spec is not None
    fallback: MetricName = "rmse" if task == "regression" else "accuracy"
    metric = spec.metric or (config.gates[0].metric if config.gates else fallback)
    if metric not in metrics_for(task):
        whose = "" if spec.metric else " (the first gate's, the default)"
        raise ConfigError(
            f"model.search.metric: {metric!r}{whose} is not a metric of a {task} task",
            hint=f"set model.search.metric to one of {', '.join(metrics_for(task))}",
        )
    return metric


def make_folds(config: Config, task: Task, y: pd.Series) -> Folds:
    """K folds of the training rows, stratified for classification, seeded by `split.seed`."""
    spec = config.model.search
    assert spec is not None
    k, seed = spec.folds, config.split.seed
    if task == "regression":
        if len(y) < 2 * k:
            raise DataError(
                f"model.search.folds={k}: {len(y)} training rows are too few for {k} folds",
                hint="lower model.search.folds, or use more data",
            )
        splitter: KFold | StratifiedKFold = KFold(k, shuffle=True, random_state=seed)
    else:
        counts = y.value_counts()
        if int(counts.min()) < k:
            rare = counts.idxmin()
            rare = rare.item() if hasattr(rare, "item") else rare  # 1, not np.int64(1)
            raise DataError(
                f"model.search.folds={k}: class {rare!r} of {config.data.target!r} "
                f"has {int(counts.min())} training rows, fewer than the folds",
                hint="lower model.search.folds, or use more data",
            )
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    return tuple((a, b) for a, b in splitter.split(np.zeros((len(y), 1)), y))


def importable(config: Config) -> bool:
    """Whether a fresh process imports the model by name (not the project's own code)."""
    if config.model.pipeline is not None:
        return False
    path = config.model.estimator or DEFAULT_ESTIMATORS["binary"]
    # sys.path alone, not sys.modules: the project's code is imported from its location.
    return importlib.machinery.PathFinder.find_spec(path.split(".")[0]) is not None


def search(
    config: Config,
    task: Task,
    features: tuple[ColumnSpec, ...],
    split: Split,
    positive: Any = None,
    runner: TrialRunner | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Config, SearchRecord]:
    """Run `model.search` on the training rows of `split`; the config with the winner's values
    set over `model.params`, and the record of every trial."""
    spec = config.model.search
    assert spec is not None
    metric = search_metric(config, task)
    planned = plan(spec.params, spec.trials, config.split.seed)
    trials = [Trial(i, {k: spec.params[k][j] for k, j in p.items()}) for i, p in enumerate(planned)]
    job = TrialJob(
        config,
        task,
        features,
        split.x_train,
        split.y_train,
        make_folds(config, task, split.y_train),
        positive,
        metric,
        len(trials),
    )
    runner = runner or LocalRunner(spec.n_jobs, processes=importable(config))
    scores: list[Scores] = []
    for trial, scored in zip(trials, runner.run(job, trials), strict=True):
        scores.append(scored)
        if progress is not None:
            progress(_trial_line(trial, len(trials), metric, scored))
    summaries = [summarize(s) for s in scores]
    best = winner([m for m, _ in summaries], metric)
    if best is None:
        raise DataError(
            f"model.search: no trial has a {metric} on every fold (undefined on these folds)",
            hint="choose another model.search.metric",
        )
    written = spec.model_dump(mode="json")["params"]
    record = SearchRecord(
        metric=metric,
        greater_is_better=greater_is_better(metric),
        folds=spec.folds,
        grid_size=grid_size(spec.params),
        sampled=len(trials) < grid_size(spec.params),
        trials=tuple(
            TrialRecord(
                params={k: written[k][j] for k, j in p.items()},
                scores=s,
                mean=mean,
                std=std,
            )
            for p, s, (mean, std) in zip(planned, scores, summaries, strict=True)
        ),
        winner=best,
    )
    return with_params(config, trials[best].params), record


def _trial_line(trial: Trial, total: int, metric: str, scores: Scores) -> str:
    """`search trial 3/12 (max_depth=8, min_samples_leaf=5): roc_auc 0.8211 ± 0.0236`."""
    mean, std = summarize(scores)
    shown = ", ".join(f"{k}={v!r}" for k, v in trial.params.items())
    score = "undefined on a fold" if mean is None else f"{mean:.4f} ± {std or 0.0:.4f}"
    return f"search trial {trial.index + 1}/{total} ({shown}): {metric} {score}"


FitFrame = Callable[[Config, Schema, "pd.DataFrame"], Fitted]


def fit_searched(
    config: Config,
    schema: Schema,
    frame: pd.DataFrame,
    progress: Callable[[str], None] | None = None,
    *,
    runner: TrialRunner | None = None,
    fit_final: FitFrame = fit_frame,
) -> Fitted:
    """`fit_frame`, after `model.search` (when configured) chose the values it fits with: the
    split is the same (the same data and seed), the trials see its training rows only.
    `runner` runs the trials and `fit_final` the fit (a cluster's, or this process's)."""
    if config.model.search is None:
        return fit_final(config, schema, frame)
    features = feature_specs(config, schema, frame)
    labelled, _dropped = labelled_rows(config, frame)
    task = resolve_task(config, labelled[config.data.target])
    split = split_data(config, task, labelled, features)
    positive = positive_class(config, task, split.y_train)
    won, record = search(config, task, features, split, positive, runner, progress)
    return replace(fit_final(won, schema, frame), search=record)
