"""Which candidates a release may take: only a gated, registered model nobody rejected.

`decide_release(facts, override)` is pure: the app layer gathers the facts about a candidate
(`mlgate deploy`, `mlgate promote`), this decides. A candidate is refused, with every reason at
once, when

    its gate did not pass   the gate report it carries failed, is missing, or judged another
                            bundle; or nothing tells (an image, a running server)
    it is not registered    no registry version records it (by the digest of its bundle)
    a release rejected it   the registry records a rollback of one of its releases

unless an override with a reason is given: then it is allowed, and the reasons it set aside are
returned for the caller to record (on the version, and in the release's state and report).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlgate.errors import GateFailed, UsageError

GateStatus = Literal["passed", "failed", "missing", "stale", "unknown"]
OVERRIDE_HINT = (
    'release a registered version that passed its gate, or pass --override "REASON" to '
    "release it anyway (the reason is recorded with your name)"
)


@dataclass(frozen=True)
class GateFact:
    """What the candidate's gate said of it; `detail` says why when it did not pass."""

    status: GateStatus
    detail: str = ""


@dataclass(frozen=True)
class Rejection:
    """The last rollback the registry records against the candidate's version."""

    by: str
    at: str
    reason: str


@dataclass(frozen=True)
class CandidateFacts:
    """What is known of a candidate: its gate, whether it is a registered version, and the
    rejection recorded against that version."""

    label: str
    gate: GateFact
    version: int | None = None
    rejection: Rejection | None = None

    @property
    def registered(self) -> bool:
        """A registry version records this candidate."""
        return self.version is not None


@dataclass(frozen=True)
class Allowed:
    """The candidate may be released; `overridden` holds what an override set aside."""

    label: str
    overridden: tuple[str, ...] = ()
    override: str | None = None


@dataclass(frozen=True)
class Refused:
    """The candidate may not be released, for each of `reasons`."""

    label: str
    reasons: tuple[str, ...]

    def error(self, action: str = "release") -> GateFailed:
        """The verdict as an error (exit 1) naming every reason and the way past it."""
        return GateFailed(
            f"refusing to {action} {self.label}: " + "; ".join(self.reasons), hint=OVERRIDE_HINT
        )


Decision = Allowed | Refused


def refusals(facts: CandidateFacts) -> tuple[str, ...]:
    """Every reason the candidate may not be released, in order: gate, registry, rejection."""
    reasons: list[str] = []
    gate = facts.gate
    if gate.status == "failed":
        reasons.append("its gate did not pass" + (f" ({gate.detail})" if gate.detail else ""))
    elif gate.status != "passed":
        reasons.append(gate.detail or "it carries no passing gate report")
    if not facts.registered:
        reasons.append("it is not a registered version (register it with `mlgate register`)")
    if facts.rejection is not None:
        r = facts.rejection
        reasons.append(f"a release rejected it (by {r.by} at {r.at}: {r.reason})")
    return tuple(reasons)


def decide_release(facts: CandidateFacts, override: str | None = None) -> Decision:
    """Allowed when nothing stands against the candidate, or when an override (a non-empty
    reason, see `override_reason`) sets every reason aside; else Refused with the reasons."""
    reasons = refusals(facts)
    if not reasons:
        return Allowed(facts.label)
    if override is None:
        return Refused(facts.label, reasons)
    return Allowed(facts.label, overridden=reasons, override=override)


def override_reason(text: str | None) -> str | None:
    """`--override`'s reason, stripped; an empty one is a UsageError (an override says why)."""
    if text is None:
        return None
    reason = " ".join(text.split())
    if not reason:
        raise UsageError(
            "--override needs a reason: it is recorded with your name on the release",
            hint='e.g. --override "hotfix for incident 42, gate rerun pending"',
        )
    return reason
