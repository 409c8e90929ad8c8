"""The splitter's exporter: the router's access log as Prometheus series, per upstream.

    python -m mlgate.app.rollout.exporter --log ACCESS_LOG --upstreams FILE --port PORT

Each log line is one client request and lists every upstream attempt (nginx writes `a, b` when
it retried on the next server). Every attempt counts for the upstream that made it, with the
same names and buckets as the model server's own series (`mlgate_requests_total{route,status}`,
`mlgate_request_latency_seconds`) plus an `upstream` label, so the canary analysis reads the
splitter and a cluster's pods with the same queries. A refused connection is a 502 of the
candidate here, even though the client got the incumbent's answer.

The controller lists the variants' addresses in a JSON file (`--upstreams`) before it routes
traffic to them; their series are created at zero then, so Prometheus sees every request of a
new variant as an increase (a series that is born with a count hides that count from
`increase()`).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from mlgate.serve.metrics import LATENCY_BUCKETS

_ADDRESS = re.compile(r"^[^\s,:]+:\d+$")
PREDICT = "/predict"
STATUSES = ("200", "500", "502", "503", "504")


class SplitterMetrics:
    """Per-upstream requests and latency, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mlgate_requests",
            "Upstream attempts through the traffic splitter, by upstream, route and status.",
            ["upstream", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlgate_request_latency_seconds",
            "Upstream response time through the traffic splitter.",
            ["upstream", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lines = Counter(
            "mlgate_splitter_log_lines", "Access log lines read.", registry=self.registry
        )

    def announce(self, address: str) -> None:
        """Create a variant's /predict series at zero, before any of its traffic."""
        for status in STATUSES:
            self.requests.labels(address, PREDICT, status)
        self.latency.labels(address, PREDICT)

    def record(self, line: str) -> None:
        """Count one access log line; a line that is not ours is skipped."""
        try:
            entry: dict[str, Any] = json.loads(line)
        except ValueError:
            return
        self.lines.inc()
        route = str(entry.get("route") or "other")
        for address, status, seconds in attempts(entry):
            self.requests.labels(address, route, status).inc()
            if seconds is not None:
                self.latency.labels(address, route).observe(seconds)


def _split(value: object) -> list[str]:
    # nginx separates attempts with ", " and internal redirects with " : ".
    return [p.strip() for p in re.split(r"[,:]\s", str(value or "")) if p.strip()]


def attempts(entry: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """(upstream address, status, seconds) of every attempt an access log entry records."""
    addresses = _split(entry.get("addr"))
    statuses = _split(entry.get("ustatus"))
    times = _split(entry.get("utime"))
    out = []
    last = len(addresses) - 1
    for i, address in enumerate(addresses):
        if not _ADDRESS.match(address):
            continue  # an upstream group name: no server was tried
        status = statuses[i] if i < len(statuses) else "-"
        if not status.isdigit():
            # The client gave up while the last attempt ran (nginx logs 499): the client's doing,
            # never the upstream's error. Otherwise nginx gave up before any status.
            status = "499" if i == last and str(entry.get("status")) == "499" else "502"
        raw = times[i] if i < len(times) else "-"
        try:
            seconds: float | None = float(raw)
        except ValueError:
            seconds = None
        out.append((address, status, seconds))
    return out


def read_upstreams(path: Path | None, metrics: SplitterMetrics, seen: dict[str, float]) -> None:
    """Announce the addresses listed in `path` when the file changed since the last read."""
    if path is None:
        return
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return
    if seen.get(str(path)) == mtime:
        return
    try:
        addresses = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # being rewritten: read at the next poll
    seen[str(path)] = mtime
    for address in addresses if isinstance(addresses, list) else []:
        if isinstance(address, str) and _ADDRESS.match(address):
            metrics.announce(address)


def follow(
    path: Path,
    metrics: SplitterMetrics,
    stop: threading.Event,
    poll: float,
    upstreams: Path | None = None,
) -> None:
    """Read lines appended to `path` (from its end when started) until `stop` is set.

    A file that shrinks was truncated or replaced: it is read again from its start.
    """
    offset = path.stat().st_size if path.exists() else 0
    partial = b""
    seen: dict[str, float] = {}
    while not stop.is_set():
        read_upstreams(upstreams, metrics, seen)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < offset:
            offset, partial = 0, b""
        if size > offset:
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read(size - offset)
            offset += len(chunk)
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            for raw in lines:
                if raw.strip():
                    metrics.record(raw.decode("utf-8", "replace"))
        stop.wait(poll)


def main(argv: list[str] | None = None) -> int:
    """Serve the splitter's metrics until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m mlgate.app.rollout.exporter")
    parser.add_argument("--log", type=Path, required=True, help="The router's access log.")
    parser.add_argument("--upstreams", type=Path, help="JSON list of variant addresses.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--poll", type=float, default=0.1, help="Seconds between reads.")
    args = parser.parse_args(argv)
    metrics = SplitterMetrics()
    server, thread = start_http_server(args.port, addr=args.host, registry=metrics.registry)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        follow(args.log, metrics, stop, args.poll, args.upstreams)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
