"""The executor of a local release: it starts what the plan (`mlgate.core.rollout`) says,
steps the split by the verdicts of `mlgate.core.canary.decide`, and promotes or rolls back.
It decides nothing itself; what it drives (the splitter, Prometheus, the processes) comes in
as `Ports`, so the same executor runs against fakes in tests.

    direct   the candidate takes all traffic at once; the incumbent drains and stops
    canary   weight step_weight, then up by step_weight each passing interval to max_weight
    ab       ab_weight% of the keys (users) go to the candidate, for `iterations` intervals
    shadow   the candidate gets a copy of every request, for `iterations` intervals

Promote: the candidate takes 100%, the incumbent drains (old nginx workers finish, then the
server finishes its own requests on SIGTERM) and stops, and the registry's `champion` moves,
with the reason and who. Rollback: weight 0, the candidate stops, the alias stays, and the
reason is printed and recorded on the candidate's version.

Every step is written to the state file before and after it acts, and the controller holds
the state directory's lock while it decides: a second deploy is refused; a controller started
again (the same command) resumes where the last one stopped, or rolls back when what it left
is gone. So that traffic is never split with nobody deciding, each rollout starts a guard
(`mlgate.app.rollout.guard`) that rolls back when no controller has held the lock for a grace
period. SIGTERM or Ctrl-C roll back too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters import procs
from mlgate.adapters.nginx import AbKey
from mlgate.app.rollout import local, sources
from mlgate.app.rollout.ports import Observer, Ports
from mlgate.app.rollout.state import ControllerLock, RolloutState, load
from mlgate.app.rollout.transitions import (
    Outcome,
    Run,
    Say,
    finish,
    promote,
    quiet,
    registry_promote,
    rollback,
    route_for,
    teardown,
)
from mlgate.app.rollout.variants import selectors
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import ProcRef, RolloutRecord, VariantRef
from mlgate.core.rollout import (
    Decision,
    NotPromoted,
    Promote,
    Rollback,
    apply,
    decide,
    decide_unobserved,
    guard_grace,
    initial_weight,
    progress,
    start_plan,
    window_record,
    with_liveness,
)
from mlgate.core.vocab import AnalysedStrategy, ReleaseStrategy
from mlgate.errors import InfraError, MlgateError, UsageError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import Registry

__all__ = ["RolloutRequest", "guard_grace", "run_rollout"]
WATCH_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RolloutRequest:
    """`mlgate deploy --target local`: what to release, how, and where its state lives."""

    state_dir: Path
    strategy: ReleaseStrategy
    # What the user named (resolved here), or an already resolved source.
    candidate: str | sources.Source
    policy: CanaryConfig
    incumbent: str | None = None
    model: str | None = None
    config: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    ab_key: str | None = None
    engine: str | None = None
    report_dir: Path | None = None
    actor: str = "unknown"
    # The release policy's override and trust: an ungated, unregistered or rejected candidate
    # is refused before anything starts (`Run.admit`).
    check: sources.ReleaseCheck = field(default_factory=sources.ReleaseCheck)


@contextlib.contextmanager
def _signals() -> Iterator[threading.Event]:
    """SIGTERM and SIGINT set an event the controller acts on (by rolling back)."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return

    def handler(signum: int, _frame: object) -> None:
        stopping.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stopping
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def busy_message(state: RolloutState, holder: int | None) -> str:
    """Why a deploy is refused while another controller decides."""
    ro = state.rollout
    what = (
        f"a {ro.strategy} release of {ro.candidate.label} is in progress "
        f"({ro.phase}, weight {ro.weight}%)"
        if ro is not None
        else "another controller holds this release"
    )
    return f"{what}; its controller (pid {holder or '?'}) decides it"


def run_rollout(
    request: RolloutRequest,
    *,
    registry: Registry | None,
    say: Say = quiet,
    ports: Ports | None = None,
) -> Outcome:
    """Release `request.candidate` on this machine; blocks until promoted or rolled back."""
    request.state_dir.mkdir(parents=True, exist_ok=True)
    lock = ControllerLock(request.state_dir)
    if not lock.acquire(wait=2.0):
        raise UsageError(
            busy_message(load(request.state_dir), lock.holder()),
            hint="wait for it, or `mlgate canary stop` to roll it back",
        )
    with lock, _signals() as stopping:
        run = Run(
            request.state_dir,
            load(request.state_dir),
            registry,
            say,
            stopping,
            request.actor,
            ports or Ports.local(request.state_dir, request.engine),
            request.report_dir,
        )
        ro = run.state.rollout
        if ro is not None and ro.active:
            given = request.candidate
            text = given if isinstance(given, str) else given.text
            if ro.candidate.source != text or ro.strategy != request.strategy:
                raise UsageError(
                    f"a {ro.strategy} release of {ro.candidate.source} was left in progress by a "
                    "controller that stopped",
                    hint="run that same command again to resume it, or `mlgate canary stop`",
                )
            return _resume(run)
        return _start(run, request)


