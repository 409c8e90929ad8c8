"""Fakes of what the rollout controller drives (its `Ports`), recording every call, and of
the registry it tells; the observations they return are built with `healthy` and `failing`."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from mlgate.adapters import procs
from mlgate.adapters.nginx import Route
from mlgate.adapters.prometheus.query import Selectors
from mlgate.app.rollout import sources
from mlgate.app.rollout.ports import Observer, Ports, Processes, Splitter
from mlgate.app.rollout.state import RolloutState
from mlgate.app.rollout.transitions import Run
from mlgate.core.canary import Observations, Progress, VariantWindow
from mlgate.core.records.rollout import EnvironmentRef, ProcRef, VariantRef
from mlgate.errors import InfraError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import Registry


def me(what: str = "test") -> ProcRef:
    """A reference to this very process (alive for as long as the test runs)."""
    started = procs.start_time(os.getpid())
    assert started is not None
    return ProcRef(pid=os.getpid(), started=started, what=what)


def environment(port: int = 8080) -> EnvironmentRef:
    """An environment record whose processes are all this one."""
    return EnvironmentRef(
        host="127.0.0.1", port=port, router_port=1, exporter_port=2, prometheus_port=3,
        scrape_interval=0.25, edge=me(), router=me(), exporter=me(), prometheus=me(),
    )  # fmt: skip


def variant(address: str, label: str | None = None, version: int | None = None) -> VariantRef:
    """An external variant at `address`."""
    return VariantRef(
        source=f"http://{address}",
        label=label or address,
        kind="external",
        address=address,
        metrics_address=address,
        model="churn" if version is not None else None,
        version=version,
    )


def source(address: str, version: int | None = None) -> sources.Source:
    """A resolved source naming an external server (no registry, nothing downloaded)."""
    url = f"http://{address}"
    return sources.Source(
        url, "url", url, label=address, model="churn" if version else None, version=version
    )


def healthy(requests: float = 200) -> VariantWindow:
    """A window that passes every check."""
    return VariantWindow(
        requests=requests,
        latency_s=0.01,
        predictions={"no": requests * 0.7, "yes": requests * 0.3},
    )


def failing() -> VariantWindow:
    """A candidate that answers half its requests with 5xx."""
    return VariantWindow(requests=200, errors=100, latency_s=0.01, predictions={"no": 200})


class FakeSplitter:
    """A splitter that records the routes and targets it is given."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.targets_seen: list[dict[str, str]] = []
        self.started: list[str] = []
        self.stopped = 0
        self.up = True

    def start(self, *, host: str, port: int, stable: VariantRef, scrape_s: float) -> EnvironmentRef:
        self.started.append(stable.address)
        return environment(port or 8080)

    def running(self, env: EnvironmentRef) -> bool:
        return self.up

    def route(
        self, env: EnvironmentRef, route: Route, active: Callable[[], None] | None = None
    ) -> None:
        self.routes.append(route)
        if active is not None:
            active()

    def targets(self, env: EnvironmentRef, variants: Mapping[str, VariantRef]) -> None:
        self.targets_seen.append({role: v.address for role, v in variants.items()})

    def lag(self, env: EnvironmentRef) -> float:
        return 0.0

    def stop(self, env: EnvironmentRef) -> None:
        self.stopped += 1


Window = tuple[VariantWindow, VariantWindow] | BaseException
Hook = Callable[[Progress], None]


class FakeObserver:
    """Answers each analysis window with the next (stable, canary) pair, or raises it."""

    def __init__(self, windows: list[Window], hook: Hook | None = None) -> None:
        self.windows: Iterator[Window] = iter(windows)
        self.progress: list[Progress] = []
        self.hook = hook

    def observe(
        self,
        stable: Selectors,
        canary: Selectors,
        *,
        progress: Progress,
        window_s: float,
        since_s: float = 0.0,
    ) -> Observations:
        self.progress.append(progress)
        if self.hook is not None:
            self.hook(progress)
        pair = next(self.windows)
        if isinstance(pair, BaseException):
            raise pair
        return Observations(stable=pair[0], canary=pair[1], progress=progress, window_s=window_s)

    def watching(self, sel: Selectors) -> bool:
        return True

    def predictions(self, sel: Selectors, window_s: float) -> dict[str, float]:
        return {"no": 70.0, "yes": 30.0}


class FakeProcesses:
    """Servers that start at the address their source names; `dead` ones stop running."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.dead: set[str] = set()
        self.guards: list[float] = []

    def start(self, source: sources.Source) -> VariantRef:
        address = source.location.split("://", 1)[-1]
        self.started.append(address)
        found = variant(address, source.label, source.version)
        return found.model_copy(update={"source": source.text})

    def running(self, variant: VariantRef) -> bool:
        return variant.address not in self.dead

    def stop(self, variant: VariantRef) -> None:
        self.stopped.append(variant.address)
        self.dead.add(variant.address)

    def spawn_guard(self, grace: float) -> ProcRef:
        self.guards.append(grace)
        return me("release guard")

    def alive(self, ref: ProcRef | None) -> bool:
        return ref is not None


@dataclass
class Fakes:
    """One set of fakes, and the `Ports` made of them."""

    splitter: FakeSplitter = field(default_factory=FakeSplitter)
    observer: FakeObserver = field(default_factory=lambda: FakeObserver([]))
    processes: FakeProcesses = field(default_factory=FakeProcesses)

    def ports(self) -> Ports:
        def observer(url: str) -> Observer:
            return self.observer

        splitter: Splitter = self.splitter
        processes: Processes = self.processes
        return Ports(splitter, observer, processes)

    def run(self, state_dir: Path, state: RolloutState, registry: FakeRegistry | None) -> Run:
        """A controller's working set on these fakes."""
        return Run(state_dir, state, as_registry(registry), lambda _m: None, threading.Event(),
                   "tester", self.ports())  # fmt: skip


class FakeRegistry:
    """Records promotions and rejections; `fail` makes each one raise."""

    uri = "sqlite:///fake.db"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, int | None, str]] = []
        self.overrides: list[tuple[str, int, str]] = []
        self.fail = fail

    def promote(self, name: str, version: int | None, *, reason: str, actor: str) -> None:
        self._call("promote", name, version, reason)

    def reject(self, name: str, version: int, *, reason: str, actor: str) -> None:
        self._call("reject", name, version, reason)

    def record_override(
        self, name: str, version: int, *, reason: str, actor: str, overridden: str
    ) -> None:
        self.overrides.append((name, version, reason))

    def _call(self, what: str, name: str, version: int | None, reason: str) -> None:
        if self.fail:
            raise InfraError("the registry is down")
        self.calls.append((what, name, version, reason))


def as_registry(fake: FakeRegistry | None) -> Registry | None:
    """The fake where a `Registry` is expected (it has what a release calls)."""
    return cast("Registry | None", fake)
