"""gate.json: the quality gate's verdict on one bundle, and the numbers it was based on.

Written once by `mlgate gate` (into reports/ and into the bundle, identical bytes) and read
back through this type by the report, the registry and the server's /metadata. Version 0 is the
unversioned file of earlier releases: same fields, read as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from mlgate.core.frozen import Frozen
from mlgate.core.gates import GateCheck, GateVerdict
from mlgate.core.records.base import Record


class ChampionScore(Frozen):
    """The model the challenger was compared with, and its metrics on the same holdout."""

    label: str | None
    metrics: dict[str, float]


class GateReport(Record):
    """The verdict, and the numbers it was based on."""

    FORMAT: ClassVar[str] = "gate.json"
    VERSION: ClassVar[int] = 1
    READS: ClassVar[frozenset[int]] = frozenset({0})

    passed: bool
    model: str
    bundle: str
    # What was judged: the bundle's files (but gate.json) as one digest; registration checks it.
    bundle_digest: str | None = None
    evaluated_at: str
    holdout_rows: int
    challenger: dict[str, float]
    champion: ChampionScore | None = None
    baseline: dict[str, float] | None = None
    positive_label: JsonValue = None
    dropped_target_rows: int = 0
    checks: tuple[GateCheck, ...] = ()
    failures: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        verdict: GateVerdict,
        *,
        model: str,
        bundle: Path | str,
        evaluated_at: str,
        holdout_rows: int,
        challenger: dict[str, float],
        champion: ChampionScore | None = None,
        baseline: dict[str, float] | None = None,
        positive_label: JsonValue = None,
        dropped_target_rows: int = 0,
        bundle_digest: str | None = None,
    ) -> GateReport:
        """The record of a verdict: its checks, failures and notes with the numbers."""
        return cls(
            passed=verdict.passed,
            model=model,
            bundle=str(bundle),
            bundle_digest=bundle_digest,
            evaluated_at=evaluated_at,
            holdout_rows=holdout_rows,
            challenger=challenger,
            champion=champion,
            baseline=baseline,
            positive_label=positive_label,
            dropped_target_rows=dropped_target_rows,
            checks=verdict.checks,
            failures=tuple(c.message for c in verdict.failures),
            notes=verdict.notes,
        )

    @property
    def verdict(self) -> GateVerdict:
        """The checks as a verdict."""
        return GateVerdict(passed=self.passed, checks=self.checks, notes=self.notes)

    @property
    def champion_label(self) -> str | None:
        """How the champion is named in reports, when there was one."""
        return None if self.champion is None else self.champion.label

    @property
    def champion_metrics(self) -> dict[str, float] | None:
        """The champion's metrics on the holdout, when there was one."""
        return None if self.champion is None else self.champion.metrics

    @property
    def bundle_dir(self) -> Path:
        """The bundle that was judged."""
        return Path(self.bundle)

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready form (the file's content)."""
        return self.dump()
