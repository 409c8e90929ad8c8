"""Canary commands: the analysis as a command (`analyze`, exit 0/1 for an Argo Rollouts Job
metric) and as a Flagger webhook (`webhook`), and the local release's `status` and `stop`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlgate.cli import render
from mlgate.cli.app import (
    DEFAULT_CONFIG,
    ConfigOpt,
    Group,
    HostOpt,
    JsonOpt,
    PortOpt,
    app,
    console,
    print_json,
)
from mlgate.errors import GateFailed

if TYPE_CHECKING:
    from mlgate.core.records.rollout import RolloutRecord

# Deferred imports: each command imports its use case when it runs, so that `mlgate --help`, a
# usage error and every command's start-up import only the CLI (tests/unit/cli/test_help.py).

canary_app = typer.Typer(
    name="canary",
    help="Canary analysis (Argo Rollouts job, Flagger webhook) and the local release.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=Group,
)
app.add_typer(canary_app)

PrometheusOpt = Annotated[
    str | None,
    typer.Option(
        "--prometheus",
        envvar="MLGATE_PROMETHEUS_URL",
        help="Prometheus base URL; without it both servers' /metrics are scraped directly.",
    ),
]
WindowOpt = Annotated[
    str | None,
    typer.Option("--window", help="Analysis window, seconds or 30s/1m [policy interval]."),
]
MaxErrorRate = Annotated[
    float | None, typer.Option("--max-error-rate", help="Most candidate 5xx, % [1].")
]
MaxP99 = Annotated[float | None, typer.Option("--max-p99-ms", help="Highest candidate p99 [500].")]
MaxP99Increase = Annotated[
    float | None,
    typer.Option("--max-p99-increase-ms", help="Most the p99 may exceed the incumbent's [100]."),
]
MaxDivergence = Annotated[
    float | None,
    typer.Option("--max-divergence", help="Highest prediction divergence [0.1]."),
]
MinRequests = Annotated[
    int | None, typer.Option("--min-requests", help="Fewest candidate requests [20].")
]
StateDirOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="The local release's state directory.")
]


def _policy(
    max_error_rate: float | None,
    max_p99_ms: float | None,
    max_p99_increase_ms: float | None,
    max_divergence: float | None,
    min_requests: int | None,
) -> dict[str, float | int | None]:
    return {
        "max_error_rate": max_error_rate,
        "max_p99_ms": max_p99_ms,
        "max_p99_increase_ms": max_p99_increase_ms,
        "max_divergence": max_divergence,
        "min_requests": min_requests,
    }


def _seconds(window: str | None) -> float | None:
    from mlgate.core.policy import parse_duration
    from mlgate.errors import UsageError

    if window is None:
        return None
    try:
        value = parse_duration(window)
    except ValueError as exc:
        raise UsageError(f"--window: {exc}") from None
    if not isinstance(value, float) or value <= 0:
        raise UsageError(f"--window {window!r}: give a positive duration, e.g. 1m")
    return value


@canary_app.command("analyze")
def analyze_cmd(
    stable: Annotated[str, typer.Option("--stable", help="The incumbent's base URL.")],
    canary: Annotated[str, typer.Option("--canary", help="The candidate's base URL.")],
    prometheus: PrometheusOpt = None,
    stable_selector: Annotated[
        str | None,
        typer.Option("--stable-selector", help='PromQL matchers of the incumbent, e.g. pod="a".'),
    ] = None,
    canary_selector: Annotated[
        str | None,
        typer.Option("--canary-selector", help="PromQL matchers of the candidate."),
    ] = None,
    window: WindowOpt = None,
    max_error_rate: MaxErrorRate = None,
    max_p99_ms: MaxP99 = None,
    max_p99_increase_ms: MaxP99Increase = None,
    max_divergence: MaxDivergence = None,
    min_requests: MinRequests = None,
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
) -> None:
    """One analysis window of the candidate against the incumbent: exit 0 when every check
    passes, 1 when one fails (an Argo Rollouts Job metric's verdict)."""
    from mlgate.app.rollout.analysis import AnalyzeOptions, analyze

    result = analyze(
        AnalyzeOptions(
            stable=stable,
            canary=canary,
            prometheus=prometheus,
            stable_selector=stable_selector,
            canary_selector=canary_selector,
            window=_seconds(window),
            config=config,
            policy=_policy(
                max_error_rate, max_p99_ms, max_p99_increase_ms, max_divergence, min_requests
            ),
        )
    )
    if as_json:
        print_json(result.to_dict())
    else:
        render.analysis(console(), result.checks, result.passed)
    if not result.passed:
        failed = "; ".join(f"{c.name}: {c.message}" for c in result.checks if c.failed)
        raise GateFailed(f"canary analysis failed: {failed}")


@canary_app.command("webhook")
def webhook_cmd(
    prometheus: Annotated[
        str,
        typer.Option(
            "--prometheus",
            envvar="MLGATE_PROMETHEUS_URL",
            help="Prometheus base URL (a webhook's metadata.prometheus overrides it).",
        ),
    ] = "http://prometheus.monitoring:9090",
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8080,
    window: WindowOpt = None,
    max_error_rate: MaxErrorRate = None,
    max_p99_ms: MaxP99 = None,
    max_p99_increase_ms: MaxP99Increase = None,
    max_divergence: MaxDivergence = None,
    min_requests: MinRequests = None,
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Serve the analysis in Flagger's webhook format: 200 passed, 412 failed."""
    from mlgate.app.rollout.webhook import WebhookDefaults, serve

    term = console()
    serve(
        host,
        port,
        WebhookDefaults(
            prometheus=prometheus,
            window=_seconds(window),
            config=config,
            policy=_policy(
                max_error_rate, max_p99_ms, max_p99_increase_ms, max_divergence, min_requests
            ),
        ),
        ready=lambda url: term.print(f"canary webhook on {url}", markup=False),
    )


@canary_app.command("status")
def status_cmd(
    state_dir: StateDirOpt = None, config: ConfigOpt = DEFAULT_CONFIG, as_json: JsonOpt = False
) -> None:
    """What the local release serves, where its rollout stands, and whether anyone still
    decides it (its controller, or the guard that rolls it back)."""
    from mlgate.app.rollout.service import rollout_status
    from mlgate.app.rollout.state import deciding

    state = rollout_status(config, state_dir)
    ro = state.rollout
    who = deciding(ro) if ro is not None else None
    if as_json:
        from mlgate.core.rollout import standing

        data = state.model_dump(mode="json")
        if ro is not None:
            data["standing"] = standing(ro)  # a phase, or "paused: no traffic"
        if who is not None:
            data["deciding"] = {"controller": who.controller, "guard": who.guard}
            data["stalled"] = who.stalled
        print_json(data)
        return
    term = console()
    render.release_status(term, state)
    if ro is None or who is None:
        return
    if who.stalled:
        term.print(
            "stalled: nobody is deciding (the release controller and its guard are not "
            f"running); run `mlgate canary stop{_state_flag(state_dir)}` to roll it back, or "
            f"resume it with `{_resume_command(ro, config, state_dir)}`",
            markup=False,
        )
    elif not who.controller:
        term.print(
            "no controller is deciding: its guard rolls the release back unless "
            f"`{_resume_command(ro, config, state_dir)}` resumes it first",
            markup=False,
        )


def _state_flag(state_dir: Path | None) -> str:
    return f" --state-dir {shlex.quote(str(state_dir))}" if state_dir is not None else ""


def _resume_command(ro: RolloutRecord, config: Path, state_dir: Path | None) -> str:
    """The deploy that resumes `ro`: the same target, strategy and candidate."""
    parts = ["mlgate deploy --target local", f"--strategy {ro.strategy}"]
    parts.append(f"--candidate {shlex.quote(ro.candidate.source)}")
    if ro.ab_key:
        parts.append(f"--ab-key {shlex.quote(ro.ab_key)}")
    if config != DEFAULT_CONFIG:
        parts.append(f"--config {shlex.quote(str(config))}")
    return " ".join(parts) + _state_flag(state_dir)


@canary_app.command("stop")
def stop_cmd(
    state_dir: StateDirOpt = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why: recorded with your name in the release's report."),
    ] = None,
    config: ConfigOpt = DEFAULT_CONFIG,
) -> None:
    """Stop the local release: take a rollout in progress back (recorded as stopped by you,
    not as a rejection of the candidate), then stop every process."""
    from mlgate.app.rollout.service import rollout_stop

    term = console()
    done = rollout_stop(config, state_dir, lambda m: term.print(m, markup=False), reason=reason)
    for line in done or ["nothing runs"]:
        term.print(line, markup=False)
