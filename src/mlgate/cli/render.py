"""Human-readable rendering of results for the terminal (rich). No logic lives here."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgate.adapters.mlflow import VersionInfo
    from mlgate.app.gate import GateReport
    from mlgate.app.monitor.service import MonitorOutcome
    from mlgate.app.pipeline import RunResult
    from mlgate.app.run import RunOutcome
    from mlgate.app.scaffold import InitResult
    from mlgate.app.train import TrainResult
    from mlgate.core.schema import Schema
    from mlgate.core.validate import ValidationReport

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).

_STATUS = {"passed": "[green]PASS[/]", "failed": "[bold red]FAIL[/]", "skipped": "[dim]skip[/]"}


def _show(console: Any, title: str, table: Any) -> None:
    # The heading goes on its own line: rich wraps a table title to the table's width.
    console.print(f"[bold]{_esc(title)}[/]")
    console.print(table)


def _table(*columns: str) -> Any:
    from rich.table import Table

    table = Table(show_lines=False)
    for i, col in enumerate(columns):
        # The first column names things (features, metrics, stages): never break a name.
        table.add_column(col, overflow="fold", no_wrap=i == 0)
    return table


def _esc(text: object) -> str:
    from rich.markup import escape

    return escape(str(text))


def validation(console: Any, report: ValidationReport) -> None:
    """Schema violations, then per-feature drift."""
    if report.violations:
        table = _table("column", "check", "rows", "message")
        for v in report.violations:
            table.add_row(_esc(v.column or "-"), v.check, str(v.count), _esc(v.message))
        _show(console, "schema violations", table)
    else:
        console.print(f"[green]schema[/]: {report.rows} rows match the schema")
    drift = report.drift
    title = f"drift: {drift.share:.0%} of features drifted" + (
        " (dataset drift)" if drift.dataset_drift else ""
    )
    table = _table(
        "feature",
        "kind",
        "method",
        "statistic",
        "threshold",
        "drift",
    )
    for col in drift.columns:
        table.add_row(
            _esc(col.column),
            col.kind,
            col.method or "-",
            "-" if col.statistic is None else f"{col.statistic:.4g}",
            "-" if col.threshold is None else f"{col.threshold:.4g}",
            "[bold red]yes[/]" if col.drifted else ("no" if col.checked else _esc(col.detail)),
        )
    _show(console, title, table)
    console.print(_STATUS["passed" if report.passed else "failed"] + " data gate")


def validation_failure(report: ValidationReport) -> str:
    """One message naming everything that failed the data gate."""
    parts = [v.message for v in report.violations]
    if report.drift.dataset_drift:
        parts.append(
            f"dataset drift: {report.drift.share:.0%} of features drifted "
            f"({', '.join(report.drift.drifted_columns)})"
        )
    return "; ".join(parts) or "data gate failed"


def gate(console: Any, report: GateReport, *, notes: bool = True) -> None:
    """Metrics of challenger (baseline, champion), then every gate check (and the notes)."""
    has_champion = report.champion is not None
    cols = ["metric", "challenger", "baseline"] + (["champion", "delta"] if has_champion else [])
    table = _table(*cols)
    baseline = report.baseline or {}
    for name, value in report.challenger.items():
        base_value = baseline.get(name)
        row = [name, f"{value:.4f}", "-" if base_value is None else f"{base_value:.4f}"]
        if report.champion is not None:
            base = report.champion.metrics.get(name)
            row += ["-", "-"] if base is None else [f"{base:.4f}", f"{value - base:+.4f}"]
        table.add_row(*row)
    about = (
        f", positive class {report.positive_label!r}" if report.positive_label is not None else ""
    )
    _show(
        console,
        f"holdout metrics ({report.holdout_rows} rows{about}; baseline: best trivial model)",
        table,
    )
    checks = _table("gate", "metric", "verdict", "interval", "detail")
    for c in report.verdict.checks:
        interval = "-" if c.interval is None else f"[{c.interval[0]:+.4g}, {c.interval[1]:+.4g}]"
        checks.add_row(
            c.kind,
            c.metric,
            _STATUS["passed" if c.passed else "failed"],
            interval,
            _esc(c.message),
        )
    _show(console, "gates", checks)
    for note in report.verdict.notes if notes else ():
        console.print(f"[yellow]note[/]: {_esc(note)}")
    console.print(_STATUS["passed" if report.passed else "failed"] + " quality gate")


def run_summary(console: Any, name: str, result: RunResult, *, gate_notes: bool = True) -> None:
    """The final table of `mlgate run` (`gate_notes=False` when the caller says it better)."""
    if result.validation is not None and not result.validation.passed:
        validation(console, result.validation)
    if result.gate is not None:
        gate(console, result.gate, notes=gate_notes)
    table = _table("stage", "status", "time", "detail")
    for s in result.stages:
        table.add_row(s.name, _STATUS[s.status], f"{s.seconds:.1f}s", _esc(s.detail))
    _show(console, f"mlgate run: {name}", table)
    if result.training is not None:
        training_notes(console, result.training.meta.notes)
    verdict = "[bold green]PASSED[/]" if result.passed else "[bold red]FAILED[/]"
    console.print(f"{verdict}: {name}")


def release(console: Any, name: str, result: RunOutcome) -> None:
    """`mlgate run`: the run summary, then the release's notes (which name the registry)."""
    run_summary(console, name, result.run, gate_notes=not result.notes)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)


