"""Deploying a model: on one machine, gradually and judged on what the model does, or as
reviewable Kubernetes manifests for Argo Rollouts or Flagger to do the same in a cluster.

    controller.py   the executor: starts, steps, resumes what `mlgate.core.rollout` plans and
                    `mlgate.core.canary.decide` decides;  transitions.py: promote, rollback;
                    stop.py: `mlgate canary stop` and the guard's rollback
    ports.py        what the controller drives, behind protocols: the splitter, the observer
                    (Prometheus, `adapters.prometheus.query`), the processes
    state.py        its state file (`core.records.rollout`) and lock;  guard.py: the guard
                    that rolls back when no controller decides
    local.py        the splitter (`adapters.nginx`), exporter and Prometheus processes;
                    exporter.py: the splitter's metrics
    variants.py     the model servers (processes, containers, external);  sources.py: what a
                    name refers to
    webhook.py      the analysis as a Flagger webhook;  report.py: the release report

`mlgate.app.kubernetes` writes the cluster's manifests. The functions below are what the
command line calls, one each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.core.redact import redact_uri
from mlgate.core.vocab import RELEASE_STRATEGIES, ReleaseStrategy
from mlgate.errors import UsageError

if TYPE_CHECKING:
    from mlgate.app.kubernetes.target import ManifestOptions
    from mlgate.app.rollout.transitions import Outcome
    from mlgate.core.canary import Check
    from mlgate.core.config import Project
    from mlgate.core.policy import CanaryConfig
    from mlgate.core.records.rollout import RolloutState

TARGETS = ("kubernetes", "local")
STATE_DIR = Path(".mlgate") / "release"


def deploy(
    target: str,
    options: ManifestOptions,
    out: Path,
    *,
    config: Path | None = None,
    policy: Mapping[str, Any] | None = None,
) -> list[Path]:
    """`mlgate deploy --target kubernetes`: write what runs the image into `out`; a canary's
    steps and thresholds come from the project's `canary:` policy (and `policy` overrides)."""
    from dataclasses import replace

    from mlgate.app.kubernetes.target import write_manifests

    if target != "kubernetes":
        raise UsageError(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
    resolved = policy_from(_project(config), policy or {})
    return write_manifests(replace(options, policy=resolved), out)


def policy_from(project: Project | None, overrides: Mapping[str, Any]) -> CanaryConfig:
    """The project's `canary:` policy (or the defaults) with command-line overrides; a bad
    value is a UsageError naming its flag."""
    from pydantic import ValidationError

    from mlgate.core.policy import CanaryConfig

    base = project.config.canary.model_dump() if project is not None else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return CanaryConfig.model_validate({**base, **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "canary"
        where = f"--{key.replace('_', '-')}" if key in given else f"canary.{key} in mlgate.yaml"
        raise UsageError(f"{where}: {first['msg']} (got {first.get('input')!r})") from None


def _project(config: Path | None) -> Project | None:
    from mlgate.store.project import find_project

    return find_project(config)


@dataclass(frozen=True)
class LocalOptions:
    """`mlgate deploy --target local`: what to release and how."""

    config: Path | None
    strategy: str = "canary"
    candidate: str | None = None
    incumbent: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    engine: str | None = None
    ab_key: str | None = None
    state_dir: Path | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)


def release_strategy(text: str) -> ReleaseStrategy:
    """`--strategy` on --target local, checked; a UsageError lists the choices."""
    for strategy in RELEASE_STRATEGIES:
        if text == strategy:
            return strategy
    raise UsageError(
        f"--strategy {text!r} on --target local: choose one of {', '.join(RELEASE_STRATEGIES)}"
    )


def rollout_local(options: LocalOptions, say: Callable[[str], None]) -> Outcome:
    """Release a candidate beside the incumbent on this machine; blocks until promoted or
    rolled back. The candidate defaults to the registry's `challenger`, the incumbent to what
    runs, else `champion`; the policy to the project's `canary:` section."""
    from mlgate.adapters.mlflow import current_actor, open_registry
    from mlgate.app.rollout.controller import RolloutRequest, run_rollout

    strategy = release_strategy(options.strategy)
    if options.strategy == "ab" and not options.ab_key:
        raise UsageError(
            "--strategy ab needs --ab-key: the header or cookie that keeps a user on one variant",
            hint="e.g. --ab-key header:X-User-ID or --ab-key cookie:session",
        )
    if options.strategy == "direct" and options.incumbent:
        raise UsageError(
            "--incumbent compares a candidate with what runs; --strategy direct replaces it",
            hint="drop --incumbent, or use --strategy canary, ab or shadow",
        )
    if options.ab_key:
        from mlgate.adapters.nginx import AbKey

        AbKey.parse(options.ab_key)
    if options.engine not in (None, "process", "podman", "docker"):
        raise UsageError(f"--engine {options.engine!r}: choose process, podman or docker")
    project = _project(options.config)
    registry = open_registry(project) if project is not None else None
    model = project.config.name if project is not None else None
    candidate = options.candidate or (f"models:/{model}@challenger" if model else None)
    if candidate is None:
        raise UsageError(
            "no candidate: pass --candidate (a bundle, models:/ URI, image or http:// address)",
            hint="or run from a project (mlgate.yaml) whose registry has a challenger",
        )
    root = project.root if project is not None else Path.cwd()
    request = RolloutRequest(
        state_dir=options.state_dir or root / STATE_DIR,
        strategy=strategy,
        candidate=candidate,
        policy=policy_from(project, options.policy),
        incumbent=options.incumbent,
        model=model,
        config=project.root / "mlgate.yaml" if project is not None else None,
        host=options.host,
        port=options.port,
        ab_key=options.ab_key,
        engine=options.engine,
        report_dir=project.reports_dir if project is not None else None,
        actor=current_actor(),
    )
    return run_rollout(request, registry=registry, say=say)


def local_state_dir(config: Path | None, state_dir: Path | None) -> Path:
    """Where a project's local release keeps its state."""
    if state_dir is not None:
        return state_dir
    project = _project(config)
    return (project.root if project is not None else Path.cwd()) / STATE_DIR


def rollout_status(config: Path | None, state_dir: Path | None) -> RolloutState:
    """`mlgate canary status`: what the local release runs and where its rollout stands."""
    from mlgate.app.rollout.state import load

    return load(local_state_dir(config, state_dir))


def rollout_stop(
    config: Path | None, state_dir: Path | None, say: Callable[[str], None]
) -> list[str]:
    """`mlgate canary stop`: roll back a rollout in progress, then stop every process."""
    from mlgate.adapters.mlflow import open_registry
    from mlgate.app.rollout.stop import stop_rollout

    project = _project(config)
    registry = open_registry(project) if project is not None else None
    return stop_rollout(local_state_dir(config, state_dir), registry=registry, say=say)


@dataclass(frozen=True)
class AnalyzeOptions:
    """`mlgate canary analyze`: the two variants, where their metrics are, the window."""

    stable: str
    canary: str
    prometheus: str | None = None
    stable_selector: str | None = None
    canary_selector: str | None = None
    window: float | None = None
    config: Path | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalysisResult:
    """One window's verdict: passed when no check failed."""

    passed: bool
    checks: tuple[Check, ...]
    window_s: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "passed": self.passed,
            "window_s": self.window_s,
            "source": self.source,
            "checks": [c.to_dict() for c in self.checks],
        }


def analyze(options: AnalyzeOptions) -> AnalysisResult:
    """One analysis window of `canary` against `stable`: from Prometheus over the last window
    when `prometheus` is given, else by scraping both servers' /metrics across the window."""
    from mlgate.core.canary import Progress, evaluate

    policy = policy_from(_project(options.config), options.policy)
    window = options.window or policy.interval
    if options.prometheus:
        from mlgate.adapters.prometheus.query import Prometheus, Selectors, check_matchers, observe

        def selectors(url: str, given: str | None, flag: str) -> Selectors:
            if given:
                return Selectors.same(check_matchers(given, flag))
            return Selectors.of_instance(url)

        obs = observe(
            Prometheus(options.prometheus),
            selectors(options.stable, options.stable_selector, "--stable-selector"),
            selectors(options.canary, options.canary_selector, "--canary-selector"),
            progress=Progress(),
            window_s=window,
            since_s=window,
        )
        source = f"prometheus {redact_uri(options.prometheus)}"
    else:
        from mlgate.adapters.prometheus.scrape import scrape_window

        obs = scrape_window(options.stable, options.canary, window)
        source = "scraped /metrics"
    checks = evaluate(obs, policy)
    return AnalysisResult(not any(c.failed for c in checks), checks, window, source)
