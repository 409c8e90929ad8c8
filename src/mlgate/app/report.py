"""`mlgate report`: the run as Markdown, for a pull-request comment or a GitHub step summary.

The first line is a hidden marker, `<!-- mlgate-report:NAME -->`, that never changes between
pushes, so a workflow can find its earlier comment and edit it in place instead of adding one
comment per push (e.g. `gh api .../issues/N/comments --jq '.[] | select(.body |
startswith("<!-- mlgate-report:churn -->")) | .id'`, then PATCH that id).

`build_report` is a pure function of the three records a run leaves behind (reports/gate.json,
reports/validation.json, the bundle's mlgate.json); `render_project_report` reads them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlgate.core.config import Project
from mlgate.core.drift import ColumnDrift
from mlgate.core.escape import md_code, md_text
from mlgate.core.gates import GateCheck
from mlgate.core.records.gate import GateReport
from mlgate.core.records.lineage import BundleMeta
from mlgate.core.validate import ValidationReport
from mlgate.core.vocab import LOWER_IS_BETTER
from mlgate.errors import BundleError
from mlgate.store import atomic
from mlgate.store.bundle import load_bundle
from mlgate.store.trust import resolve

MARKER_PREFIX = "<!-- mlgate-report:"
PASS = "✅"
FAIL = "❌"
SKIP = "⏭️"
_MAX_DRIFT_ROWS = 50


def marker(name: str) -> str:
    """The hidden first line that identifies this model's report comment."""
    return f"{MARKER_PREFIX}{name} -->"


def _num(x: Any) -> str:
    if x is None:
        return "–"
    value = float(x)
    if math.isnan(value):
        return "NaN"
    return f"{value:.4f}"


def _delta(metric: str, new: float, old: float) -> str:
    diff = new - old
    if math.isnan(diff):
        return "–"
    better = diff < 0 if metric in LOWER_IS_BETTER else diff > 0
    arrow = "" if diff == 0 else (" ▲" if better else " ▼")
    return f"{diff:+.4f}{arrow}"


def _cell(text: object) -> str:
    """Text from a record (column names, data values in messages, paths), made inert
    Markdown: safe in a table cell, a list item or a paragraph."""
    return md_text(text)


def _code(text: object) -> str:
    """A record's value as a code span in a table cell."""
    return md_code(text, table=True)


NO_CHAMPION = (
    "> [!WARNING]\n"
    "> **No champion: the champion gates did not run.** Only the absolute and baseline gates "
    "judged this model. A CI job without `MLFLOW_TRACKING_URI` starts with an empty registry "
    "every time: set that secret, or keep the champion's bundle in the DVC remote and name it "
    "in `evaluation.champion_bundle` (see the mlgate README, *Keeping a champion*)."
)


def _about(gate: GateReport) -> str:
    positive = gate.positive_label
    about = f", positive class {md_code(positive)}" if positive is not None else ""
    if gate.dropped_target_rows:
        about += f"; {gate.dropped_target_rows} rows without a target dropped"
    return about


