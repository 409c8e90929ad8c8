"""What the controller drives, each behind a small protocol, so that its decisions are tested
against fakes and run against the real things:

    Splitter    the environment that splits traffic (nginx edge and router, the exporter,
                Prometheus): `local.LocalSplitter`
    Observer    what Prometheus saw of the variants: `adapters.prometheus.query.Prometheus`
    Processes   the model servers and the guard, started and stopped by PID: `LocalProcesses`

`Ports.local` puts the real ones together for a state directory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mlgate.adapters import nginx, procs
from mlgate.adapters.prometheus.query import Prometheus, Selectors
from mlgate.app.rollout import local, sources, variants
from mlgate.core.canary import Observations, Progress
from mlgate.core.records.rollout import EnvironmentRef, ProcRef, VariantRef


class Splitter(Protocol):
    """The environment around the variants: starts on a stable variant, then splits."""

    def start(self, *, host: str, port: int, stable: VariantRef, scrape_s: float) -> EnvironmentRef:
        """Start it with every request going to `stable`."""
        ...

    def running(self, env: EnvironmentRef) -> bool:
        """Every process of it still runs."""
        ...

    def route(
        self, env: EnvironmentRef, route: nginx.Route, active: Callable[[], None] | None = None
    ) -> None:
        """Split by `route`; `active` is called once new requests follow it."""
        ...

    def targets(self, env: EnvironmentRef, variants: Mapping[str, VariantRef]) -> None:
        """Watch these variants (by role: stable, canary)."""
        ...

    def lag(self, env: EnvironmentRef) -> float:
        """How far its metrics trail the traffic, in seconds."""
        ...

    def stop(self, env: EnvironmentRef) -> None:
        """Stop it, edge first."""
        ...


class Observer(Protocol):
    """What the metrics say about the variants, by their selectors."""

    def observe(
        self,
        stable: Selectors,
        canary: Selectors,
        *,
        progress: Progress,
        window_s: float,
        since_s: float = 0.0,
    ) -> Observations:
        """Both variants over the window that ends now."""
        ...

    def watching(self, sel: Selectors) -> bool:
        """The variant's series are scraped: a window starting now counts."""
        ...

    def predictions(self, sel: Selectors, window_s: float) -> dict[str, float]:
        """The variant's predicted classes over the last `window_s` seconds."""
        ...


class Processes(Protocol):
    """The model servers, the guard, and what the controller checks of processes."""

    def start(self, source: sources.Source) -> VariantRef:
        """Start (or reach) the variant `source` names; returns once it is ready."""
        ...

    def running(self, variant: VariantRef) -> bool:
        """The variant still runs."""
        ...

    def stop(self, variant: VariantRef) -> None:
        """Stop the variant (an external one is left alone)."""
        ...

    def spawn_guard(self, grace: float) -> ProcRef:
        """Start the guard that rolls back after `grace` seconds with no controller."""
        ...

    def alive(self, ref: ProcRef | None) -> bool:
        """The recorded process still runs."""
        ...


class LocalProcesses:
    """The real `Processes`: servers as processes or containers, the guard as a process."""

    def __init__(self, workdir: Path, engine: str | None = None) -> None:
        self.workdir = workdir
        self.engine = engine

    def start(self, source: sources.Source) -> VariantRef:
        """Start (or reach) the variant `source` names."""
        return sources.start(source, self.workdir, engine=self.engine)

    def running(self, variant: VariantRef) -> bool:
        """The variant's process or container still runs."""
        return variants.running(variant)

    def stop(self, variant: VariantRef) -> None:
        """Drain and stop the variant."""
        variants.stop_variant(variant)

    def spawn_guard(self, grace: float) -> ProcRef:
        """`python -m mlgate.app.rollout.guard STATE_DIR --grace SECONDS`."""
        return procs.spawn(
            procs.python_module(
                "mlgate.app.rollout.guard", str(self.workdir), "--grace", f"{grace:g}"
            ),
            what="release guard",
            log=self.workdir / "guard.log",
        )

    def alive(self, ref: ProcRef | None) -> bool:
        """Same PID, same start time, not a zombie."""
        return procs.alive(ref)


@dataclass(frozen=True)
class Ports:
    """Everything the controller drives."""

    splitter: Splitter
    observer: Callable[[str], Observer]  # from the environment's Prometheus URL
    processes: Processes

    @classmethod
    def local(cls, workdir: Path, engine: str | None = None) -> Ports:
        """The real ones, keeping their files in `workdir` (the state directory)."""
        return cls(local.LocalSplitter(workdir), Prometheus, LocalProcesses(workdir, engine))
