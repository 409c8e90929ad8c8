"""`mlgate monitor` as one library call: monitor, write the reports, deliver the alerts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mlgate.app.monitor.alerts import AlertTargets, deliver, dispatch_body
from mlgate.app.monitor.outputs import JSON_FILE, write_reports
from mlgate.app.monitor.run import MonitorRequest, run_monitor
from mlgate.core.records.monitor import MonitorResult
from mlgate.store import atomic


@dataclass(frozen=True)
class MonitorOptions:
    """What `mlgate monitor` was asked beside the project: logs, period, labels, outputs."""

    logs: tuple[Path, ...] = ()
    since: str | None = None
    labels: tuple[Path, ...] = ()
    out: Path | None = None
    targets: AlertTargets | None = None
    dispatch_file: Path | None = None
    chunk_rows: int = 65_536
    cache: bool = True
    # --skew: a file of rows as computed offline, or "feast" (the project's feature store).
    skew: str | None = None


@dataclass(frozen=True)
class MonitorOutcome:
    """The result, the files written, and the alerts delivered."""

    result: MonitorResult
    reports: tuple[Path, ...]
    deliveries: tuple[str, ...]


def monitor(
    request: MonitorRequest,
    out: Path,
    targets: AlertTargets | None = None,
    dispatch_file: Path | None = None,
) -> MonitorOutcome:
    """Monitor, write monitor.json/.md/.html into `out`, then alert where `targets` say.

    `dispatch_file` receives the repository_dispatch body on an alert (for a workflow job that
    holds the write token and only sends it)."""
    result = run_monitor(request)
    reports = write_reports(result, out)
    if dispatch_file is not None and result.alert:
        event = targets.dispatch_event if targets is not None else "mlgate-retrain"
        body = json.dumps(dispatch_body(result, event), indent=2) + "\n"
        reports.append(atomic.write_text(dispatch_file, body))
    done = deliver(result, targets, out / JSON_FILE) if targets is not None else []
    return MonitorOutcome(result, tuple(reports), tuple(done))