def _metrics_section(gate: GateReport) -> list[str]:
    challenger, baseline = gate.challenger, gate.baseline or {}
    rows, about = gate.holdout_rows, _about(gate)
    if gate.champion is None:
        lines = [
            NO_CHAMPION,
            "",
            f"Challenger on the holdout ({rows} rows{about}); baseline: the best trivial model.",
            "",
            "| metric | challenger | baseline |",
            "| --- | ---: | ---: |",
        ]
        lines += [
            f"| {_cell(m)} | {_num(v)} | {_num(baseline.get(m))} |" for m, v in challenger.items()
        ]
        return lines
    label = gate.champion.label or "champion"
    base = gate.champion.metrics
    lines = [
        f"Challenger vs **{_cell(label)}**, both evaluated on the same holdout ({rows} rows"
        f"{about}); baseline: the best trivial model.",
        "",
        f"| metric | challenger | baseline | {_cell(label)} | delta |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for m, v in challenger.items():
        old = base.get(m)
        delta = _delta(m, float(v), float(old)) if old is not None else "–"
        lines.append(
            f"| {_cell(m)} | {_num(v)} | {_num(baseline.get(m))} | {_num(old)} | {delta} |"
        )
    return lines


def _interval(check: GateCheck) -> str:
    if not check.interval:
        return "–"
    low, high = check.interval
    if check.kind == "min_relative_change":
        return f"{low:+.2%} … {high:+.2%}"
    return f"{low:+.4f} … {high:+.4f}"


def _gates_section(gate: GateReport) -> list[str]:
    lines = ["### Gates", ""]
    if gate.checks:
        lines += [
            "| | metric | check | 95% interval of the improvement | detail |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in gate.checks:
            mark = PASS if c.passed else FAIL
            lines.append(
                f"| {mark} | {_cell(c.metric)} | {_cell(c.kind)} | {_interval(c)} "
                f"| {_cell(c.message)} |"
            )
    else:
        lines.append("No gates are configured: add `gates:` to mlgate.yaml.")
    lines += [f"> {_cell(note)}" for note in gate.notes]
    return lines


def _drift_rows(columns: Sequence[ColumnDrift]) -> list[str]:
    lines = [
        "",
        "<details><summary>Drift per feature</summary>",
        "",
        "| | feature | method | statistic | threshold |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for c in columns[:_MAX_DRIFT_ROWS]:
        mark = FAIL if c.drifted else (PASS if c.checked else SKIP)
        lines.append(
            f"| {mark} | {_cell(c.column)} | {_cell(c.method or '–')} "
            f"| {_num(c.statistic)} | {_num(c.threshold)} |"
        )
    if len(columns) > _MAX_DRIFT_ROWS:
        lines.append(f"| | … {len(columns) - _MAX_DRIFT_ROWS} more | | | |")
    return [*lines, "", "</details>"]


def _data_section(validation: ValidationReport | None) -> list[str]:
    lines = ["### Data", ""]
    if validation is None:
        return [*lines, "No validation report (reports/validation.json) was found."]
    drift, violations = validation.drift, validation.violations
    mark = PASS if validation.passed else FAIL
    drifted = drift.drifted_columns
    lines.append(
        f"{mark} {validation.rows} rows; {len(violations)} schema violation(s); "
        f"drift in {len(drifted)} of {len(drift.columns)} features ({drift.share:.0%}, "
        f"dataset drift at {drift.share_threshold:.0%})"
        + (": " + ", ".join(md_code(c) for c in drifted) if drifted else "")
    )
    if violations:
        lines += ["", "| column | check | rows | message |", "| --- | --- | ---: | --- |"]
        lines += [
            f"| {_cell(v.column or '–')} | {_cell(v.check)} | {v.count} | {_cell(v.message)} |"
            for v in violations
        ]
    if drift.columns:
        lines += _drift_rows(drift.columns)
    return lines


def _lineage_section(meta: BundleMeta | None, bundle_error: str | None) -> list[str]:
    lines = ["### Lineage", ""]
    if meta is None:
        return [*lines, f"No model bundle: {_cell(bundle_error or 'not trained')}."]
    git, data = meta.git, meta.data
    commit = git.commit or "unknown"
    dirty = git.dirty
    state = "unknown state" if dirty is None else ("uncommitted changes" if dirty else "clean")
    lines += [
        "| | |",
        "| --- | --- |",
        f"| code | {_code(commit[:12])} on {_code(git.branch or '?')} ({state}) |",
        f"| data | {_code(data.path)} {_code(data.fingerprint)}, "
        f"{data.rows} rows ({data.train_rows} train / {data.holdout_rows} holdout) |",
        f"| config | {_code(meta.config_hash)} |",
        f"| model | {_code(meta.estimator)} ({_cell(meta.task)}), seed {meta.seed} |",
        f"| trained | {_cell(meta.created_at)} with mlgate {_cell(meta.mlgate_version)} |",
    ]
    if meta.notes:
        lines.append("")
        lines += [
            f"> {'⚠️ ' if n.startswith('possible leak') else ''}{_cell(n)}" for n in meta.notes
        ]
    return lines


_MAX_TRIAL_ROWS = 20


def _search_section(meta: BundleMeta | None) -> list[str]:
    """The search's trials, best first: the winner was fitted on all training rows and gated."""
    search = meta.search if meta is not None else None
    if search is None:
        return []
    sign = 1.0 if search.greater_is_better else -1.0
    order = sorted(
        range(len(search.trials)),
        key=lambda i: (search.trials[i].mean is None, -sign * (search.trials[i].mean or 0.0), i),
    )
    sampled = f"sampled from a grid of {search.grid_size}" if search.sampled else "the whole grid"
    lines = [
        "### Hyperparameter search",
        "",
        f"{len(search.trials)} trials ({sampled}), {_cell(search.metric)} on {search.folds} "
        "cross-validation folds of the training rows (never the holdout); the winner was "
        "fitted on all training rows and gated above.",
        "",
        f"| | trial | params | {_cell(search.metric)} (mean ± std) |",
        "| --- | ---: | --- | ---: |",
    ]
    for i in order[:_MAX_TRIAL_ROWS]:
        trial = search.trials[i]
        shown = ", ".join(f"{k}={v}" for k, v in trial.params.items())
        score = f"{_num(trial.mean)} ± {_num(trial.std)}" if trial.mean is not None else "–"
        mark = "🏆" if i == search.winner else ""
        lines.append(f"| {mark} | {i + 1} | {_code(shown)} | {score} |")
    if len(order) > _MAX_TRIAL_ROWS:
        lines.append(f"| | … {len(order) - _MAX_TRIAL_ROWS} more in mlgate.json | | |")
    return ["", *lines]


def build_report(
    name: str,
    *,
    gate: GateReport | None,
    validation: ValidationReport | None,
    meta: BundleMeta | None,
    bundle_error: str | None = None,
) -> str:
    """The Markdown report; `gate` is None when the quality gate did not run for this data."""
    data_ok = validation is None or validation.passed
    passed = gate is not None and gate.passed and data_ok
    verdict = f"{PASS} passed every gate" if passed else f"{FAIL} failed"
    lines = [marker(name), f"## mlgate · {md_code(name)} {verdict}", ""]
    if not data_ok:
        lines.append("The data gate failed, so the model was not trained or gated.")
        lines.append("")
    if gate is not None:
        lines += _metrics_section(gate)
        lines.append("")
        lines += _gates_section(gate)
        if gate.failures:
            lines += ["", "**Failed:**", *(f"- {_cell(f)}" for f in gate.failures)]
    elif data_ok:
        lines.append("The quality gate has not run: `mlgate gate` writes reports/gate.json.")
    lines.append("")
    lines += _data_section(validation)
    lines.append("")
    lines += _lineage_section(meta, bundle_error)
    lines += _search_section(meta)
    evaluated = gate.evaluated_at if gate is not None else None
    gated = f" · gated {_cell(evaluated)}" if evaluated else ""
    lines += ["", f"<sub>mlgate report{gated}</sub>", ""]
    return "\n".join(lines)


def render_project_report(project: Project) -> str:
    """Read reports/gate.json, reports/validation.json and the bundle's mlgate.json; render.

    A gate report older than the validation report belongs to an earlier run (this run stopped
    before the gate), so it is left out rather than shown as if it were current.
    """
    gate_path = project.reports_dir / "gate.json"
    validation_path = project.reports_dir / "validation.json"
    validation = (
        ValidationReport.loads(validation_path.read_bytes(), str(validation_path))
        if validation_path.is_file()
        else None
    )
    gate = GateReport.loads(gate_path.read_bytes(), str(gate_path)) if gate_path.is_file() else None
    if (
        gate is not None
        and validation is not None
        and gate_path.stat().st_mtime < validation_path.stat().st_mtime
    ):
        gate = None
    meta: BundleMeta | None = None
    error: str | None = None
    try:
        # The environment's trust, as every command that reads a bundle checks it.
        meta = load_bundle(project.bundle_dir, trust=resolve()).meta
    except BundleError as exc:
        error = exc.message
    return build_report(
        project.config.name, gate=gate, validation=validation, meta=meta, bundle_error=error
    )


def project_report(project: Project, *, out: Path | None = None) -> str:
    """`mlgate report`: the project's report, also written (atomically) to `out` when given."""
    text = render_project_report(project)
    if out is not None:
        atomic.write_text(out, text)
    return text
