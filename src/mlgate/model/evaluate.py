"""The quality gate: evaluate the challenger (and the champion) on the same holdout, then judge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.core.bootstrap import Outputs, improvement_interval
from mlgate.core.config import Project
from mlgate.core.gates import GateVerdict, evaluate_gates
from mlgate.core.metrics import compute_metrics, metrics_for
from mlgate.errors import BundleError, ConfigError, DataError
from mlgate.model.features import to_frame
from mlgate.model.train import Split, predict_all, split_data
from mlgate.store import bundle as bundle_mod
from mlgate.store.trust import Trust, project_trust

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Champion:
    """The model to beat: a bundle, and how to name it in reports."""

    bundle_dir: Path
    label: str
    # The keys and types to load it with (the project's); None: the environment's.
    trust: Trust | None = None


@dataclass(frozen=True)
class GateReport:
    """The verdict, and the numbers it was based on."""

    verdict: GateVerdict
    challenger: dict[str, float]
    champion: dict[str, float] | None
    champion_label: str | None
    holdout_rows: int
    bundle_dir: Path
    model_name: str
    baseline: dict[str, float] | None = None
    positive_label: Any = None
    dropped_target_rows: int = 0
    # What was judged: the bundle's files (but gate.json) as one digest; registration checks it.
    bundle_digest: str | None = None

    @property
    def passed(self) -> bool:
        """True when every gate passed."""
        return self.verdict.passed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as written to reports/gate.json."""
        return {
            "passed": self.passed,
            "model": self.model_name,
            "bundle": str(self.bundle_dir),
            "bundle_digest": self.bundle_digest,
            "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "holdout_rows": self.holdout_rows,
            "challenger": self.challenger,
            "champion": {"label": self.champion_label, "metrics": self.champion}
            if self.champion is not None
            else None,
            "baseline": self.baseline,
            "positive_label": self.positive_label,
            "dropped_target_rows": self.dropped_target_rows,
            "checks": [c.model_dump(mode="json") for c in self.verdict.checks],
            "failures": [c.message for c in self.verdict.failures],
            "notes": list(self.verdict.notes),
        }


def check_gate_metrics(project: Project, task: str) -> None:
    """Every gate must name a metric of the task; report the first key that does not."""
    allowed = metrics_for(task)  # type: ignore[arg-type]
    for i, gate in enumerate(project.config.gates):
        if gate.metric not in allowed:
            raise ConfigError(
                f"gates.{i}.metric: {gate.metric!r} is not a {task} metric",
                hint=f"use one of: {', '.join(allowed)}",
            )


def baseline_metrics(task: str, split: Split, classes: Any, positive: Any) -> dict[str, float]:
    """The best score of a trivial model on the holdout, per metric.

    scikit-learn's Dummy estimators fitted on the training rows: the class prior (the majority
    class, prior probabilities), always-the-positive-class for binary tasks (the best F1 and
    recall a constant can reach), and the mean and the median for regression. The best of them
    for each metric is the bar a model must clear.
    """
    import numpy as np
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from mlgate.core.config import LOWER_IS_BETTER

    x_train = np.zeros((len(split.y_train), 1))
    x_test = np.zeros((len(split.y_test), 1))
    outputs: list[tuple[Any, Any]] = []
    if task == "regression":
        for strategy in ("mean", "median"):
            regressor = DummyRegressor(strategy=strategy).fit(x_train, split.y_train)
            outputs.append((regressor.predict(x_test), None))
    else:
        prior = DummyClassifier(strategy="prior").fit(x_train, split.y_train)
        outputs.append((prior.predict(x_test), prior.predict_proba(x_test)))
        labels = prior.classes_.tolist()
        if task == "binary" and positive in labels:
            # DummyClassifier(strategy="constant") refuses float labels (a 0/1 column with
            # gaps reads as 0.0/1.0); its answer is simple enough to write down.
            k = labels.index(positive)
            proba = np.zeros((len(split.y_test), len(labels)))
            proba[:, k] = 1.0
            outputs.append((np.full(len(split.y_test), prior.classes_[k]), proba))
    best: dict[str, float] = {}
    for pred, proba in outputs:
        scores = compute_metrics(
            task,  # type: ignore[arg-type]
            split.y_test,
            pred,
            proba,
            classes,
            positive,
        )
        for metric, value in scores.items():
            old = best.get(metric)
            lower = metric in LOWER_IS_BETTER
            if old is None or (value < old if lower else value > old):
                best[metric] = value
    return best


def _evaluate(
    model: Any, meta: bundle_mod.BundleMeta, x: pd.DataFrame, y: pd.Series
) -> tuple[dict[str, float], Outputs]:
    pred, proba = predict_all(model, x)
    metrics = compute_metrics(meta.task, y, pred, proba, meta.classes, meta.positive_label)
    return metrics, Outputs(pred, proba)


