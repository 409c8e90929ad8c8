"""The stage graph behind `mlgate run`: validate -> train -> gate, in one process.

The data is read once and handed from stage to stage. A stage that fails stops the run; what
the earlier stages wrote stays for inspection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate.app.champion import Champion
from mlgate.app.features import pull
from mlgate.app.gate import run_gate
from mlgate.app.train import TrainResult, train
from mlgate.core.bootstrap import Outputs
from mlgate.core.ci import NO_CI, CiEnv
from mlgate.core.config import Project
from mlgate.core.records.gate import GateReport
from mlgate.core.validate import ValidationReport, validate_data
from mlgate.core.vocab import StageStatus
from mlgate.store import atomic
from mlgate.store.files import read_profile, read_schema
from mlgate.store.locking import clean_leftovers, project_lock
from mlgate.store.tables import load_table


@dataclass
class StageResult:
    """One row of the run summary."""

    name: str
    status: StageStatus
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
        atomic.write_text(project.reports_dir / "validation.json", report.dumps())
    return report


def train_project(project: Project, *, wait: bool = True, ci: CiEnv = NO_CI) -> TrainResult:
    """`mlgate train`: fit and write the bundle while holding the project lock."""
    with project_lock(project, wait=wait, what="mlgate train"):
        clean_leftovers(project)
        return train(project, ci=ci, feast=pull(project))


def validate_file(project: Project, data: Path | None = None) -> ValidationReport:
    """`mlgate validate`: the data gate on `data` (default: the project's data.path, built
    from the feature store first when that is where the data comes from)."""
    if data is None:
        pull(project)
        return validate(project, load_table(project.data_path))
    return validate(project, load_table(data, named_by="the data path given to validate (--data)"))


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


def _timed(name: str, status: StageStatus, detail: str, started: float) -> StageResult:
    return StageResult(name, status, detail, time.perf_counter() - started)


def run(
    project: Project,
    *,
    champion: Champion | None = None,
    progress: Progress | None = None,
    ci: CiEnv = NO_CI,
) -> RunResult:
    """Run validate, train and gate; stop at the first stage that fails."""
    say = progress or (lambda _msg: None)
    result = RunResult()

    if project.config.data.source == "feast":
        say("building the training frame from Feast")
    feast = pull(project)
    say("loading data")
    frame = load_table(project.data_path)

    say("validating data")
    t0 = time.perf_counter()
    result.validation = validation = validate(project, frame)
    status: StageStatus = "passed" if validation.passed else "failed"
    result.stages.append(_timed("validate", status, validation_detail(validation), t0))
    if not validation.passed:
        result.stages.append(StageResult("train", "skipped", "data gate failed", 0.0))
        result.stages.append(StageResult("gate", "skipped", "data gate failed", 0.0))
        return result

    say("training")
    t0 = time.perf_counter()
    result.training = training = train(project, frame, ci=ci, progress=say, feast=feast)
    meta = training.meta
    detail = (
        f"{meta.estimator.rsplit('.', 1)[-1]} on {meta.data.train_rows} rows "
        f"-> {project.config.paths.bundle}"
    )
    result.stages.append(_timed("train", "passed", detail, t0))

    say("evaluating and gating")
    t0 = time.perf_counter()
    result.gate = gate = run_gate(
        project,
        champion=champion,
        frame=frame,
        split=training.split,
        outputs=Outputs(training.holdout_predictions, training.holdout_probabilities),
    )
    status = "passed" if gate.passed else "failed"
    result.stages.append(_timed("gate", status, gate_detail(gate), t0))
    return result
