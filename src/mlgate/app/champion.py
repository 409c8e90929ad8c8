"""The model to beat: the registry's champion (downloaded and verified), or the bundle named in
`evaluation.champion_bundle` for teams without a tracking server.

The champion is re-evaluated on the current holdout by the gate; its logged metrics are never
trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlgate.adapters.mlflow import CHAMPION, Registry, VersionInfo
from mlgate.core.config import Project
from mlgate.errors import UsageError
from mlgate.store.trust import Trust

NO_CHAMPION_NOTE = "no champion in the registry: only the absolute and baseline gates were applied"


@dataclass(frozen=True)
class Champion:
    """The model to beat: a bundle, and how to name it in reports."""

    bundle_dir: Path
    label: str
    # The keys and types to load it with (the project's); None: the environment's.
    trust: Trust | None = None


def no_champion_note(project: Project, uri: str) -> str:
    """Why the champion gates did not run, and how to keep a champion between CI runs."""
    skipped = [
        g.metric
        for g in project.config.gates
        if g.min_absolute_change is not None or g.min_relative_change is not None
    ]
    what = f"the champion gate(s) on {', '.join(skipped)} did not run; " if skipped else ""
    return (
        f"{NO_CHAMPION_NOTE} ({uri}): {what}a CI job without MLFLOW_TRACKING_URI starts with an "
        "empty registry every time. Set that secret, or keep the champion's bundle in the DVC "
        "remote and name it in evaluation.champion_bundle (README: keeping a champion)"
    )


def bundle_champion(project: Project, trust: Trust | None = None) -> Champion | None:
    """The champion bundle named in evaluation.champion_bundle, when the registry has none."""
    configured = project.config.evaluation.champion_bundle
    if configured is None:
        return None
    path = project.path(configured)
    if not path.is_dir():
        raise UsageError(
            f"evaluation.champion_bundle: {path} is not a directory",
            hint="run `dvc pull` to fetch it, or remove the key",
        )
    return Champion(bundle_dir=path, label=f"champion bundle {configured}", trust=trust)


def champion_for_gate(
    registry: Registry, name: str, workdir: Path, trust: Trust | None = None
) -> tuple[VersionInfo | None, Champion | None]:
    """The champion's version and a verified local copy of its bundle, or (None, None).

    The copy lives in `workdir` and is checked like any bundle (SHA256SUMS, and the signature
    when `trust` has a public key), and against the digest the registry recorded when the
    champion was registered: a champion whose artifacts were swapped would lower the bar every
    challenger is held to, so it is refused (BundleError, exit 2), as is, unless the registry
    allows unrecorded versions, one registered before digests were recorded.
    `run_gate(project, champion=...)` re-evaluates it on the current holdout, so its logged
    metrics are never used.
    """
    info = champion_info(registry, name)
    if info is None:
        return None, None
    bundle_dir = registry.download(name, info.version, workdir, trust=trust)
    label = f"champion v{info.version}"
    return info, Champion(bundle_dir=bundle_dir, label=label, trust=trust)


def champion_info(registry: Registry, name: str) -> VersionInfo | None:
    """The version the `champion` alias names, or None before the model is registered."""
    try:
        return registry.get_alias(name, CHAMPION)
    except UsageError:
        # The model is not registered yet: the first run has nothing to beat.
        return None