def _start(run: Run, req: RolloutRequest) -> Outcome:
    run.update(
        model=req.model or run.state.model,
        config=str(req.config) if req.config else run.state.config,
    )
    env_up = _environment_up(run)
    if env_up and req.incumbent is not None and req.incumbent != run.stable.source:
        raise UsageError(
            f"--incumbent {req.incumbent}: this release already serves {run.stable.source}",
            hint="drop --incumbent, or `mlgate canary stop` first",
        )
    candidate = _resolve(run, req, req.candidate)
    if env_up and candidate.text == run.stable.source:
        raise UsageError(
            f"{candidate.text} is what this release already serves ({run.stable.label})"
        )
    run.admit(candidate, req.check, req.strategy)
    plan = start_plan(req.strategy, environment_up=env_up)
    if plan.environment is not None:
        first = candidate if plan.done_at_start else _incumbent(run, req)
        stable = _start_environment(run, req, first)
        if plan.done_at_start:
            note = registry_promote(run, stable, "direct release")
            return finish(run, "succeeded", "direct", stable, None, "released directly", note)
    run.say(f"starting the candidate {candidate.label}")
    variant = run.ports.processes.start(candidate)
    if run.stopping.is_set():
        run.ports.processes.stop(variant)
        raise KeyboardInterrupt
    if plan.analysed is None:
        return promote(run, variant, "direct release")
    _begin(run, req, plan.analysed, variant)
    return _drive(run)


def _environment_up(run: Run) -> bool:
    state = run.state
    return (
        state.environment is not None
        and state.stable is not None
        and run.ports.splitter.running(state.environment)
        and run.ports.processes.running(state.stable)
    )


def _resolve(run: Run, req: RolloutRequest, given: str | sources.Source) -> sources.Source:
    if isinstance(given, sources.Source):
        return given
    return sources.resolve(
        given, registry=run.registry, model=run.state.model, workdir=req.state_dir,
        engine=req.engine,
    )  # fmt: skip


def _start_environment(run: Run, req: RolloutRequest, first: sources.Source) -> VariantRef:
    """Start `first` as the stable variant and the splitter in front of it."""
    teardown(run)
    run.say(f"starting {first.label} and the splitter on {req.host}:{req.port or '(free)'}")
    stable = run.ports.processes.start(first)
    try:
        env = run.ports.splitter.start(
            host=req.host,
            port=req.port,
            stable=stable,
            scrape_s=local.scrape_interval(req.policy.interval),
        )
    except BaseException:
        run.ports.processes.stop(stable)
        raise
    run.update(environment=env, stable=stable)
    return stable


def _begin(run: Run, req: RolloutRequest, strategy: AnalysedStrategy, variant: VariantRef) -> None:
    """Record the rollout, start its guard, and route the candidate its first share."""
    now = time.time()
    run.update(
        rollout=RolloutRecord(
            id=f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
            strategy=strategy,
            candidate=variant,
            incumbent=run.stable.label,
            policy=req.policy,
            ab_key=str(AbKey.parse(req.ab_key)) if req.ab_key else None,
            controller=_self_ref(),
            started_at=now,
            updated_at=now,
        )
    )
    splitter = run.ports.splitter
    try:
        run.update_rollout(guard=run.ports.processes.spawn_guard(guard_grace(req.policy.interval)))
        ro = run.rollout.model_copy(update={"weight": initial_weight(strategy, req.policy)})
        splitter.targets(run.env, {"stable": run.stable, "canary": variant})
        _wait_watched(run, variant)
        routed: list[float] = []
        splitter.route(run.env, route_for(ro, run.stable), lambda: routed.append(time.time()))
        ro = run.update_rollout(weight=ro.weight, routed_at=routed[0] if routed else time.time())
    except MlgateError as exc:
        # Nothing was decided yet: undo what started, then say why.
        rollback(run, f"the rollout could not start: {exc.message}")
        raise
    run.say(f"{ro.strategy}: {variant.label} at {_where(ro)}, checks every {ro.policy.interval:g}s")


