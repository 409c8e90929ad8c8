"""The state of a local rollout (`release.json`), one typed record read and written whole.

    RolloutState     what runs (the splitter's environment, the stable variant), the rollout
                     in progress and the last finished ones; a `Record` (format_version)
    RolloutRecord    one candidate's rollout: strategy, phase, weight, every window decided
    WindowRecord     one analysis window: the decision and every check with its verdict
    VariantRef, EnvironmentRef, ProcRef   the processes it started, by PID and start time

Version 1 spells check verdicts as `CheckStatus` (passed/failed/skipped); a state file written
before states were versioned (version 0) said pass/fail/skip, and `upgrade` renames them, so a
rollout left in progress by an older mlgate still resumes. Pure: no clock, the caller stamps
every time.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from mlgate.core.canary import Check
from mlgate.core.frozen import Frozen
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.base import LEGACY, Record
from mlgate.core.vocab import AnalysedStrategy, CheckStatus

Phase = Literal["progressing", "promoting", "rolling-back", "succeeded", "failed"]
ACTIVE: frozenset[str] = frozenset({"progressing", "promoting", "rolling-back"})
Action = Literal["promote", "continue", "rollback"]
VariantKind = Literal["process", "container", "external"]
# How version 0 spelt a check's verdict.
LEGACY_STATUS: dict[str, CheckStatus] = {"pass": "passed", "fail": "failed", "skip": "skipped"}


class ProcRef(Frozen):
    """A process a rollout started: PID, its start time, what it is, where it logs."""

    pid: int
    started: int
    what: str
    log: str | None = None


class VariantRef(Frozen):
    """A running model server of the release and how to reach, watch and stop it."""

    source: str
    label: str
    kind: VariantKind
    address: str
    metrics_address: str
    model: str | None = None
    version: int | None = None
    proc: ProcRef | None = None
    container: str | None = None
    engine: str | None = None
    log_dir: str | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.address}"


class EnvironmentRef(Frozen):
    """The splitter, exporter and Prometheus of a release."""

    host: str
    port: int
    router_port: int
    exporter_port: int
    prometheus_port: int
    scrape_interval: float
    edge: ProcRef
    router: ProcRef
    exporter: ProcRef
    prometheus: ProcRef

    @property
    def url(self) -> str:
        """The release's address: what clients call."""
        return f"http://{self.host}:{self.port}"

    @property
    def prometheus_url(self) -> str:
        """The release's Prometheus."""
        return f"http://127.0.0.1:{self.prometheus_port}"

    def processes(self) -> tuple[ProcRef, ...]:
        """Every process of the environment, edge first."""
        return (self.edge, self.router, self.exporter, self.prometheus)


# One check of a window, as it was decided: the analysis's own verdict type, stored as is.
CheckRecord = Check


class WindowRecord(Frozen):
    """One analysis window: when, at what weight, what was decided and on which checks."""

    ts: float
    weight: int
    action: Action
    reason: str
    # Continue: where the rollout goes on; rollback: how many checks failed in a row.
    next_weight: int | None = None
    failed_checks: int | None = None
    iterations: int | None = None
    checks: tuple[Check, ...] = ()

    def failed_names(self) -> list[str]:
        """The names of the checks that failed."""
        return [c.name for c in self.checks if c.failed]


class RolloutRecord(Frozen):
    """One candidate's rollout: where it stands and every decision taken."""

    id: str
    strategy: AnalysedStrategy
    phase: Phase = "progressing"
    candidate: VariantRef
    incumbent: str
    policy: CanaryConfig
    ab_key: str | None = None
    weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    started_at: float
    # When the candidate first got traffic (or its copy), when a rollback took it away again,
    # and when the rollout ended.
    routed_at: float | None = None
    reverted_at: float | None = None
    ended_at: float | None = None
    updated_at: float
    controller: ProcRef | None = None
    guard: ProcRef | None = None
    history: tuple[WindowRecord, ...] = ()
    reason: str | None = None
    registry_note: str | None = None

    @property
    def active(self) -> bool:
        """Still in progress: a controller (or the guard) must finish it."""
        return self.phase in ACTIVE


class RolloutState(Record):
    """Everything `mlgate deploy --target local` keeps between commands."""

    FORMAT: ClassVar[str] = "release.json"
    VERSION: ClassVar[int] = 1
    READS: ClassVar[frozenset[int]] = frozenset({LEGACY})

    model: str | None = None
    config: str | None = None
    environment: EnvironmentRef | None = None
    stable: VariantRef | None = None
    rollout: RolloutRecord | None = None
    # Finished rollouts, newest last (the last few are kept).
    past: tuple[RolloutRecord, ...] = ()

    @classmethod
    def upgrade(cls, raw: dict[str, object], version: int) -> dict[str, object]:
        """Version 0 (no format_version) said pass/fail/skip: rename to CheckStatus."""
        out = dict(raw)
        rollout, past = out.get("rollout"), out.get("past")
        if isinstance(rollout, dict):
            out["rollout"] = _upgrade_rollout(rollout)
        if isinstance(past, list):
            out["past"] = [_upgrade_rollout(r) if isinstance(r, dict) else r for r in past]
        return out


def _upgrade_rollout(raw: dict[str, object]) -> dict[str, object]:
    history = raw.get("history")
    if not isinstance(history, list):
        return raw
    return {**raw, "history": [_upgrade_window(w) if isinstance(w, dict) else w for w in history]}


def _upgrade_window(raw: dict[str, object]) -> dict[str, object]:
    checks = raw.get("checks")
    if not isinstance(checks, list):
        return raw
    renamed = [
        {**c, "status": LEGACY_STATUS.get(str(c.get("status")), c.get("status"))}
        if isinstance(c, dict)
        else c
        for c in checks
    ]
    return {**raw, "checks": renamed}
