"""How a local release ends: promoted (the candidate takes all traffic, the incumbent drains
and stops, `champion` moves) or rolled back (traffic back to the incumbent, the candidate
stops, the reason goes into the registry), each step written to the state file before the
next, so that a controller that stops half way is resumed by the next one; then the report.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlgate.adapters.nginx import AbKey, Route
from mlgate.adapters.prometheus.query import Prometheus
from mlgate.app.rollout import local, report, variants
from mlgate.app.rollout.state import ReleaseState, Rollout, save
from mlgate.app.rollout.variants import VariantRef
from mlgate.errors import MlgateError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import Registry

Say = Callable[[str], None]
KEEP_PAST = 20


@dataclass(frozen=True)
class Outcome:
    """How a release ended."""

    phase: Literal["succeeded", "failed"]
    strategy: str
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
        out = dataclasses.asdict(self)
        out["report"] = str(self.report) if self.report else None
        return out


def quiet(_message: str) -> None:
    pass


@dataclass
class Run:
    """One controller's working set."""

    state_dir: Path
    state: ReleaseState
    registry: Registry | None
    say: Say
    stopping: threading.Event
    actor: str
    report_dir: Path | None = None

    @property
    def rollout(self) -> Rollout:
        assert self.state.rollout is not None
        return self.state.rollout

    @property
    def stable(self) -> VariantRef:
        assert self.state.stable is not None
        return self.state.stable

    @property
    def env(self) -> local.EnvironmentRef:
        assert self.state.environment is not None
        return self.state.environment

    def save(self) -> None:
        save(self.state_dir, self.state)


def route_for(run: Run) -> Route:
    ro, stable = run.rollout, run.stable
    if ro.strategy == "ab":
        key = AbKey.parse(ro.ab_key or "")
        return Route(stable.address, ro.candidate.address, "ab", ro.weight, key)
    mode: Literal["canary", "shadow"] = "shadow" if ro.strategy == "shadow" else "canary"
    return Route(stable.address, ro.candidate.address, mode, ro.weight)


def promote(run: Run, variant: VariantRef, reason: str, *, direct: bool = False) -> Outcome:
    """Promote: `variant` takes all traffic, the old stable drains and stops, the alias moves."""
    if run.state.rollout is not None:
        run.rollout.phase = "promoting"
        run.rollout.reason = reason
        run.save()
    old = run.stable
    local.set_route(run.state_dir, run.env, Route(variant.address))
    run.state.stable = variant
    run.save()
    local.set_targets(run.state_dir, run.env, {"stable": variant})
    if old.address != variant.address:
        run.say(f"promoted {variant.label}; stopping {old.label}")
        variants.stop_variant(old)
    strategy = "direct" if direct else run.rollout.strategy
    note, failed = registry_promote(run, variant, f"{strategy} release: {reason}")
    return finish(run, "succeeded", strategy, variant, old, reason, note, failed)


def rollback(run: Run, reason: str) -> Outcome:
    """Weight 0, the candidate stops, the alias stays; the reason goes into the registry."""
    ro = run.rollout
    ro.phase, ro.reason = "rolling-back", reason
    run.save()
    run.say(f"rolling back {ro.candidate.label}: {reason}")
    if local.environment_running(run.env):

        def reverted() -> None:
            ro.reverted_at = time.time()

        local.set_route(run.state_dir, run.env, Route(run.stable.address), reverted)
        run.save()
        local.set_targets(run.state_dir, run.env, {"stable": run.stable})
    variants.stop_variant(ro.candidate)
    note, failed = registry_reject(run, ro.candidate, f"{ro.strategy} release: {reason}")
    return finish(run, "failed", ro.strategy, ro.candidate, run.stable, reason, note, failed)


def registry_promote(run: Run, variant: VariantRef, reason: str) -> tuple[str, bool]:
    if variant.version is None or variant.model is None:
        return f"{variant.label} is not a registry version: no alias moved", False
    if run.registry is None:
        return "no registry: no alias moved", False
    try:
        run.registry.promote(variant.model, variant.version, reason=reason, actor=run.actor)
    except MlgateError as exc:
        return (
            f"released here, but champion was NOT moved: {exc.message} "
            f"(run `mlgate promote {variant.version}`)",
            True,
        )
    return f"champion is now {variant.model} v{variant.version} in {run.registry.uri}", False


def registry_reject(run: Run, variant: VariantRef, reason: str) -> tuple[str, bool]:
    if variant.version is None or variant.model is None or run.registry is None:
        return f"{variant.label} is not a registry version: nothing recorded", False
    try:
        run.registry.reject(variant.model, variant.version, reason=reason, actor=run.actor)
    except MlgateError as exc:
        return f"the rollback was NOT recorded in the registry: {exc.message}", True
    return (
        f"champion unchanged; the reason is recorded on {variant.model} v{variant.version}",
        False,
    )


def finish(
    run: Run,
    phase: Literal["succeeded", "failed"],
    strategy: str,
    candidate: VariantRef,
    incumbent: VariantRef,
    reason: str,
    note: str,
    registry_failed: bool,
) -> Outcome:
    ro = run.state.rollout
    path = None
    if ro is not None:
        ro.phase, ro.reason, ro.registry_note = phase, reason, note
        ro.ended_at = time.time()
        summary = {
            "id": ro.id,
            "strategy": ro.strategy,
            "outcome": "promoted" if phase == "succeeded" else "rolled back",
            "candidate": candidate.label,
            "incumbent": ro.incumbent,
            "reason": reason,
            "registry": note,
            "policy": ro.policy.model_dump(mode="json"),
            "started_at": ro.started_at,
            "routed_at": ro.routed_at,
            "reverted_at": ro.reverted_at,
            "ended_at": ro.ended_at,
            "history": ro.history,
        }
        prom = Prometheus(run.env.prometheus_url) if local.environment_running(run.env) else None
        path = report.write(
            run.report_dir or run.state_dir / "reports",
            summary=summary,
            prom=prom,
            stable=incumbent if phase == "succeeded" else run.stable,
            canary=candidate,
            since=ro.started_at,
        )
        run.state.past = [*run.state.past, ro][-KEEP_PAST:]
        run.state.rollout = None
    run.save()
    windows = len(ro.history) if ro is not None else 0
    return Outcome(phase, strategy, candidate.label, incumbent.label, reason, run.env.url,
                   windows, path, note, registry_failed)  # fmt: skip


def teardown(run: Run) -> None:
    """Stop whatever a previous release left half running (before starting afresh)."""
    state = run.state
    if state.stable is not None:
        variants.stop_variant(state.stable)
        state.stable = None
    if state.environment is not None:
        local.stop_environment(state.environment)
        state.environment = None
    run.save()