def training_notes(console: Any, notes: tuple[str, ...]) -> None:
    """What training decided or found: leaks as warnings, the rest as notes."""
    for note in notes:
        if note.startswith("possible leak"):
            console.print(f"[bold yellow]warning[/]: {_esc(note)}")
        else:
            console.print(f"note: {note}", markup=False)


def training(console: Any, result: TrainResult) -> None:
    """`mlgate train`: where the bundle went, the data it saw, its holdout metrics."""
    meta = result.meta
    console.print(f"[green]trained[/] {_esc(meta.estimator)} ({meta.task})")
    console.print(f"  bundle   {result.bundle_dir}", markup=False)
    console.print(f"  data     {meta.data.fingerprint}, {meta.data.rows} rows", markup=False)
    console.print(f"  holdout  {meta.data.holdout_rows} rows", markup=False)
    for k, v in meta.metrics.items():
        console.print(f"  {k:<9}{v:.4f}", markup=False)
    training_notes(console, meta.notes)


def version(console: Any, verb: str, info: VersionInfo, uri: str) -> None:
    """One registry version after a change: `champion is now churn v3 [champion] in URI`."""
    aliases = f" [{', '.join(info.aliases)}]" if info.aliases else ""
    console.print(f"{verb} {info.name} v{info.version}{aliases} in {uri}", markup=False)


def versions(console: Any, name: str, uri: str, infos: list[VersionInfo]) -> None:
    """`mlgate models`: every version with aliases, metrics and lineage."""
    from rich.table import Table

    table = Table(title=f"{name} in {uri}", title_justify="left")
    for col in ("version", "aliases", "created", "metrics", "git", "data", "release"):
        table.add_column(col, overflow="fold")
    for v in infos:
        table.add_row(
            str(v.version),
            # A version without an alias serves nowhere: say so rather than leave a blank.
            ", ".join(v.aliases) or "(no alias)",
            v.created_at,
            ", ".join(f"{k}={x:.4f}" for k, x in sorted(v.metrics.items())),
            v.lineage.get("git_commit", "")[:12],
            v.lineage.get("data_fingerprint", "")[:16],
            _release(v.tags),
        )
    console.print(table)


def _release(tags: dict[str, str]) -> str:
    """Promoted and (last) rolled-back release of a version: when and by whom."""
    parts = []
    for verb, key in (("promoted", "promoted"), ("rejected", "rejected")):
        when, who = tags.get(f"mlgate.{key}_at"), tags.get(f"mlgate.{key}_by")
        if when or who:
            parts.append(" ".join(filter(None, (verb, when, who))))
    return "; ".join(parts)


def analysis(console: Any, checks: Any, passed: bool) -> None:
    """`mlgate canary analyze`: every check with its verdict."""
    table = _table("check", "verdict", "detail")
    for c in checks:
        verdict = _STATUS.get(c.status, _STATUS["skipped"])
        table.add_row(c.name, verdict, _esc(c.message))
    _show(console, "canary analysis", table)
    console.print(_STATUS["passed" if passed else "failed"] + " canary analysis")


def release_outcome(console: Any, outcome: Any) -> None:
    """`mlgate deploy --target local`: promoted, rolled back, not promoted or stopped, why,
    and the registry."""
    verdict = {
        "promoted": "[bold green]PROMOTED[/]",
        "not promoted": "[bold yellow]NOT PROMOTED[/]",
        "stopped": "[bold yellow]STOPPED[/]",
    }.get(outcome.ended_as, "[bold red]ROLLED BACK[/]")
    console.print(f"{verdict} {_esc(outcome.candidate)} ({outcome.strategy})")
    console.print(f"  reason    {outcome.reason}", markup=False)
    console.print(f"  serving   {outcome.url}", markup=False)
    if outcome.registry_note:
        console.print(f"  registry  {outcome.registry_note}", markup=False)
    if outcome.report is not None:
        console.print(f"  report    {outcome.report}", markup=False)


