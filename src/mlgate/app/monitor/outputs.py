"""The monitor's JSON and Markdown: for scripts, and for a PR, an issue or a step summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlgate.app.monitor.html import render_html
from mlgate.app.monitor.run import when
from mlgate.core.drift import drift_rule, statistic_name
from mlgate.core.escape import md_code, md_text
from mlgate.core.records.monitor import MonitorResult
from mlgate.store import atomic

JSON_FILE = "monitor.json"
MARKDOWN_FILE = "monitor.md"
HTML_FILE = "monitor.html"
MARKER = "<!-- mlgate-monitor -->"


def to_dict(result: MonitorResult) -> dict[str, Any]:
    """The JSON form (monitor.json, `mlgate monitor --json`)."""
    return result.dump()


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def markdown(result: MonitorResult) -> str:
    """A short summary: verdict, findings, performance, the features that moved."""
    obs = result.observations
    icon = "🚨 ALERT" if result.alert else "✅ healthy"
    registered = result.registered
    named = f"{md_text(registered.label)} · " if registered is not None else ""
    lines = [
        MARKER,
        f"## mlgate monitor: {md_text(result.model)} {named}bundle {md_code(result.version)} "
        f"— {icon}",
        "",
        f"{obs.rows} predicted rows in {obs.requests} requests, {obs.errors} refused, "
        f"{when(result.first)} to {when(result.last)}.",
        "",
    ]
    lines += [f"- {md_text(note)}" for note in result.notes]
    lines += [""] if result.notes else []
    if result.verdict.findings:
        lines += ["| severity | check | finding |", "| --- | --- | --- |"]
        for finding in result.verdict.findings:
            # Findings quote what clients sent (category values): shown as text, never markup.
            cells = (finding.severity, finding.check, finding.message)
            lines.append("| " + " | ".join(md_text(cell) for cell in cells) + " |")
        lines.append("")
    if obs.metric:
        lines += [
            f"**{md_text(obs.metric)}**: holdout {_num(obs.reference)}, estimated (no labels) "
            f"{_num(obs.estimated)}, realised {_num(obs.realised)} ({obs.labelled} labelled rows).",
            "",
        ]
    moved = [f for f in obs.features if f.drift.checked]
    if moved:
        lines += [
            "| feature | statistic | value | drift when | drift | missing |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for f in sorted(moved, key=lambda f: not f.drift.drifted):
            d = f.drift
            lines.append(
                f"| {md_text(f.name)} | {md_text(statistic_name(d.method))} "
                f"| {_num(d.statistic, '.4g')} | {md_text(drift_rule(d.method, d.threshold))} "
                f"| {'**yes**' if d.drifted else 'no'} | {f.missing_rate:.1%} |"
            )
        lines.append("")
    if result.latency:
        lat = result.latency
        lines.append(
            f"Latency: p50 {_num(lat.get('p50'), '.2f')} ms, p95 {_num(lat.get('p95'), '.2f')} ms, "
            f"p99 {_num(lat.get('p99'), '.2f')} ms."
        )
    return "\n".join(lines) + "\n"


def write_reports(result: MonitorResult, out: Path) -> list[Path]:
    """monitor.json, monitor.md and monitor.html in `out`, each written atomically."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        atomic.write_text(out / JSON_FILE, result.dumps()),
        atomic.write_text(out / MARKDOWN_FILE, markdown(result)),
        atomic.write_text(out / HTML_FILE, render_html(result)),
    ]
