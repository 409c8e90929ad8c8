"""The executor of a local release: it starts what `decide` needs, steps the split by its
verdicts, and promotes or rolls back.

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
import dataclasses
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate.adapters import procs
from mlgate.adapters.nginx import AbKey
from mlgate.adapters.prometheus.query import Prometheus, observe
from mlgate.app.rollout import local, sources, variants
from mlgate.app.rollout.state import ControllerLock, ReleaseState, Rollout, Strategy, load
from mlgate.app.rollout.transitions import (
    Outcome,
    Run,
    Say,
    promote,
    quiet,
    registry_promote,
    rollback,
    route_for,
    teardown,
)
from mlgate.app.rollout.variants import VariantRef
from mlgate.core.canary import (
    Decision,
    Progress,
    Promote,
    Rollback,
    decide,
    decide_unobserved,
    decision_dict,
)
from mlgate.core.config import CanaryConfig
from mlgate.errors import InfraError, MlgateError, UsageError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import Registry


@dataclass(frozen=True)
class ReleaseRequest:
    """`mlgate deploy --target local`: what to release, how, and where its state lives."""

    state_dir: Path
    strategy: Strategy
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


def busy_message(state: ReleaseState, holder: int | None) -> str:
    """Why a deploy is refused while another controller decides."""
    ro = state.rollout
    what = (
        f"a {ro.strategy} release of {ro.candidate.label} is in progress "
        f"({ro.phase}, weight {ro.weight}%)"
        if ro is not None
        else "another controller holds this release"
    )
    return f"{what}; its controller (pid {holder or '?'}) decides it"


def run_release(request: ReleaseRequest, *, registry: Registry | None, say: Say = quiet) -> Outcome:
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


def _start(run: Run, req: ReleaseRequest) -> Outcome:
    state = run.state
    state.model = req.model or state.model
    state.config = str(req.config) if req.config else state.config
    env_up = (
        state.environment is not None
        and state.stable is not None
        and local.environment_running(state.environment)
        and variants.running(state.stable)
    )
    if env_up and req.incumbent is not None and req.incumbent != run.stable.source:
        raise UsageError(
            f"--incumbent {req.incumbent}: this release already serves {run.stable.source}",
            hint="drop --incumbent, or `mlgate canary stop` first",
        )
    candidate = (
        req.candidate
        if isinstance(req.candidate, sources.Source)
        else sources.resolve(
            req.candidate,
            registry=run.registry,
            model=state.model,
            workdir=req.state_dir,
            engine=req.engine,
        )
    )
    if env_up and candidate.text == run.stable.source:
        raise UsageError(
            f"{candidate.text} is what this release already serves ({run.stable.label})"
        )
    if not env_up:
        teardown(run)
        first = candidate if req.strategy == "direct" else _incumbent(run, req)
        run.say(f"starting {first.label} and the splitter on {req.host}:{req.port or '(free)'}")
        stable = sources.start(first, req.state_dir, engine=req.engine)
        try:
            state.environment = local.start_environment(
                req.state_dir,
                host=req.host,
                port=req.port,
                stable=stable,
                scrape_s=local.scrape_interval(req.policy.interval),
            )
        except BaseException:
            variants.stop_variant(stable)
            raise
        state.stable = stable
        run.save()
        if req.strategy == "direct":
            note, failed = registry_promote(run, stable, "direct release")
            return Outcome("succeeded", "direct", stable.label, None, "released directly",
                           run.env.url, 0, None, note, failed)  # fmt: skip
    run.say(f"starting the candidate {candidate.label}")
    variant = sources.start(candidate, req.state_dir, engine=req.engine)
    if run.stopping.is_set():
        variants.stop_variant(variant)
        raise KeyboardInterrupt
    if req.strategy == "direct":
        return promote(run, variant, "direct release", direct=True)
    state.rollout = Rollout(
        id=f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
        strategy=req.strategy,
        candidate=variant,
        incumbent=run.stable.label,
        policy=req.policy,
        ab_key=str(AbKey.parse(req.ab_key)) if req.ab_key else None,
        controller=_self_ref(),
    )
    run.save()
    ro = run.rollout
    try:
        ro.guard = _spawn_guard(run)
        run.save()
        ro.weight = {"canary": req.policy.step_weight, "ab": req.policy.ab_weight}.get(
            ro.strategy, 0
        )
        local.set_targets(req.state_dir, run.env, {"stable": run.stable, "canary": variant})
        _wait_watched(run, variant)
        local.set_route(
            req.state_dir, run.env, route_for(run), lambda: setattr(ro, "routed_at", time.time())
        )
        run.save()
    except MlgateError as exc:
        # Nothing was decided yet: undo what started, then say why.
        rollback(run, f"the rollout could not start: {exc.message}")
        raise
    run.say(f"{ro.strategy}: {variant.label} at {_where(ro)}, checks every {ro.policy.interval:g}s")
    return _drive(run)


def _wait_watched(run: Run, variant: VariantRef) -> None:
    """Send the candidate traffic only once Prometheus scrapes it, so the first window counts."""
    prom = Prometheus(run.env.prometheus_url)
    sel = variant.selectors()
    for query, what in (
        (f"sum(count_over_time(up{{{sel.model}}}[1h]))", f"prometheus scraping {variant.label}"),
        (
            f'sum(count_over_time(mlgate_requests_total{{{sel.http},status="500"}}[1h]))',
            f"the splitter's series of {variant.label}",
        ),
    ):
        procs.wait_for(_at_least(prom, query, 2), timeout=60, what=what)


def _at_least(prom: Prometheus, query: str, n: float) -> Callable[[], bool]:
    return lambda: (prom.scalar(query) or 0.0) >= n


def _incumbent(run: Run, req: ReleaseRequest) -> sources.Source:
    text = req.incumbent
    if text is None:
        if run.state.model is None or run.registry is None:
            raise UsageError(
                "nothing runs here yet and no --incumbent was given",
                hint="release a first model with --strategy direct",
            )
        text = f"models:/{run.state.model}@champion"
    try:
        return sources.resolve(
            text, registry=run.registry, model=run.state.model, workdir=req.state_dir,
            engine=req.engine,
        )  # fmt: skip
    except UsageError as exc:
        raise UsageError(
            f"no incumbent to compare the candidate with: {exc.message}",
            hint="release a first model with --strategy direct, or pass --incumbent",
        ) from None


def _self_ref() -> procs.ProcRef:
    started = procs.start_time(os.getpid())
    assert started is not None
    return procs.ProcRef(pid=os.getpid(), started=started, what="release controller")


GUARD_MIN_GRACE_S = 15.0


def guard_grace(interval: float) -> float:
    """How long a rollout may go undecided before its guard rolls it back: two intervals, and
    at least long enough for the same command to be started again."""
    return max(2.0 * interval, GUARD_MIN_GRACE_S)


def _spawn_guard(run: Run) -> procs.ProcRef:
    grace = guard_grace(run.rollout.policy.interval)
    return procs.spawn(
        procs.python_module(
            "mlgate.app.rollout.guard", str(run.state_dir), "--grace", f"{grace:g}"
        ),
        what="release guard",
        log=run.state_dir / "guard.log",
    )


def _where(ro: Rollout) -> str:
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
    gone = [
        what
        for what, ok in (
            ("the splitter or Prometheus", local.environment_running(run.env)),
            (f"the incumbent {run.stable.label}", variants.running(run.stable)),
            (f"the candidate {ro.candidate.label}", variants.running(ro.candidate)),
        )
        if not ok
    ]
    if gone:
        return rollback(run, f"a restarted controller found {', '.join(gone)} not running")
    ro.controller = _self_ref()
    if not procs.alive(ro.guard):
        ro.guard = _spawn_guard(run)
    local.set_route(run.state_dir, run.env, route_for(run))
    run.save()
    return _drive(run)


def _drive(run: Run) -> Outcome:
    ro, policy = run.rollout, run.rollout.policy
    prom = Prometheus(run.env.prometheus_url)
    # Each window ends when its last requests have reached Prometheus.
    tick = time.monotonic() + policy.interval + local.metrics_lag(run.env)
    while True:
        while (left := tick - time.monotonic()) > 0:
            if run.stopping.wait(min(left, 0.2)):
                return rollback(run, "the controller was stopped (SIGTERM or Ctrl-C)")
        decision = _analyse(run, prom)
        ro.history.append({"ts": time.time(), "weight": ro.weight, **decision_dict(decision)})
        run.say(f"[{ro.weight:>3}%] {decision.action}: {decision.reason}")
        if isinstance(decision, Promote):
            return promote(run, ro.candidate, decision.reason)
        if isinstance(decision, Rollback):
            return rollback(run, decision.reason)
        if decision.weight != ro.weight:
            ro.weight = decision.weight
            local.set_route(run.state_dir, run.env, route_for(run))
        ro.failed_checks, ro.iterations = decision.failed_checks, decision.iterations
        run.save()
        tick = max(tick + policy.interval, time.monotonic() + 0.5)


def _analyse(run: Run, prom: Prometheus) -> Decision:
    ro = run.rollout
    progress = Progress(ro.strategy if ro.strategy != "direct" else "canary", ro.weight,
                        ro.failed_checks, ro.iterations)  # fmt: skip
    try:
        obs = observe(
            prom,
            run.stable.selectors(),
            ro.candidate.selectors(),
            progress=progress,
            window_s=ro.policy.interval,
            since_s=time.time() - (ro.routed_at or ro.started_at),
        )
    except InfraError as exc:
        return decide_unobserved(progress, ro.policy, exc.message)
    # What the controller sees itself counts too: a process that died is down at once.
    stable_up = obs.stable.up and variants.running(run.stable)
    canary_up = obs.canary.up and variants.running(ro.candidate)
    obs = dataclasses.replace(
        obs,
        stable=dataclasses.replace(obs.stable, up=stable_up),
        canary=dataclasses.replace(obs.canary, up=canary_up),
    )
    return decide(obs, ro.policy)


def recover(state_dir: Path, lock: ControllerLock, registry: Registry | None, why: str) -> Outcome:
    """Roll back a rollout nobody decides (the guard's job); the caller holds the lock."""
    state = load(state_dir)
    run = Run(state_dir, state, registry, quiet, threading.Event(), "mlgate guard")
    if state.rollout is None or not state.rollout.active:
        raise UsageError("no release in progress")
    return rollback(run, why)


def stop_release(state_dir: Path, *, registry: Registry | None, say: Say = quiet) -> list[str]:
    """`mlgate canary stop`: roll back a rollout in progress, then stop every process."""
    lock = ControllerLock(state_dir)
    state = load(state_dir)
    ro = state.rollout
    if not lock.acquire(wait=2.0):
        if ro is not None and procs.alive(ro.controller):
            say(f"asking the controller (pid {ro.controller.pid if ro.controller else '?'}) "
                "to roll back")  # fmt: skip
            procs.stop(ro.controller, timeout=120)
        if not lock.acquire(wait=30.0):
            raise InfraError(f"the controller of {state_dir} did not let go of its lock")
    stopped: list[str] = []
    with lock:
        state = load(state_dir)
        run = Run(state_dir, state, registry, say, threading.Event(), "mlgate canary stop")
        if state.rollout is not None and state.rollout.active and state.environment is not None:
            rollback(run, "stopped by `mlgate canary stop`")
            stopped.append(f"rolled back {state.past[-1].candidate.label}")
        if state.stable is not None:
            variants.stop_variant(state.stable)
            stopped.append(f"stopped {state.stable.label}")
            state.stable = None
        if state.environment is not None:
            local.stop_environment(state.environment)
            stopped.append("stopped the splitter, its exporter and Prometheus")
            state.environment = None
        run.save()
    return stopped
