"""`mlgate register`: register a gated bundle in the project's registry (alias `challenger`);
`mlgate promote`: move `champion` to a version the release policy allows
(`mlgate.core.release_policy`); and the facts that policy is told of registry versions and
bundles (`version_facts`, `bundle_facts`), for `mlgate deploy` too.
"""

from __future__ import annotations

from dataclasses import replace

from mlgate.adapters.mlflow import CHALLENGER, Registry, RunContext, VersionInfo, open_registry
from mlgate.adapters.mlflow.integrity import DIGEST_TAG
from mlgate.adapters.mlflow.uri import check_version
from mlgate.core.config import Project
from mlgate.core.release_policy import (
    CandidateFacts,
    GateFact,
    Refused,
    Rejection,
    decide_release,
    override_reason,
)
from mlgate.errors import UsageError
from mlgate.store.bundle import Bundle, load_bundle
from mlgate.store.locking import project_lock
from mlgate.store.trust import project_trust


def register_gated(
    project: Project,
    *,
    registry: Registry | None = None,
    source: str = "mlgate register",
    wait: bool = True,
) -> VersionInfo:
    """`mlgate register`: register the project's bundle with the report its gate wrote into it
    (which names the digest of the bundle it judged), holding the project lock."""
    trust = project_trust(project)
    with project_lock(project, wait=wait, what=source):
        gate_report = load_bundle(project.bundle_dir, trust=trust).gate_report()
        if gate_report is None:
            raise UsageError(
                f"bundle {project.bundle_dir} has not been gated (no gate.json)",
                hint="run `mlgate gate` (or `mlgate run`) first",
            )
        reg: Registry = registry if registry is not None else open_registry(project)
        reg.fail_abandoned_runs(project.config.name)
        artifacts = [project.reports_dir / "validation.json", project.reports_dir / "gate.json"]
        context = RunContext.current(source, artifacts)
        return reg.register(project.bundle_dir, gate_report, context, trust=trust)


# -- what the release policy is told of registry versions and bundles ------------------------


def gate_fact(bundle: Bundle) -> GateFact:
    """The verdict of the gate.json a (verified) bundle carries: SHA256SUMS and the signature
    cover it, and it names the digest of the bundle it judged, which must be this one."""
    report = bundle.gate_report()
    if report is None:
        return GateFact("missing", "it carries no gate report (gate.json): run `mlgate gate`")
    if report.bundle_digest != bundle.content_digest:
        return GateFact(
            "stale",
            f"its gate report judged another bundle ({report.bundle_digest}, this one is "
            f"{bundle.content_digest}): run `mlgate gate` again",
        )
    if not report.passed:
        return GateFact("failed", "; ".join(report.failures) or "see its gate.json")
    return GateFact("passed")


def version_facts(info: VersionInfo, *, gate: GateFact | None = None) -> CandidateFacts:
    """A registry version's facts. Without the bundle's own `gate`, the registration is the
    verdict: mlgate registers only a bundle whose gate passed, and records its digest."""
    tags = info.tags
    if gate is None:
        gate = (
            GateFact("passed")
            if DIGEST_TAG in tags
            else GateFact(
                "unknown", f"v{info.version} was not registered by mlgate: no gate record"
            )
        )
    rejection = None
    if "mlgate.rejected_by" in tags:
        rejection = Rejection(
            by=tags["mlgate.rejected_by"],
            at=tags.get("mlgate.rejected_at", "?"),
            reason=tags.get("mlgate.rejection_reason", ""),
        )
    return CandidateFacts(f"{info.name} v{info.version}", gate, info.version, rejection)


def find_version(registry: Registry, name: str, version: int) -> VersionInfo:
    """Version `version` of `name`; a UsageError when the registry has none."""
    check_version(version, f"model {name!r}: version")
    for info in registry.list_versions(name):
        if info.version == version:
            return info
    raise UsageError(
        f"model {name!r} has no version {version} in the registry at {registry.uri}",
        hint="`mlgate models` lists the versions",
    )


def bundle_facts(bundle: Bundle, registry: Registry | None, *, label: str) -> CandidateFacts:
    """A bundle directory's facts: its own gate verdict, and the registry version (if any)
    that recorded its digest, with that version's rejection. A registered bundle without a
    gate.json has its registration for a verdict, as a version does."""
    gate = gate_fact(bundle)
    if registry is None:
        return CandidateFacts(label, gate)
    try:
        versions = registry.list_versions(bundle.meta.name)
    except UsageError:  # the model is not in the registry: no version records this bundle
        versions = []
    for info in versions:
        if info.tags.get(DIGEST_TAG) == bundle.sums_digest:
            own = gate if gate.status != "missing" else None
            facts = version_facts(info, gate=own)
            return replace(facts, label=f"{label}, {info.name} v{info.version}")
    return CandidateFacts(label, gate)


def promote_checked(
    project: Project,
    version: int | None,
    *,
    reason: str,
    actor: str,
    override: str | None = None,
    model: str | None = None,
    registry: Registry | None = None,
) -> VersionInfo:
    """`mlgate promote`: move `champion` to `version` (default: the challenger) when the release
    policy allows it; an override is recorded on the version (who, when, why) first."""
    reg: Registry = registry if registry is not None else open_registry(project)
    name = model or project.config.name
    if version is None:
        info = reg.get_alias(name, CHALLENGER)
        if info is None:
            raise UsageError(
                f"model {name!r} has no alias {CHALLENGER!r} to promote",
                hint="register a model with `mlgate run`, or pass a VERSION",
            )
    else:
        info = find_version(reg, name, version)
    decision = decide_release(version_facts(info), override_reason(override))
    if isinstance(decision, Refused):
        raise decision.error("promote")
    if decision.override is not None:
        reg.record_override(
            name, info.version, reason=decision.override, actor=actor,
            overridden="; ".join(decision.overridden),
        )  # fmt: skip
        reason = reason or f"override: {decision.override}"
    return reg.promote(name, info.version, reason=reason, actor=actor)
