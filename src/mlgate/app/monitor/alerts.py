"""Telling people and starting retraining: a webhook, GitHub's repository_dispatch, a command.

- Webhook: `POST` JSON with a Slack-compatible `text` (Slack, Mattermost and Teams' incoming
  webhooks show it) plus the structured verdict under `mlgate`, for any other receiver.
- Retrain trigger: GitHub's REST `POST /repos/{owner}/{repo}/dispatches` with
  `{"event_type": "mlgate-retrain", "client_payload": {...}}`, authenticated by a token from the
  environment (`GITHUB_TOKEN`, or `MLGATE_GITHUB_TOKEN` when both are set); the base URL is
  `GITHUB_API_URL` (set in GitHub Actions; GitHub Enterprise) or https://api.github.com. The
  training workflow `mlgate init` writes listens for that event type.
- A local command (no shell), with `MLGATE_MONITOR_REPORT` pointing at monitor.json.

A delivery that fails is an InfraError (exit 3) naming the target and the status.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.core.records.monitor import MonitorResult
from mlgate.core.redact import redact_uri, scrub
from mlgate.errors import InfraError, UsageError

EVENT_TYPE = "mlgate-retrain"
GITHUB_API = "https://api.github.com"
API_VERSION = "2022-11-28"
TIMEOUT = 15.0
TOKEN_ENVS = ("MLGATE_GITHUB_TOKEN", "GITHUB_TOKEN")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class AlertTargets:
    """Where an alert goes; every target is optional."""

    webhook: str | None = None
    dispatch_repo: str | None = None
    dispatch_event: str = EVENT_TYPE
    github_api: str | None = None
    command: str | None = None
    always: bool = False


def summary_text(result: MonitorResult) -> str:
    """One message for a chat channel, in Slack's mrkdwn. Findings quote what clients sent
    (category values): escaped, and in code spans, they mention, link and format nothing."""
    from mlgate.core.escape import slack_code, slack_text  # only this function escapes text

    model, version = slack_text(result.model), slack_text(result.version)
    head = f"mlgate monitor: {model} {version} is {result.verdict.status.upper()}"
    alerts = [f for f in result.verdict.findings if f.severity == "alert"]
    lines = [f"• {slack_code(f.message)}" for f in alerts]
    return head + ("\n" + "\n".join(lines) if lines else "")


def payload(result: MonitorResult) -> dict[str, Any]:
    """The structured part of every alert."""
    obs = result.observations
    return {
        "model": result.model,
        "version": result.version,
        "status": result.verdict.status,
        "alerts": [f.model_dump(mode="json") for f in result.verdict.alerts],
        "drifted_features": [f.name for f in obs.features if f.drift.drifted],
        "rows": obs.rows,
        "metric": obs.metric,
        "reference": obs.reference,
        "estimated": obs.estimated,
        "realised": obs.realised,
    }


def dispatch_body(result: MonitorResult, event_type: str = EVENT_TYPE) -> dict[str, Any]:
    """The repository_dispatch request body (client_payload: at most 10 top-level keys)."""
    data = payload(result)
    data["reasons"] = [f.message for f in result.verdict.alerts][:10]
    del data["alerts"]
    return {"event_type": event_type, "client_payload": data}


def _post(url: str, body: dict[str, Any], headers: dict[str, str], what: str) -> int:
    # A webhook's address is its credential (Slack's carries the token in its path): messages
    # show it redacted, and neither the answer nor the error may quote a secret of it.
    shown = redact_uri(url)
    try:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "mlgate", **headers},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:  # it holds the connection
            detail = scrub(exc.read(500).decode("utf-8", "replace"), [url])
        raise InfraError(f"{what} failed: {shown} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = scrub(str(exc), [url])
        raise InfraError(f"{what} failed: cannot reach {shown}: {reason}") from None
    except (http.client.InvalidURL, ValueError) as exc:
        # A URL urllib cannot use (no scheme, a port that is not a number); its text quotes it.
        reason = scrub(str(exc), [url])
        raise UsageError(
            f"{what}: cannot use the address {shown}: {reason}",
            hint="an http:// or https:// URL (percent-encode a password's '/', '@' and ':')",
        ) from None
    except http.client.HTTPException as exc:  # not HTTP on the other end, or cut short
        reason = scrub(f"{type(exc).__name__}: {exc}", [url])
        raise InfraError(f"{what} failed: {shown} did not answer HTTP: {reason}") from None


def send_webhook(url: str, result: MonitorResult) -> int:
    """POST the alert to a webhook; returns the HTTP status."""
    body = {"text": summary_text(result), "mlgate": payload(result)}
    return _post(url, body, {}, "webhook")


def github_token(environ: dict[str, str] | None = None) -> str:
    """The token for the GitHub API, from the environment."""
    env = os.environ if environ is None else environ
    for name in TOKEN_ENVS:
        if env.get(name):
            return env[name]
    raise UsageError(
        "a repository_dispatch needs a GitHub token in the environment",
        hint=f"set {' or '.join(TOKEN_ENVS)} (contents: write on the repository)",
    )


def send_dispatch(
    repo: str, result: MonitorResult, *, event_type: str = EVENT_TYPE, api: str | None = None
) -> int:
    """Start the training workflow through GitHub's repository_dispatch; returns the status."""
    if not _REPO.match(repo):
        raise UsageError(f"--dispatch {repo!r} is not OWNER/REPO")
    base = (api or os.environ.get("GITHUB_API_URL") or GITHUB_API).rstrip("/")
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {github_token()}",
        "X-GitHub-Api-Version": API_VERSION,
    }
    return _post(
        f"{base}/repos/{repo}/dispatches",
        dispatch_body(result, event_type),
        headers,
        "repository_dispatch",
    )


def run_command(command: str, report: Path) -> None:
    """Run the operator's command (no shell) with the report's path in the environment."""
    argv = shlex.split(command)
    if not argv:
        raise UsageError("--on-alert: the command is empty")
    env = {**os.environ, "MLGATE_MONITOR_REPORT": str(report)}
    try:
        proc = subprocess.run(
            argv, env=env, check=False, capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfraError(f"--on-alert command {argv[0]!r} could not run: {exc}") from None
    if proc.returncode != 0:
        raise InfraError(
            f"--on-alert command {argv[0]!r} exited {proc.returncode}: {proc.stderr.strip()[-500:]}"
        )


def deliver(result: MonitorResult, targets: AlertTargets, report: Path) -> list[str]:
    """Send what `targets` ask for (on an alert, or always); returns what was done."""
    if not (result.alert or targets.always):
        return []
    done: list[str] = []
    if targets.webhook:
        done.append(f"webhook: HTTP {send_webhook(targets.webhook, result)}")
    if targets.dispatch_repo and result.alert:
        status = send_dispatch(
            targets.dispatch_repo, result, event_type=targets.dispatch_event, api=targets.github_api
        )
        target = f"{targets.dispatch_event} to {targets.dispatch_repo}"
        done.append(f"repository_dispatch {target}: HTTP {status}")
    if targets.command and result.alert:
        run_command(targets.command, report)
        done.append(f"ran {shlex.split(targets.command)[0]}")
    return done
