"""monitor.json: what one `mlgate monitor` run found — the verdict, the observations it was
based on, the series the HTML report plots, and the registry version of the bundle judged
(when the registry knows it). Version 0 is the unversioned file of earlier releases; a file of
version 1 written before `registered` existed reads with it None.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import JsonValue

from mlgate.core.frozen import Frozen
from mlgate.core.records.base import Record
from mlgate.core.verdict import Observations, Verdict

_DERIVED = frozenset({"status", "alerts", "drifted_features"})


class WindowSummary(Frozen):
    """One time window, for the trend plots."""

    start: float
    rows: int
    requests: int
    errors: int
    drift: dict[str, float]
    drifted: tuple[str, ...]
    estimated: float | None = None
    realised: float | None = None
    labelled: int = 0


class Histogram(Frozen):
    """Reference and current shares over the same bins, for a plot."""

    feature: str
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


class Registered(Frozen):
    """The registry's name for the bundle judged: its model version and that version's aliases."""

    name: str
    version: int
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How the reports name it: `v3 (champion)`, or `v3` without an alias."""
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"v{self.version}{aliases}"


class MonitorResult(Record):
    """Everything the monitor found: what the reports and alerts are made from (monitor.json).

    The file also carries `status`, `alerts` and `drifted_features`, derived from the rest for
    readers that are not mlgate; reading drops them.
    """

    FORMAT: ClassVar[str] = "monitor.json"
    VERSION: ClassVar[int] = 1
    READS: ClassVar[frozenset[int]] = frozenset({0})

    model: str
    version: str
    task: str
    generated_at: str
    since: float | None
    until: float | None
    first: float | None
    last: float | None
    window_seconds: float
    verdict: Verdict
    observations: Observations
    windows: tuple[WindowSummary, ...]
    histograms: tuple[Histogram, ...]
    latency: dict[str, float]
    reference_metrics: dict[str, float]
    estimated: dict[str, float]
    realised: dict[str, float]
    files: tuple[str, ...]
    cached: tuple[str, ...]
    bad_lines: dict[str, int]
    notes: tuple[str, ...]
    # None: no registry version records the bundle's digest (or the file predates the field).
    registered: Registered | None = None

    @property
    def alert(self) -> bool:
        """Whether any finding is an alert."""
        return self.verdict.status == "alert"

    @classmethod
    def parse(cls, raw: object, source: str | None = None) -> MonitorResult:
        """Validate a decoded file, dropping the derived keys."""
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k not in _DERIVED}
        return super().parse(raw, source)

    def dump(self) -> dict[str, JsonValue]:
        """The file's mapping: the fields and the derived summary keys."""
        data = super().dump()
        data["status"] = self.verdict.status
        data["alerts"] = [f.message for f in self.verdict.alerts]
        data["drifted_features"] = [f.name for f in self.observations.features if f.drift.drifted]
        return data
