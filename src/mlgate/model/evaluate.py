"""The quality gate: evaluate the challenger (and the champion) on the same holdout, then judge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.config import Project
from mlgate.errors import BundleError, ConfigError, DataError
from mlgate.model import bundle as bundle_mod
from mlgate.model.features import to_frame
from mlgate.model.gates import GateVerdict, evaluate_gates
from mlgate.model.metrics import compute_metrics, metrics_for
from mlgate.model.train import Split, predict_all, split_data
from mlgate.model.trust import Trust, project_trust

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


def _evaluate(
    model: Any, meta: bundle_mod.BundleMeta, x: pd.DataFrame, y: pd.Series
) -> dict[str, float]:
    pred, proba = predict_all(model, x)
    return compute_metrics(meta.task, y, pred, proba, meta.classes)


def _champion_metrics(
    champion: Champion, challenger: bundle_mod.BundleMeta, frame: pd.DataFrame, split: Split
) -> dict[str, float]:
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
    return _evaluate(bundle.load_model(), meta, x, split.y_test)


def run_gate(
    project: Project,
    *,
    champion: Champion | None = None,
    frame: pd.DataFrame | None = None,
    split: Split | None = None,
    write: bool = True,
) -> GateReport:
    """Evaluate the trained bundle and the champion on the holdout, check every gate.

    `split` is the one training just used, when gating in the same process. Writes
    metrics.json, reports/gate.json and the bundle's gate.json unless `write` is False.
    """
    from mlgate.data.io import load_table

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
    champion_metrics = (
        _champion_metrics(champion, meta, frame, split) if champion is not None else None
    )
    verdict = evaluate_gates(project.config.gates, challenger, champion_metrics)
    report = GateReport(
        verdict=verdict,
        challenger=challenger,
        champion=champion_metrics,
        champion_label=champion.label if champion else None,
        holdout_rows=len(split.x_test),
        bundle_dir=project.bundle_dir,
        model_name=meta.name,
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
