"""What the command line calls to release a model: `mlgate deploy` (a local release, or the
cluster's manifests), `mlgate canary status` and `stop`; one function each.

Only a candidate the release policy admits is released (`mlgate.core.release_policy`): its gate
passed, it is a registered version, and no release rejected it, unless `--override REASON`
sets that aside, recorded with who and when (on the version, in the release's state and
report, in the cluster's manifests). A stop is recorded as "stopped by ACTOR", never as a
rejection of the candidate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlgate.adapters.mlflow import (
    Registry,
    current_actor,
    is_model_uri,
    open_registry,
    parse_model_uri,
)
from mlgate.adapters.nginx import AbKey
from mlgate.app.kubernetes.target import ManifestOptions, write_manifests
from mlgate.app.register import bundle_facts, find_version, version_facts
from mlgate.app.rollout.controller import RolloutRequest, run_rollout
from mlgate.app.rollout.sources import ReleaseCheck
from mlgate.app.rollout.state import StopRequest, load, request_stop
from mlgate.app.rollout.stop import stop_rollout
from mlgate.app.rollout.transitions import Outcome
from mlgate.core.config import Project
from mlgate.core.policy import CanaryConfig
from mlgate.core.records.rollout import RolloutState
from mlgate.core.release_policy import (
    CandidateFacts,
    GateFact,
    Refused,
    decide_release,
    override_reason,
)
from mlgate.core.vocab import RELEASE_STRATEGIES, ReleaseStrategy
from mlgate.errors import UsageError
from mlgate.store.bundle import load_bundle
from mlgate.store.project import find_project
from mlgate.store.trust import Trust, project_trust
from mlgate.store.trust import resolve as env_trust

TARGETS = ("kubernetes", "local")
STATE_DIR = Path(".mlgate") / "release"


def deploy(
    target: str,
    options: ManifestOptions,
    out: Path,
    *,
    config: Path | None = None,
    policy: Mapping[str, Any] | None = None,
    candidate: str | None = None,
    override: str | None = None,
) -> list[Path]:
    """`mlgate deploy --target kubernetes`: write what runs the image into `out`; a canary's
    steps and thresholds come from the project's `canary:` policy (and `policy` overrides).
    A named `candidate` (what the image was built from) must pass the release policy first;
    the pod template's annotations name it, and the override that released it."""
    if target != "kubernetes":
        raise UsageError(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
    project = project_at(config)
    resolved = policy_from(project, policy or {})
    notes = dict(options.annotations)
    if candidate is not None:
        notes.update(_admit_named(project, candidate, override_reason(override)))
    elif override is not None:
        raise UsageError(
            "--override on --target kubernetes sets aside the policy's refusal of a candidate",
            hint="name what the image was built from with --candidate (models:/ or a bundle)",
        )
    return write_manifests(replace(options, policy=resolved, annotations=notes), out)


def _admit_named(project: Project | None, text: str, override: str | None) -> dict[str, str]:
    """The release policy's decision on a candidate named for the cluster (nothing is
    downloaded: a version's registration is its verdict); an override is recorded on the
    version. Returns the annotations that record it."""
    registry = open_registry(project) if project is not None else None
    facts, model = _named_facts(text, registry, _trust(project))
    decision = decide_release(facts, override)
    if isinstance(decision, Refused):
        raise decision.error()
    notes = {"mlgate.io/candidate": facts.label}
    if decision.override is not None:
        actor, set_aside = current_actor(), "; ".join(decision.overridden)
        if registry is not None and model is not None and facts.version is not None:
            registry.record_override(
                model, facts.version, reason=decision.override, actor=actor, overridden=set_aside
            )
        at = datetime.now(UTC).isoformat(timespec="seconds")
        notes["mlgate.io/override"] = f"by {actor} at {at}: {decision.override} ({set_aside})"
    return notes


def _named_facts(
    text: str, registry: Registry | None, trust: Trust
) -> tuple[CandidateFacts, str | None]:
    """The facts of a candidate named by models:/ URI or bundle directory, and its model."""
    if is_model_uri(text):
        if registry is None:
            raise UsageError(f"{text}: a models:/ URI needs a project with a registry (--config)")
        ref = parse_model_uri(text)
        if ref.alias is not None:
            info = registry.get_alias(ref.name, ref.alias)
            if info is None:
                raise UsageError(f"model {ref.name!r} has no alias {ref.alias!r}")
        else:
            assert ref.version is not None  # parse_model_uri guarantees an alias or a version
            info = find_version(registry, ref.name, ref.version)
        return version_facts(info), ref.name
    if Path(text).is_dir():
        bundle = load_bundle(Path(text), trust=trust)
        return bundle_facts(bundle, registry, label=f"bundle {text}"), bundle.meta.name
    detail = f"{text} is neither a models:/ URI nor a bundle directory: nothing to check"
    return CandidateFacts(text, GateFact("unknown", detail)), None


def _trust(project: Project | None) -> Trust:
    """The trust a bundle's signature is checked with: the project's, else the environment's."""
    return project_trust(project) if project is not None else env_trust()


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
    # `--override`: release a candidate the release policy refuses, for this reason.
    override: str | None = None


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
    override = override_reason(options.override)
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
        check=ReleaseCheck(override=override, trust=_trust(project)),
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
    config: Path | None,
    state_dir: Path | None,
    say: Callable[[str], None],
    *,
    reason: str | None = None,
) -> list[str]:
    """`mlgate canary stop`: stop a rollout in progress (recorded as "stopped by ACTOR", with
    `reason`; never a rejection of the candidate), then stop every process."""
    project = project_at(config)
    registry = open_registry(project) if project is not None else None
    directory = local_state_dir(config, state_dir)
    ro = load(directory).rollout
    if ro is not None and ro.active:
        # Read by whoever rolls the rollout back (its controller, this stop, or the guard),
        # and removed when the rollout ends.
        why = " ".join((reason or "").split()) or None
        request = StopRequest(rollout=ro.id, actor=current_actor(), at=time.time(), reason=why)
        request_stop(directory, request)
    return stop_rollout(directory, registry=registry, say=say)
