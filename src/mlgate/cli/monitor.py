"""`mlgate monitor`: the prediction log against the bundle's reference; alerts and retraining."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlgate.cli import render
from mlgate.cli.app import DEFAULT_CONFIG, ConfigOpt, JsonOpt, app, console, print_json
from mlgate.errors import GateFailed

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).


@app.command("monitor")
def monitor_cmd(
    logs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[LOGS]...",
            help="Prediction log files or directories (default: monitor.logs in mlgate.yaml).",
        ),
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    bundle: Annotated[
        str | None,
        typer.Option(
            "--bundle",
            help="The served model: a bundle directory, models:/NAME@ALIAS, or @ALIAS for "
            "this project's model in its registry (default: the bundle that answered the "
            "logged requests, the project's or a registered version).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Look back this far (90m, 24h, 7d) or `all`."),
    ] = None,
    labels: Annotated[
        list[Path] | None,
        typer.Option(
            "--labels",
            help="True labels by request id (CSV: request_id,label[,row]; or JSON lines like "
            "feedback.jsonl, which is read from the log directory anyway).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Directory for monitor.html/.json/.md (default reports/monitor)."
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook", envvar="MLGATE_WEBHOOK_URL", help="POST alerts here (Slack-compatible)."
        ),
    ] = None,
    dispatch: Annotated[
        str | None,
        typer.Option(
            "--dispatch",
            metavar="OWNER/REPO",
            help="On an alert, start retraining with GitHub's repository_dispatch "
            "(token from GITHUB_TOKEN or MLGATE_GITHUB_TOKEN).",
        ),
    ] = None,
    dispatch_event: Annotated[
        str, typer.Option("--dispatch-event", help="The event type the training workflow awaits.")
    ] = "mlgate-retrain",
    dispatch_file: Annotated[
        Path | None,
        typer.Option(
            "--dispatch-file", help="On an alert, write the repository_dispatch body here."
        ),
    ] = None,
    github_api: Annotated[
        str | None,
        typer.Option(
            "--github-api", help="GitHub API base URL (default: GITHUB_API_URL or github.com)."
        ),
    ] = None,
    on_alert: Annotated[
        str | None, typer.Option("--on-alert", help="Run this command on an alert (no shell).")
    ] = None,
    notify_always: Annotated[
        bool, typer.Option("--notify-always", help="Send the webhook when healthy too.")
    ] = False,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1024, help="Rows read at a time.")
    ] = 65_536,
    cache: Annotated[
        bool,
        typer.Option("--cache/--no-cache", help="Keep rotated logs as Parquet beside them."),
    ] = True,
    skew: Annotated[
        str | None,
        typer.Option(
            "--skew",
            metavar="FILE|feast",
            help="Training/serving skew: compare the served features with these rows as "
            "computed offline (CSV or Parquet: request_id[,row], features), or with the "
            "feature store's offline values for the logged entities (`feast`).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Drift, data quality, errors, latency and performance (with or without labels) of the
    served model over a period of its prediction log; exit 1 on an alert."""
    from mlgate.app.monitor.alerts import AlertTargets
    from mlgate.app.monitor.project import monitor_project
    from mlgate.app.monitor.service import MonitorOptions
    from mlgate.store.project import load_project

    targets = AlertTargets(
        webhook=webhook,
        dispatch_repo=dispatch,
        dispatch_event=dispatch_event,
        github_api=github_api,
        command=on_alert,
        always=notify_always,
    )
    options = MonitorOptions(
        logs=tuple(logs or ()),
        since=since,
        labels=tuple(labels or ()),
        out=out,
        targets=targets,
        dispatch_file=dispatch_file,
        chunk_rows=chunk_rows,
        cache=cache,
        skew=skew,
    )
    outcome = monitor_project(load_project(config), bundle, options)
    if as_json:
        from mlgate.app.monitor.outputs import to_dict

        print_json(to_dict(outcome.result))
    else:
        render.monitor(console(), outcome)
    if outcome.result.alert:
        raise GateFailed("; ".join(f.message for f in outcome.result.verdict.alerts))
