"""`mlgate gate`: judge the trained bundle on the holdout, against the trivial baseline and the
champion, and record the verdict.

Loading, verifying and predicting with the champion happen here; the numbers are
`model.evaluate`'s and the verdict `core.gates.evaluate_gates`'s. The verdict is written once, as
the same `GateReport` bytes, into reports/gate.json and into the bundle (re-sealed and re-signed).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters.mlflow import Registry, open_registry
from mlgate.app.champion import Champion, champion_for_gate
from mlgate.app.isolated import code_is_here, predict_isolated
from mlgate.core.bootstrap import Outputs
from mlgate.core.config import Project
from mlgate.core.gates import evaluate_gates
from mlgate.core.metrics import compute_metrics
from mlgate.core.records.gate import ChampionScore, GateReport
from mlgate.core.records.lineage import BundleMeta
from mlgate.errors import BundleError, DataError
from mlgate.model.evaluate import baseline_metrics, check_gate_metrics, evaluate, intervals
from mlgate.model.features import to_frame
from mlgate.model.train import Split, predict_all, split_data
from mlgate.store import atomic
from mlgate.store import bundle as bundle_mod
from mlgate.store.locking import clean_leftovers, project_lock, scratch_dir
from mlgate.store.tables import load_table
from mlgate.store.trust import Trust, project_trust

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Champion", "GateReport", "gate_project", "run_gate"]


def _champion_metrics(
    champion: Champion, challenger: BundleMeta, frame: pd.DataFrame, split: Split
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
    # Scored as the challenger is: the same classes, the same positive class.
    meta = meta.model_copy(
        update={"classes": challenger.classes, "positive_label": challenger.positive_label}
    )
    if not code_is_here(bundle):  # trained with other code than the project's now
        pred, proba = predict_isolated(bundle, rows)
        metrics = compute_metrics(
            meta.task, split.y_test, pred, proba, meta.classes, meta.positive_label
        )
        return metrics, Outputs(pred, proba)
    x = to_frame(rows, bundle.schema.features)
    return evaluate(bundle.load_model(), meta, x, split.y_test)


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
    # Verified (and its signature checked) before its numbers are believed; `add_file` checks
    # again that the bundle is still the one judged before it writes the verdict into it.
    trust = project_trust(project)
    bundle = bundle_mod.load_bundle(project.bundle_dir, trust=trust)
    meta = bundle.meta
    check_gate_metrics(project.config, meta.task)
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
    champion_score = None
    bounds: dict[tuple[str, str], tuple[float, float]] = {}
    if champion is not None:
        champion_metrics, champion_out = _champion_metrics(champion, meta, frame, split)
        champion_score = ChampionScore(label=champion.label, metrics=champion_metrics)
        if outputs is None and project.config.evaluation.bootstrap_resamples:
            if write:  # opened unverified above: vouch for it before unpickling anything
                bundle_mod.verify(project.bundle_dir)
            outputs = Outputs(*predict_all(bundle.load_model(), split.x_test))
        if outputs is not None:
            bounds = intervals(project.config, meta, split, outputs, champion_out)
    baseline = baseline_metrics(meta.task, split, meta.classes, meta.positive_label)
    verdict = evaluate_gates(
        project.config.gates,
        challenger,
        None if champion_score is None else champion_score.metrics,
        baseline=baseline,
        intervals=bounds,
        confidence=project.config.evaluation.confidence,
    )
    report = GateReport.of(
        verdict,
        model=meta.name,
        bundle=project.bundle_dir,
        evaluated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        holdout_rows=len(split.x_test),
        challenger=challenger,
        champion=champion_score,
        baseline=baseline,
        positive_label=meta.positive_label,
        dropped_target_rows=meta.data.dropped_target_rows,
        bundle_digest=bundle.content_digest,
    )
    if write:
        write_verdict(project, report, trust=trust)
    return report


def write_verdict(project: Project, report: GateReport, *, trust: Trust) -> None:
    """The same gate.json into the bundle (re-sealed, checked unchanged since it was judged)
    and into reports/; the challenger's metrics into metrics.json."""
    bundle_mod.add_file(
        project.bundle_dir,
        bundle_mod.GATE_FILE,
        report.dump(),
        trust=trust,
        expect=report.bundle_digest,
    )
    atomic.write_text(project.reports_dir / "gate.json", report.dumps())
    bundle_mod.write_json(project.metrics_path, report.challenger)


def gate_project(
    project: Project,
    *,
    champion_bundle: Path | None = None,
    registry: Registry | None = None,
    use_registry: bool = True,
    wait: bool = True,
) -> GateReport:
    """`mlgate gate`: the quality gate against `champion_bundle`, else the registry's champion
    (when `use_registry` and there is one), else the absolute thresholds alone. Holds the
    project lock: it writes its verdict into the bundle."""
    trust = project_trust(project)
    with project_lock(project, wait=wait, what="mlgate gate"):
        clean_leftovers(project)
        if champion_bundle is not None:
            label = str(champion_bundle)
            chosen = Champion(bundle_dir=champion_bundle, label=label, trust=trust)
            return run_gate(project, champion=chosen)
        if not use_registry:
            return run_gate(project)
        reg: Registry = registry if registry is not None else open_registry(project)
        scratch = scratch_dir(project)
        try:
            _, champion = champion_for_gate(reg, project.config.name, scratch, trust)
            return run_gate(project, champion=champion)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