def _wait_watched(run: Run, variant: VariantRef) -> None:
    """Send the candidate traffic only once Prometheus scrapes it, so the first window counts."""
    observer = run.ports.observer(run.env.prometheus_url)
    sel = selectors(variant)
    procs.wait_for(
        lambda: observer.watching(sel),
        timeout=WATCH_TIMEOUT_S,
        what=f"prometheus scraping {variant.label} and the splitter's series of it",
    )


def _incumbent(run: Run, req: RolloutRequest) -> sources.Source:
    text = req.incumbent
    if text is None:
        if run.state.model is None or run.registry is None:
            raise UsageError(
                "nothing runs here yet and no --incumbent was given",
                hint="release a first model with --strategy direct",
            )
        text = f"models:/{run.state.model}@champion"
    try:
        return _resolve(run, req, text)
    except UsageError as exc:
        raise UsageError(
            f"no incumbent to compare the candidate with: {exc.message}",
            hint="release a first model with --strategy direct, or pass --incumbent",
        ) from None


def _self_ref() -> ProcRef:
    started = procs.start_time(os.getpid())
    assert started is not None
    return ProcRef(pid=os.getpid(), started=started, what="release controller")


def _where(ro: RolloutRecord) -> str:
    if ro.strategy == "shadow":
        return "a mirrored copy of all traffic"
    if ro.strategy == "ab":
        return f"{ro.weight}% of {ro.ab_key} keys"
    return f"{ro.weight}% of traffic"


def _resume(run: Run) -> Outcome:
    ro = run.rollout
    run.say(
        f"resuming the {ro.strategy} release of {ro.candidate.label} ({ro.phase}, {ro.weight}%)"
    )
    if ro.phase == "promoting":
        return promote(run, ro.candidate, ro.reason or "promotion resumed")
    if ro.phase == "rolling-back":
        return rollback(run, ro.reason or "rollback resumed")
    processes = run.ports.processes
    gone = [
        what
        for what, ok in (
            ("the splitter or Prometheus", run.ports.splitter.running(run.env)),
            (f"the incumbent {run.stable.label}", processes.running(run.stable)),
            (f"the candidate {ro.candidate.label}", processes.running(ro.candidate)),
        )
        if not ok
    ]
    if gone:
        return rollback(run, f"a restarted controller found {', '.join(gone)} not running")
    ro = run.update_rollout(controller=_self_ref())
    if not processes.alive(ro.guard):
        ro = run.update_rollout(guard=processes.spawn_guard(guard_grace(ro.policy.interval)))
    run.ports.splitter.route(run.env, route_for(ro, run.stable))
    return _drive(run)


def _drive(run: Run) -> Outcome:
    policy = run.rollout.policy
    observer = run.ports.observer(run.env.prometheus_url)
    # Each window ends when its last requests have reached Prometheus.
    tick = time.monotonic() + policy.interval + run.ports.splitter.lag(run.env)
    while True:
        while (left := tick - time.monotonic()) > 0:
            if run.stopping.wait(min(left, 0.2)):
                return rollback(run, "the controller was stopped (SIGTERM or Ctrl-C)", manual=True)
        ro = run.rollout
        decision = _analyse(run, observer)
        entry = window_record(decision, ts=time.time(), weight=ro.weight)
        ro = run.update_rollout(history=(*ro.history, entry))
        run.say(f"[{ro.weight:>3}%] {decision.verb}: {decision.reason}")
        if isinstance(decision, Promote):
            return promote(run, ro.candidate, decision.reason)
        if isinstance(decision, Rollback | NotPromoted):
            return rollback(run, decision.reason, reject=decision.reject)
        stepped = apply(ro, decision)
        if stepped.weight != ro.weight:
            run.ports.splitter.route(run.env, route_for(stepped, run.stable))
        run.update(rollout=stepped)
        tick = max(tick + policy.interval, time.monotonic() + 0.5)


def _analyse(run: Run, observer: Observer) -> Decision:
    ro, processes = run.rollout, run.ports.processes
    now = progress(ro)
    try:
        obs = observer.observe(
            selectors(run.stable),
            selectors(ro.candidate),
            progress=now,
            window_s=ro.policy.interval,
            since_s=time.time() - (ro.routed_at or ro.started_at),
        )
    except InfraError as exc:
        return decide_unobserved(now, ro.policy, exc.message)
    obs = with_liveness(
        obs,
        stable_running=processes.running(run.stable),
        canary_running=processes.running(ro.candidate),
    )
    return decide(obs, ro.policy)