def release_status(console: Any, state: Any) -> None:
    """`mlgate canary status`: what serves, where, and the rollout in progress (its
    standing: a phase, or `paused: no traffic`)."""
    from mlgate.core.rollout import standing  # the CLI's start-up imports only the CLI

    env, stable, ro = state.environment, state.stable, state.rollout
    if env is None or stable is None:
        console.print("no local release runs here", markup=False)
    else:
        console.print(f"serving {stable.label} on {env.url} ({stable.kind})", markup=False)
        console.print(f"  prometheus {env.prometheus_url}", markup=False)
    if ro is not None:
        console.print(
            f"{ro.strategy} release of {ro.candidate.label}: {standing(ro)}, weight {ro.weight}%, "
            f"{ro.failed_checks} failed check(s), {len(ro.history)} window(s)",
            markup=False,
        )
        if ro.history:
            console.print(f"  last: {ro.history[-1].reason}", markup=False)
    for past in state.past[-3:]:
        console.print(
            f"earlier: {past.strategy} {past.candidate.label} {standing(past)}: {past.reason}",
            markup=False,
        )


def shown_path(path: str | os.PathLike[str]) -> str:
    """A written file as the user would type it: relative to the working directory when it
    lies below it (files come back both as given and resolved), else absolute."""
    full = os.path.abspath(path)
    relative = os.path.relpath(full)
    return full if relative.startswith("..") else relative


def column_roles(console: Any, schema: Schema, command: str) -> None:
    """Every column's role and why (`init`, `schema infer`)."""
    table = _table("column", "role", "kind", "why")
    for c in schema.columns:
        role = c.role if c.role == "feature" else f"[bold]{c.role}[/]"
        table.add_row(_esc(c.name), role, c.kind, _esc(c.why or ""))
    _show(console, f"column roles (edit schema.yaml, or {command} --role COLUMN=ROLE)", table)


def initialised(console: Any, result: InitResult) -> None:
    """`mlgate init`: the column roles (and why), the positive class, warnings, files, DVC."""
    console.print(f"[green]initialised[/] {_esc(result.root)} ({result.task})")
    if result.schema is not None:
        column_roles(console, result.schema, "init")
    if result.positive_label is not None:
        console.print(
            f"positive class: {result.positive_label!r} (data.positive_label in mlgate.yaml)",
            markup=False,
        )
    for warning in result.warnings:
        console.print(f"[bold yellow]warning[/]: {_esc(warning)}")
    for f in result.files:
        console.print(f"  wrote {shown_path(f)}", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    if result.dvc is not None:
        dvc = result.dvc
        console.print(f"data tracked with DVC; data remote: {dvc.remote}", markup=False)
        if "://" not in dvc.remote:
            console.print(
                "  that remote is a directory on this machine: CI cannot pull from it. Point it "
                "at shared storage before pushing:\n"
                "    dvc remote add -d -f mlgate s3://BUCKET/PATH   (or gs://, azure://, ssh://)",
                markup=False,
            )
        console.print(
            "  then: git add -A && git commit -m 'mlgate project' && dvc push && git push",
            markup=False,
        )
    console.print(f"next: cd {result.root} && mlgate run", markup=False)


def monitor(console: Any, outcome: MonitorOutcome) -> None:
    """`mlgate monitor`: findings, performance, the features' drift, where the reports went."""
    result = outcome.result
    obs = result.observations
    named = f"{_esc(result.registered.label)} " if result.registered is not None else ""
    console.print(
        f"[bold]{_esc(result.model)} {named}[/]bundle {_esc(result.version)}: {obs.rows} rows "
        f"in {obs.requests} requests, {obs.errors} refused"
    )
    if obs.metric:

        def fmt(x: float | None) -> str:
            return "-" if x is None else f"{x:.3f}"

        console.print(
            f"  {obs.metric}: holdout {fmt(obs.reference)}, estimated {fmt(obs.estimated)}, "
            f"realised {fmt(obs.realised)} ({obs.labelled} labelled rows)",
            markup=False,
        )
    from mlgate.core.drift import drift_rule, statistic_name

    table = _table("feature", "statistic", "value", "drift when", "drift", "missing")
    for f in obs.features:
        d = f.drift
        table.add_row(
            _esc(f.name),
            statistic_name(d.method),
            "-" if d.statistic is None else f"{d.statistic:.4g}",
            drift_rule(d.method, d.threshold),
            "[bold red]yes[/]" if d.drifted else ("no" if d.checked else _esc(d.detail)),
            f"{f.missing_rate:.1%}",
        )
    _show(console, "drift", table)
    if result.verdict.findings:
        findings = _table("severity", "check", "finding")
        for finding in result.verdict.findings:
            findings.add_row(finding.severity, finding.check, _esc(finding.message))
        _show(console, "findings", findings)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    for path in outcome.reports:
        console.print(f"wrote {path}", markup=False)
    for done in outcome.deliveries:
        console.print(f"alert: {done}", markup=False)
    console.print(("[bold red]ALERT[/]" if result.alert else "[green]healthy[/]") + " monitor")
