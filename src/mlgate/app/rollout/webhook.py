"""The canary analysis as a Flagger webhook: `mlgate canary webhook`.

Flagger POSTs `{"name", "namespace", "phase", "metadata": {...}, "checksum"}` to a rollout
webhook at every analysis interval and counts any answer above 202 as a failed check. Here:

    200  every check passed (the checks in the body)
    412  a check failed (the failed checks named in the body)
    400  the payload is not Flagger's (the field named)
    503  Prometheus could not be queried (Flagger counts it as a failed check too)

The webhook's `metadata` in the Canary resource says what to compare: `stable_selector` and
`canary_selector` (PromQL label matchers of the primary and canary pods), and optionally
`window`, `prometheus` and any threshold of the `canary:` policy (`max_error_rate`, ...), each
overriding the server's defaults. `GET /healthz` answers 200 for the pod's probes.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mlgate.app.rollout.analysis import AnalyzeOptions, analyze
from mlgate.core.policy import CanaryConfig, parse_duration
from mlgate.core.redact import scrub
from mlgate.errors import InfraError, MlgateError, UsageError

log = logging.getLogger("mlgate.webhook")
MAX_BODY = 64 * 1024
POLICY_KEYS = frozenset(CanaryConfig.model_fields) - {"interval", "iterations", "step_weight"}


@dataclass(frozen=True)
class WebhookDefaults:
    """What the server uses when a webhook's metadata does not say."""

    prometheus: str
    window: float | None = None
    config: Path | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)


def _payload(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise UsageError(f"body: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError("body: expected Flagger's webhook object")
    for key in ("name", "namespace", "phase"):
        if not isinstance(data.get(key), str):
            raise UsageError(f"{key}: required string in Flagger's webhook payload")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise UsageError("metadata: expected a map of strings")
    return data


def options_for(payload: dict[str, Any], defaults: WebhookDefaults) -> Any:
    """`AnalyzeOptions` for one call: the defaults, overridden by the webhook's metadata."""
    meta: dict[str, str] = payload.get("metadata") or {}
    unknown = set(meta) - POLICY_KEYS - {
        "stable_selector", "canary_selector", "window", "prometheus", "stable", "canary",
    }  # fmt: skip
    if unknown:
        raise UsageError(f"metadata.{sorted(unknown)[0]}: not a setting of the mlgate webhook")
    for key in ("stable_selector", "canary_selector"):
        if not meta.get(key):
            raise UsageError(f"metadata.{key}: required (PromQL label matchers of the pods)")
    window = defaults.window
    if "window" in meta:
        try:
            window = float(parse_duration(meta["window"]))  # type: ignore[arg-type]
        except ValueError as exc:
            raise UsageError(f"metadata.window: {exc}") from None
    policy = {**defaults.policy, **{k: v for k, v in meta.items() if k in POLICY_KEYS}}
    name = f"{payload['name']}.{payload['namespace']}"
    return AnalyzeOptions(
        stable=meta.get("stable", f"{name} primary"),
        canary=meta.get("canary", f"{name} canary"),
        prometheus=meta.get("prometheus", defaults.prometheus),
        stable_selector=meta["stable_selector"],
        canary_selector=meta["canary_selector"],
        window=window,
        config=defaults.config,
        policy=policy,
    )


def handle(body: bytes, defaults: WebhookDefaults) -> tuple[int, dict[str, Any]]:
    """Status and JSON answer for one webhook call.

    The answer goes to Flagger's events and logs: no Prometheus address in it shows its
    credentials (`mlgate.core.redact`).
    """
    addresses = [defaults.prometheus]
    try:
        payload = _payload(body)
        addresses.append(str((payload.get("metadata") or {}).get("prometheus", "")))
        options = options_for(payload, defaults)
        result = analyze(options)
    except InfraError as exc:
        return 503, {"passed": False, "error": scrub(str(exc), addresses)}
    except MlgateError as exc:
        return 400, {"passed": False, "error": scrub(str(exc), addresses)}
    answer = result.to_dict()
    answer["source"] = scrub(str(answer["source"]), addresses)
    answer["canary"] = f"{payload['name']}.{payload['namespace']}"
    answer["phase"] = payload["phase"]
    if not result.passed:
        answer["failed"] = [f"{c.name}: {c.message}" for c in result.checks if c.failed]
    log.info(
        "%s %s: %s", answer["canary"], payload["phase"], "passed" if result.passed else "FAILED"
    )
    return (200 if result.passed else 412), answer


def make_server(host: str, port: int, defaults: WebhookDefaults) -> ThreadingHTTPServer:
    """The HTTP server (not started): POST any path = analysis, GET /healthz = liveness."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "mlgate-canary-webhook"

        def _send(self, status: int, data: dict[str, Any]) -> None:
            body = json.dumps(data, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] in ("/healthz", "/ready", "/health"):
                self._send(200, {"status": "ok"})
            else:
                self._send(404, {"error": "POST Flagger's webhook payload to this server"})

        def do_POST(self) -> None:
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY:
                self._send(
                    400, {"passed": False, "error": "body: Content-Length missing or over 64 KiB"}
                )
                return
            status, data = handle(self.rfile.read(int(length)), defaults)
            self._send(status, data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)


def serve(host: str, port: int, defaults: WebhookDefaults, ready: Callable[[str], None]) -> None:
    """Serve until SIGTERM/SIGINT (or KeyboardInterrupt)."""

    server = make_server(host, port, replace(defaults))
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    ready(f"http://{host}:{server.server_address[1]}")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
