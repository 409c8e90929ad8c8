"""`mlgate report`: the run as Markdown, for a pull-request comment or a GitHub step summary.

The first line is a hidden marker, `<!-- mlgate-report:NAME -->`, that never changes between
pushes, so a workflow can find its earlier comment and edit it in place instead of adding one
comment per push (e.g. `gh api .../issues/N/comments --jq '.[] | select(.body |
startswith("<!-- mlgate-report:churn -->")) | .id'`, then PATCH that id).

`build_report` is a pure function of the three JSON documents a run leaves behind
(reports/gate.json, reports/validation.json, the bundle's mlgate.json); `render_project_report`
reads them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlgate.core.config import LOWER_IS_BETTER, Project

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
    """Table cells cannot hold pipes or newlines."""
    return str(text).replace("|", "\\|").replace("\n", " ")


NO_CHAMPION = (
    "> [!WARNING]\n"
    "> **No champion: the champion gates did not run.** Only the absolute and baseline gates "
    "judged this model. A CI job without `MLFLOW_TRACKING_URI` starts with an empty registry "
    "every time: set that secret, or keep the champion's bundle in the DVC remote and name it "
    "in `evaluation.champion_bundle` (see the mlgate README, *Keeping a champion*)."
)


def _metrics_section(gate: Mapping[str, Any]) -> list[str]:
    challenger: Mapping[str, float] = gate.get("challenger") or {}
    champion = gate.get("champion") or None
    baseline: Mapping[str, float] = gate.get("baseline") or {}
    rows = gate.get("holdout_rows")
    positive = gate.get("positive_label")
    about = f", positive class `{_cell(positive)}`" if positive is not None else ""
    dropped = gate.get("dropped_target_rows") or 0
    if dropped:
        about += f"; {dropped} rows without a target dropped"
    if champion is None:
        lines = [
            NO_CHAMPION,
            "",
            f"Challenger on the holdout ({rows} rows{about}); baseline: the best trivial model.",
            "",
            "| metric | challenger | baseline |",
            "| --- | ---: | ---: |",
        ]
        lines += [f"| {m} | {_num(v)} | {_num(baseline.get(m))} |" for m, v in challenger.items()]
        return lines
    label = champion.get("label") or "champion"
    base: Mapping[str, float] = champion.get("metrics") or {}
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
        lines.append(f"| {m} | {_num(v)} | {_num(baseline.get(m))} | {_num(old)} | {delta} |")
    return lines


def _interval(check: Mapping[str, Any]) -> str:
    interval = check.get("interval")
    if not interval:
        return "–"
    low, high = float(interval[0]), float(interval[1])
    if check.get("kind") == "min_relative_change":
        return f"{low:+.2%} … {high:+.2%}"
    return f"{low:+.4f} … {high:+.4f}"


def _gates_section(gate: Mapping[str, Any]) -> list[str]:
    checks: Sequence[Mapping[str, Any]] = gate.get("checks") or []
    lines = ["### Gates", ""]
    if checks:
        lines += [
            "| | metric | check | 95% interval of the improvement | detail |",
            "| --- | --- | --- | --- | --- |",
        ]
        for c in checks:
            mark = PASS if c.get("passed") else FAIL
            lines.append(
                f"| {mark} | {c.get('metric')} | {c.get('kind')} | {_interval(c)} "
                f"| {_cell(c.get('message', ''))} |"
            )
    else:
        lines.append("No gates are configured: add `gates:` to mlgate.yaml.")
    lines += [f"> {_cell(note)}" for note in gate.get("notes") or []]
    return lines


def _data_section(validation: Mapping[str, Any] | None) -> list[str]:
    lines = ["### Data", ""]
    if validation is None:
        return [*lines, "No validation report (reports/validation.json) was found."]
    drift: Mapping[str, Any] = validation.get("drift") or {}
    violations: Sequence[Mapping[str, Any]] = validation.get("violations") or []
    mark = PASS if validation.get("passed") else FAIL
    drifted: Sequence[str] = drift.get("drifted_columns") or []
    columns: Sequence[Mapping[str, Any]] = drift.get("columns") or []
    share = float(drift.get("share", 0.0))
    threshold = float(drift.get("share_threshold", 0.0))
    lines.append(
        f"{mark} {validation.get('rows')} rows; {len(violations)} schema violation(s); "
        f"drift in {len(drifted)} of {len(columns)} features ({share:.0%}, "
        f"dataset drift at {threshold:.0%})"
        + (": " + ", ".join(f"`{c}`" for c in drifted) if drifted else "")
    )
    if violations:
        lines += ["", "| column | check | rows | message |", "| --- | --- | ---: | --- |"]
        lines += [
            f"| {_cell(v.get('column') or '–')} | {v.get('check')} | {v.get('count', 0)} "
            f"| {_cell(v.get('message', ''))} |"
            for v in violations
        ]
    if columns:
        lines += [
            "",
            "<details><summary>Drift per feature</summary>",
            "",
            "| | feature | method | statistic | threshold |",
            "| --- | --- | --- | ---: | ---: |",
        ]
        for c in columns[:_MAX_DRIFT_ROWS]:
            mark = FAIL if c.get("drifted") else (PASS if c.get("checked", True) else SKIP)
            lines.append(
                f"| {mark} | {_cell(c.get('column'))} | {c.get('method') or '–'} "
                f"| {_num(c.get('statistic'))} | {_num(c.get('threshold'))} |"
            )
        if len(columns) > _MAX_DRIFT_ROWS:
            lines.append(f"| | … {len(columns) - _MAX_DRIFT_ROWS} more | | | |")
        lines += ["", "</details>"]
    return lines


def _lineage_section(meta: Mapping[str, Any] | None, bundle_error: str | None) -> list[str]:
    lines = ["### Lineage", ""]
    if meta is None:
        return [*lines, f"No model bundle: {_cell(bundle_error or 'not trained')}."]
    git: Mapping[str, Any] = meta.get("git") or {}
    data: Mapping[str, Any] = meta.get("data") or {}
    commit = git.get("commit") or "unknown"
    dirty = git.get("dirty")
    state = "unknown state" if dirty is None else ("uncommitted changes" if dirty else "clean")
    lines += [
        "| | |",
        "| --- | --- |",
        f"| code | `{str(commit)[:12]}` on `{git.get('branch') or '?'}` ({state}) |",
        f"| data | `{_cell(data.get('path'))}` `{data.get('fingerprint')}`, "
        f"{data.get('rows')} rows ({data.get('train_rows')} train / "
        f"{data.get('holdout_rows')} holdout) |",
        f"| config | `{meta.get('config_hash')}` |",
        f"| model | `{meta.get('estimator')}` ({meta.get('task')}), seed {meta.get('seed')} |",
        f"| trained | {meta.get('created_at')} with mlgate {meta.get('mlgate_version')} |",
    ]
    notes: Sequence[str] = meta.get("notes") or []
    if notes:
        lines.append("")
        lines += [f"> {'⚠️ ' if n.startswith('possible leak') else ''}{_cell(n)}" for n in notes]
    return lines


def build_report(
    name: str,
    *,
    gate: Mapping[str, Any] | None,
    validation: Mapping[str, Any] | None,
    meta: Mapping[str, Any] | None,
    bundle_error: str | None = None,
) -> str:
    """The Markdown report; `gate` is None when the quality gate did not run for this data."""
    data_ok = validation is None or bool(validation.get("passed"))
    passed = gate is not None and bool(gate.get("passed")) and data_ok
    verdict = f"{PASS} passed every gate" if passed else f"{FAIL} failed"
    lines = [marker(name), f"## mlgate · `{name}` {verdict}", ""]
    if not data_ok:
        lines.append("The data gate failed, so the model was not trained or gated.")
        lines.append("")
    if gate is not None:
        lines += _metrics_section(gate)
        lines.append("")
        lines += _gates_section(gate)
        failures: Sequence[str] = gate.get("failures") or []
        if failures:
            lines += ["", "**Failed:**", *(f"- {_cell(f)}" for f in failures)]
    elif data_ok:
        lines.append("The quality gate has not run: `mlgate gate` writes reports/gate.json.")
    lines.append("")
    lines += _data_section(validation)
    lines.append("")
    lines += _lineage_section(meta, bundle_error)
    evaluated = (gate or {}).get("evaluated_at")
    lines += ["", f"<sub>mlgate report{f' · gated {evaluated}' if evaluated else ''}</sub>", ""]
    return "\n".join(lines)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def render_project_report(project: Project) -> str:
    """Read reports/gate.json, reports/validation.json and the bundle's mlgate.json; render.

    A gate report older than the validation report belongs to an earlier run (this run stopped
    before the gate), so it is left out rather than shown as if it were current.
    """
    from mlgate.errors import BundleError
    from mlgate.store.bundle import load_bundle

    gate_path = project.reports_dir / "gate.json"
    validation_path = project.reports_dir / "validation.json"
    validation = _read_json(validation_path)
    gate = _read_json(gate_path)
    if (
        gate is not None
        and validation is not None
        and gate_path.stat().st_mtime < validation_path.stat().st_mtime
    ):
        gate = None
    meta: dict[str, Any] | None = None
    error: str | None = None
    try:
        meta = load_bundle(project.bundle_dir).meta.model_dump(mode="json")
    except BundleError as exc:
        error = exc.message
    return build_report(
        project.config.name, gate=gate, validation=validation, meta=meta, bundle_error=error
    )


def project_report(project: Project, *, out: Path | None = None) -> str:
    """`mlgate report`: the project's report, also written (atomically) to `out` when given."""
    text = render_project_report(project)
    if out is not None:
        from mlgate.store import atomic

        atomic.write_text(out, text)
    return text