def _champion_metrics(
    champion: Champion, challenger: bundle_mod.BundleMeta, frame: pd.DataFrame, split: Split
) -> tuple[dict[str, float], Outputs]:
    bundle = bundle_mod.load_bundle(champion.bundle_dir, trust=champion.trust)
    meta = bundle.meta
    if meta.task != challenger.task or meta.target != challenger.target:
        raise BundleError(
            f"champion {champion.label} predicts {meta.target!r} ({meta.task}), the challenger "
            f"{challenger.target!r} ({challenger.task}): they cannot be compared",
        )
    missing = [f.name for f in bundle.schema.features if f.name not in frame.columns]
    if missing:
        raise DataError(
            f"champion {champion.label} needs feature(s) the data lacks: {', '.join(missing)}"
        )
    rows = frame.loc[split.x_test.index]
    x = to_frame(rows, bundle.schema.features)
    # Scored as the challenger is: the same classes, the same positive class.
    meta = meta.model_copy(
        update={"classes": challenger.classes, "positive_label": challenger.positive_label}
    )
    return _evaluate(bundle.load_model(), meta, x, split.y_test)


def _intervals(
    project: Project,
    meta: bundle_mod.BundleMeta,
    split: Split,
    challenger: Outputs,
    champion: Outputs,
) -> dict[tuple[str, str], tuple[float, float]]:
    """Paired-bootstrap intervals of the improvement for every champion gate."""
    evaluation = project.config.evaluation
    if evaluation.bootstrap_resamples == 0:
        return {}
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for gate in project.config.gates:
        for kind, bound in (
            ("min_absolute_change", gate.min_absolute_change),
            ("min_relative_change", gate.min_relative_change),
        ):
            if bound is None or (gate.metric, kind) in out:
                continue
            if gate.metric in ("roc_auc", "log_loss") and (
                challenger.probabilities is None or champion.probabilities is None
            ):
                continue
            interval = improvement_interval(
                gate.metric,
                meta.task,
                split.y_test.to_numpy(),
                challenger,
                champion,
                classes=meta.classes,
                positive=meta.positive_label,
                higher_is_better=gate.higher_is_better,
                relative=kind == "min_relative_change",
                resamples=evaluation.bootstrap_resamples,
                confidence=evaluation.confidence,
                seed=project.config.split.seed,
            )
            out[(gate.metric, kind)] = (interval.low, interval.high)
    return out


def run_gate(
    project: Project,
    *,
    champion: Champion | None = None,
    frame: pd.DataFrame | None = None,
    split: Split | None = None,
    write: bool = True,
    outputs: Outputs | None = None,
) -> GateReport:
    """Evaluate the trained bundle and the champion on the holdout, check every gate.

    `split` is the one training just used, when gating in the same process, and `outputs` the
    challenger's predictions on its holdout. Writes metrics.json, reports/gate.json and the
    bundle's gate.json unless `write` is False.
    """
    from mlgate.store.tables import load_table

    # Verified (and its signature checked) before its numbers are believed; `add_file` checks
    # again that the bundle is still the one judged before it writes the verdict into it.
    trust = project_trust(project)
    bundle = bundle_mod.load_bundle(project.bundle_dir, trust=trust)
    meta = bundle.meta
    check_gate_metrics(project, meta.task)
    if frame is None:
        frame = load_table(project.data_path)
    if split is None:
        split = split_data(project.config, meta.task, frame, bundle.schema.features)
    if split.fingerprint != meta.data.holdout_fingerprint:
        raise DataError(
            "the holdout differs from the one the bundle was evaluated on at training time: "
            "the data or the split config changed since `mlgate train`",
            hint="run `mlgate train` again (or `mlgate run`)",
        )
    # Training evaluated this very holdout (same fingerprint) and SHA256SUMS vouches for the
    # recorded numbers, so the challenger is not predicted twice; the champion always is.
    challenger = dict(meta.metrics)
    champion_metrics = None
    intervals: dict[tuple[str, str], tuple[float, float]] = {}
    if champion is not None:
        champion_metrics, champion_out = _champion_metrics(champion, meta, frame, split)
        if outputs is None and project.config.evaluation.bootstrap_resamples:
            if write:  # opened unverified above: vouch for it before unpickling anything
                bundle_mod.verify(project.bundle_dir)
            outputs = Outputs(*predict_all(bundle.load_model(), split.x_test))
        if outputs is not None:
            intervals = _intervals(project, meta, split, outputs, champion_out)
    baseline = baseline_metrics(meta.task, split, meta.classes, meta.positive_label)
    verdict = evaluate_gates(
        project.config.gates,
        challenger,
        champion_metrics,
        baseline=baseline,
        intervals=intervals,
        confidence=project.config.evaluation.confidence,
    )
    report = GateReport(
        verdict=verdict,
        challenger=challenger,
        champion=champion_metrics,
        champion_label=champion.label if champion else None,
        holdout_rows=len(split.x_test),
        bundle_dir=project.bundle_dir,
        model_name=meta.name,
        baseline=baseline,
        positive_label=meta.positive_label,
        dropped_target_rows=meta.data.dropped_target_rows,
        bundle_digest=bundle.content_digest,
    )
    if write:
        data = report.to_dict()
        bundle_mod.add_file(
            project.bundle_dir,
            bundle_mod.GATE_FILE,
            data,
            trust=trust,
            expect=bundle.content_digest,
        )
        bundle_mod.write_json(project.metrics_path, challenger)
        bundle_mod.write_json(project.reports_dir / "gate.json", data)
    return report
