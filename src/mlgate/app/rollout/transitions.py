"""How a local release ends: promoted (the candidate takes all traffic, the incumbent drains
and stops, `champion` moves) or rolled back (traffic back to the incumbent, the candidate
stops, the reason goes into the registry), each step written to the state file before the
next, so that a controller that stops half way is resumed by the next one; then the report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlgate.adapters.nginx import AbKey, Route
from mlgate.app.rollout import report
from mlgate.app.rollout.ports import Ports
from mlgate.app.rollout.state import save
from mlgate.core.records.rollout import EnvironmentRef, RolloutRecord, RolloutState, VariantRef
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


def rollback(run: Run, reason: str) -> Outcome:
    """Weight 0, the candidate stops, the alias stays; the reason goes into the registry."""
    ro = run.update_rollout(phase="rolling-back", reason=reason)
    run.say(f"rolling back {ro.candidate.label}: {reason}")
    splitter = run.ports.splitter
    if splitter.running(run.env):
        reverted: list[float] = []
        splitter.route(run.env, Route(run.stable.address), lambda: reverted.append(time.time()))
        run.update_rollout(reverted_at=reverted[0] if reverted else time.time())
        splitter.targets(run.env, {"stable": run.stable})
    run.ports.processes.stop(ro.candidate)
    note = registry_reject(run, ro.candidate, f"{ro.strategy} release: {reason}")
    return finish(run, "failed", ro.strategy, ro.candidate, run.stable, reason, note)


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
) -> Outcome:
    """End the release: the rollout (if any) joins the past with its report; the outcome."""
    path, windows = None, 0
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
        )
        run.update(past=(*run.state.past, ro)[-KEEP_PAST:], rollout=None)
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
    )


def teardown(run: Run) -> None:
    """Stop whatever a previous release left half running (before starting afresh)."""
    if run.state.stable is not None:
        run.ports.processes.stop(run.state.stable)
    if run.state.environment is not None:
        run.ports.splitter.stop(run.state.environment)
    run.update(stable=None, environment=None)
