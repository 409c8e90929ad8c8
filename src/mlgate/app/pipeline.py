"""The stage graph behind `mlgate run`: validate -> train -> gate, in one process.

The data is read once and handed from stage to stage. A stage that fails stops the run; what
the earlier stages wrote stays for inspection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlgate.core.config import Project

if TYPE_CHECKING:
    from mlgate.core.validate import ValidationReport
    from mlgate.model.evaluate import Champion, GateReport
    from mlgate.model.train import TrainResult

Status = Literal["passed", "failed", "skipped"]


@dataclass
class StageResult:
    """One row of the run summary."""

    name: str
    status: Status
    detail: str
    seconds: float


@dataclass
class RunResult:
    """Everything `mlgate run` did, in order."""

    stages: list[StageResult] = field(default_factory=list)
    validation: ValidationReport | None = None
    training: TrainResult | None = None
    gate: GateReport | None = None

    @property
    def passed(self) -> bool:
        """True when every stage that ran passed."""
        return all(s.status != "failed" for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for `mlgate run --json`."""
        return {
            "passed": self.passed,
            "stages": [s.__dict__ for s in self.stages],
            "validation": self.validation.to_dict() if self.validation else None,
            "bundle": str(self.training.bundle_dir) if self.training else None,
            "training_notes": list(self.training.meta.notes) if self.training else [],
            "gate": self.gate.to_dict() if self.gate else None,
        }


Progress = Callable[[str], None]


def validate(project: Project, frame: Any, *, write: bool = True) -> ValidationReport:
    """Schema + drift checks of `frame` against the committed schema and reference profile."""
    from mlgate.core.profile import read_profile
    from mlgate.core.schema import read_schema
    from mlgate.core.validate import validate_data
    from mlgate.store.bundle import write_json

    schema = read_schema(project.schema_path)
    profile = read_profile(project.profile_path)
    report = validate_data(
        frame,
        schema,
        profile,
        project.config.drift,
        max_missing_target=project.config.data.max_missing_target,
    )
    if write:
        write_json(project.reports_dir / "validation.json", report.to_dict())
    return report


def train_project(project: Project, *, wait: bool = True) -> TrainResult:
    """`mlgate train`: fit and write the bundle while holding the project lock."""
    from mlgate.model.train import train
    from mlgate.store.locking import clean_leftovers, project_lock

    with project_lock(project, wait=wait, what="mlgate train"):
        clean_leftovers(project)
        return train(project)


def validate_file(project: Project, data: Path | None = None) -> ValidationReport:
    """`mlgate validate`: the data gate on `data` (default: the project's data.path)."""
    from mlgate.store.tables import load_table

    return validate(project, load_table(data if data is not None else project.data_path))


def validation_detail(report: ValidationReport) -> str:
    """One line for the summary table."""
    drifted = report.drift.drifted_columns
    parts = [f"{report.rows} rows", f"{len(report.violations)} schema violation(s)"]
    parts.append(f"drift share {report.drift.share:.0%}")
    if drifted:
        parts.append("drifted: " + ", ".join(drifted))
    return ", ".join(parts)


def gate_detail(report: GateReport) -> str:
    """One line for the summary table."""
    if report.verdict.failures:
        return "; ".join(c.message for c in report.verdict.failures)
    shown = ", ".join(f"{k}={v:.4f}" for k, v in report.challenger.items())
    vs = f" (vs {report.champion_label})" if report.champion_label else " (no champion)"
    return shown + vs


def run(
    project: Project,
    *,
    champion: Champion | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run validate, train and gate; stop at the first stage that fails."""
    from mlgate.model.evaluate import run_gate
    from mlgate.model.train import train
    from mlgate.store.tables import load_table

    say = progress or (lambda _msg: None)
    result = RunResult()

    say("loading data")
    frame = load_table(project.data_path)

    say("validating data")
    t0 = time.perf_counter()
    result.validation = validate(project, frame)
    ok = result.validation.passed
    result.stages.append(
        StageResult(
            "validate",
            "passed" if ok else "failed",
            validation_detail(result.validation),
            time.perf_counter() - t0,
        )
    )
    if not ok:
        result.stages.append(StageResult("train", "skipped", "data gate failed", 0.0))
        result.stages.append(StageResult("gate", "skipped", "data gate failed", 0.0))
        return result

    say("training")
    t0 = time.perf_counter()
    result.training = train(project, frame)
    meta = result.training.meta
    result.stages.append(
        StageResult(
            "train",
            "passed",
            f"{meta.estimator.rsplit('.', 1)[-1]} on {meta.data.train_rows} rows "
            f"-> {project.config.paths.bundle}",
            time.perf_counter() - t0,
        )
    )

    say("evaluating and gating")
    t0 = time.perf_counter()
    from mlgate.core.bootstrap import Outputs

    training = result.training
    result.gate = run_gate(
        project,
        champion=champion,
        frame=frame,
        split=training.split,
        outputs=Outputs(training.holdout_predictions, training.holdout_probabilities),
    )
    result.stages.append(
        StageResult(
            "gate",
            "passed" if result.gate.passed else "failed",
            gate_detail(result.gate),
            time.perf_counter() - t0,
        )
    )
    return result
