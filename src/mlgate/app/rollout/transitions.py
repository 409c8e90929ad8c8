"""How a local release ends: promoted (the candidate takes all traffic, the incumbent drains
and stops, `champion` moves) or rolled back (traffic back to the incumbent, the candidate
stops, the reason goes into the registry), each step written to the state file before the
next, so that a controller that stops half way is resumed by the next one; then the report.

A rollback someone asked for (`mlgate canary stop`, SIGTERM or Ctrl-C to the controller) is a
stop: the state and the report say "stopped by ACTOR", and nothing is recorded against the
candidate in the registry. A candidate starts only once the release policy admits it
(`Run.admit`); an override is recorded on its version, in `admission.json` and in the report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlgate.adapters.nginx import AbKey, Route
from mlgate.app.rollout import report, sources
from mlgate.app.rollout.ports import Ports
from mlgate.app.rollout.state import (
    ReleaseAdmission,
    StopRequest,
    clear_stop,
    last_admission,
    request_stop,
    save,
    save_admission,
    stop_request,
)
from mlgate.core.records.rollout import EnvironmentRef, RolloutRecord, RolloutState, VariantRef
from mlgate.core.rollout import ended_as
from mlgate.core.vocab import ReleaseStrategy
from mlgate.errors import MlgateError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import Registry

Say = Callable[[str], None]
Ended = Literal["succeeded", "failed"]
KEEP_PAST = 20


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How a release ended (built by `finish`, the one place a release ends)."""

    phase: Ended
    strategy: ReleaseStrategy
    candidate: str
    incumbent: str | None
    reason: str
    url: str
    windows: int
    report: Path | None = None
    registry_note: str | None = None
    registry_failed: bool = False
    stopped: bool = False
    override: str | None = None

    @property
    def ended_as(self) -> str:
        """promoted, rolled back (a verdict against the candidate), not promoted, or stopped
        (someone asked: no verdict either)."""
        return "stopped" if self.stopped else ended_as(self.phase, self.reason)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json`."""
        return {
            "phase": self.phase,
            "strategy": self.strategy,
            "candidate": self.candidate,
            "incumbent": self.incumbent,
            "reason": self.reason,
            "url": self.url,
            "windows": self.windows,
            "report": str(self.report) if self.report else None,
            "registry_note": self.registry_note,
            "registry_failed": self.registry_failed,
            "ended_as": self.ended_as,
            "stopped": self.stopped,
            "override": self.override,
        }


@dataclass(frozen=True)
class RegistryNote:
    """What the registry was told of the release, and whether telling it failed."""

    text: str
    failed: bool = False


def quiet(_message: str) -> None:
    """A `Say` that says nothing."""


@dataclass
class Run:
    """One controller's working set: the state (replaced, never mutated, at every step)."""

    state_dir: Path
    state: RolloutState
    registry: Registry | None
    say: Say
    stopping: threading.Event
    actor: str
    ports: Ports
    report_dir: Path | None = None

    @property
    def rollout(self) -> RolloutRecord:
        assert self.state.rollout is not None
        return self.state.rollout

    @property
    def stable(self) -> VariantRef:
        assert self.state.stable is not None
        return self.state.stable

    @property
    def env(self) -> EnvironmentRef:
        assert self.state.environment is not None
        return self.state.environment

    def update(self, **changes: Any) -> None:
        """Change fields of the state and write it."""
        self.state = self.state.model_copy(update=changes)
        self.save()

    def update_rollout(self, **changes: Any) -> RolloutRecord:
        """Change fields of the rollout in progress and write the state; returns the rollout."""
        self.update(rollout=self.rollout.model_copy(update=changes))
        return self.rollout

    def save(self) -> None:
        """Write the state as it stands."""
        self.state = save(self.state_dir, self.state)

    def admit(
        self, candidate: sources.Source, check: sources.ReleaseCheck, strategy: ReleaseStrategy
    ) -> None:
        """Refuse a candidate the release policy refuses (GateFailed); record how it passed:
        an override goes on its registry version (when it is one) and into `admission.json`."""
        allowed = sources.admit(candidate, check, registry=self.registry)
        set_aside = "; ".join(allowed.overridden)
        if allowed.override is not None:
            self.say(f"OVERRIDE by {self.actor}: releasing {candidate.label} although {set_aside}")
            if self.registry is not None and candidate.model and candidate.version is not None:
                self.registry.record_override(
                    candidate.model, candidate.version, reason=allowed.override,
                    actor=self.actor, overridden=set_aside,
                )  # fmt: skip
        admission = ReleaseAdmission(
            candidate=candidate.text, label=candidate.label, strategy=strategy,
            actor=self.actor, at=time.time(), override=allowed.override,
            overridden=allowed.overridden,
        )  # fmt: skip
        save_admission(self.state_dir, admission)


def route_for(rollout: RolloutRecord, stable: VariantRef) -> Route:
    """The split a rollout at its weight asks of the splitter."""
    if rollout.strategy == "ab":
        key = AbKey.parse(rollout.ab_key or "")
        return Route(stable.address, rollout.candidate.address, "ab", rollout.weight, key)
    mode: Literal["canary", "shadow"] = "shadow" if rollout.strategy == "shadow" else "canary"
    return Route(stable.address, rollout.candidate.address, mode, rollout.weight)


def promote(run: Run, variant: VariantRef, reason: str) -> Outcome:
    """Promote: `variant` takes all traffic, the old stable drains and stops, the alias moves;
    without a rollout in progress it is a direct release."""
    direct = run.state.rollout is None
    if not direct:
        run.update_rollout(phase="promoting", reason=reason)
    old, splitter = run.stable, run.ports.splitter
    splitter.route(run.env, Route(variant.address))
    run.update(stable=variant)
    splitter.targets(run.env, {"stable": variant})
    if old.address != variant.address:
        run.say(f"promoted {variant.label}; stopping {old.label}")
        run.ports.processes.stop(old)
    strategy: ReleaseStrategy = "direct" if direct else run.rollout.strategy
    note = registry_promote(run, variant, f"{strategy} release: {reason}")
    return finish(run, "succeeded", strategy, variant, old, reason, note)


def rollback(run: Run, reason: str, *, reject: bool = True, manual: bool = False) -> Outcome:
    """Weight 0, the candidate stops, the alias stays; the reason goes into the registry,
    unless `reject` is False (not promoted: nothing was shown wrong with the candidate).

    A stop someone asked for (`manual`, or a `StopRequest` for this rollout) is recorded as
    "stopped by ACTOR" instead, and nothing goes against the candidate in the registry."""
    request = stop_request(run.state_dir, run.rollout.id)
    if request is None and manual:
        # Written first: a controller that resumes this rollback still knows it is a stop.
        request = StopRequest(
            rollout=run.rollout.id, actor=run.actor, at=time.time(), reason=reason
        )
        request_stop(run.state_dir, request)
    if request is not None:
        reason, reject = request.describe(), False
    ro = run.update_rollout(phase="rolling-back", reason=reason)
    run.say(f"{'rolling back' if reject else 'not promoting'} {ro.candidate.label}: {reason}")
    splitter = run.ports.splitter
    if splitter.running(run.env):
        reverted: list[float] = []
        splitter.route(run.env, Route(run.stable.address), lambda: reverted.append(time.time()))
        run.update_rollout(reverted_at=reverted[0] if reverted else time.time())
        splitter.targets(run.env, {"stable": run.stable})
    run.ports.processes.stop(ro.candidate)
    note = (
        registry_reject(run, ro.candidate, f"{ro.strategy} release: {reason}")
        if reject
        else RegistryNote(f"champion unchanged; no rejection recorded on {ro.candidate.label}")
    )
    stopped = request is not None
    return finish(run, "failed", ro.strategy, ro.candidate, run.stable, reason, note, stopped)


def registry_promote(run: Run, variant: VariantRef, reason: str) -> RegistryNote:
    """Move `champion` to the promoted version, when it is one."""
    if variant.version is None or variant.model is None:
        return RegistryNote(f"{variant.label} is not a registry version: no alias moved")
    if run.registry is None:
        return RegistryNote("no registry: no alias moved")
    try:
        run.registry.promote(variant.model, variant.version, reason=reason, actor=run.actor)
    except MlgateError as exc:
        return RegistryNote(
            f"released here, but champion was NOT moved: {exc.message} "
            f"(run `mlgate promote {variant.version}`)",
            failed=True,
        )
    return RegistryNote(f"champion is now {variant.model} v{variant.version} in {run.registry.uri}")


def registry_reject(run: Run, variant: VariantRef, reason: str) -> RegistryNote:
    """Record the rollback's reason on the rolled-back version, when it is one."""
    if variant.version is None or variant.model is None or run.registry is None:
        return RegistryNote(f"{variant.label} is not a registry version: nothing recorded")
    try:
        run.registry.reject(variant.model, variant.version, reason=reason, actor=run.actor)
    except MlgateError as exc:
        return RegistryNote(f"the rollback was NOT recorded in the registry: {exc.message}", True)
    return RegistryNote(
        f"champion unchanged; the reason is recorded on {variant.model} v{variant.version}"
    )


def finish(
    run: Run,
    phase: Ended,
    strategy: ReleaseStrategy,
    candidate: VariantRef,
    incumbent: VariantRef | None,
    reason: str,
    note: RegistryNote,
    stopped: bool = False,
) -> Outcome:
    """End the release: the rollout (if any) joins the past with its report; the outcome."""
    path, windows = None, 0
    admission = last_admission(run.state_dir, candidate.source)
    if run.state.rollout is not None:
        ro = run.update_rollout(
            phase=phase, reason=reason, registry_note=note.text, ended_at=time.time()
        )
        windows = len(ro.history)
        running = run.ports.splitter.running(run.env)
        path = report.write(
            run.report_dir or run.state_dir / "reports",
            ro,
            observer=run.ports.observer(run.env.prometheus_url) if running else None,
            stable=incumbent if phase == "succeeded" and incumbent is not None else run.stable,
            canary=candidate,
            outcome="stopped" if stopped else None,
            override=override_entry(admission),
        )
        run.update(past=(*run.state.past, ro)[-KEEP_PAST:], rollout=None)
        clear_stop(run.state_dir, ro.id)
    else:
        run.save()
    return Outcome(
        phase=phase,
        strategy=strategy,
        candidate=candidate.label,
        incumbent=incumbent.label if incumbent is not None else None,
        reason=reason,
        url=run.env.url,
        windows=windows,
        report=path,
        registry_note=note.text,
        registry_failed=note.failed,
        stopped=stopped,
        override=admission.describe() if admission is not None else None,
    )


def override_entry(admission: ReleaseAdmission | None) -> dict[str, Any] | None:
    """The report's record of an override: who, when, why, and what it set aside."""
    if admission is None or admission.override is None:
        return None
    return {
        "by": admission.actor,
        "at": admission.at,
        "reason": admission.override,
        "overridden": list(admission.overridden),
    }


def teardown(run: Run) -> None:
    """Stop whatever a previous release left half running (before starting afresh)."""
    if run.state.stable is not None:
        run.ports.processes.stop(run.state.stable)
    if run.state.environment is not None:
        run.ports.splitter.stop(run.state.environment)
    run.update(stable=None, environment=None)
