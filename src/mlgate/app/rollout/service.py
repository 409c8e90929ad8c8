"""What the command line calls to release a model: `mlgate deploy` (a local release, or the
cluster's manifests), `mlgate canary status` and `stop`; one function each."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlgate.adapters.mlflow import current_actor, open_registry
from mlgate.adapters.nginx import AbKey
from mlgate.app.kubernetes.target import ManifestOptions, write_manifests
from mlgate.app.rollout.controller import RolloutRequest, run_rollout
from mlgate.app.rollout.state import load
from mlgate.app.rollout.stop import stop_rollout
from mlgate.app.rollout.transitions import Outcome
from mlgate.core.config import Project
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import RolloutState
from mlgate.core.vocab import RELEASE_STRATEGIES, ReleaseStrategy
from mlgate.errors import UsageError
from mlgate.store.project import find_project

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
    if target != "kubernetes":
        raise UsageError(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
    resolved = policy_from(project_at(config), policy or {})
    return write_manifests(replace(options, policy=resolved), out)


def policy_from(project: Project | None, overrides: Mapping[str, Any]) -> CanaryConfig:
    """The project's `canary:` policy (or the defaults) with command-line overrides; a bad
    value is a UsageError naming its flag."""
    base = project.config.canary.model_dump() if project is not None else {}
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return CanaryConfig.model_validate({**base, **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "canary"
        where = f"--{key.replace('_', '-')}" if key in given else f"canary.{key} in mlgate.yaml"
        raise UsageError(f"{where}: {first['msg']} (got {first.get('input')!r})") from None


def project_at(config: Path | None) -> Project | None:
    """The project at (or above) `config`, or None outside one."""
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
        AbKey.parse(options.ab_key)
    if options.engine not in (None, "process", "podman", "docker"):
        raise UsageError(f"--engine {options.engine!r}: choose process, podman or docker")
    project = project_at(options.config)
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
    project = project_at(config)
    return (project.root if project is not None else Path.cwd()) / STATE_DIR


def rollout_status(config: Path | None, state_dir: Path | None) -> RolloutState:
    """`mlgate canary status`: what the local release runs and where its rollout stands."""
    return load(local_state_dir(config, state_dir))


def rollout_stop(
    config: Path | None, state_dir: Path | None, say: Callable[[str], None]
) -> list[str]:
    """`mlgate canary stop`: roll back a rollout in progress, then stop every process."""
    project = project_at(config)
    registry = open_registry(project) if project is not None else None
    return stop_rollout(local_state_dir(config, state_dir), registry=registry, say=say)
