"""What a local release runs, from what the user names: a registry version (`models:/NAME@ALIAS`,
`models:/NAME/VERSION`), a bundle directory, an image, or the address of a server that runs
already. Registry versions are downloaded (verified against the registry) into the state
directory for each release.

`admit` asks the release policy (`mlgate.core.release_policy`) about a resolved candidate: a
bundle directory's gate verdict is its own gate.json (covered by its SHA256SUMS and signature,
and naming the digest of the bundle it judged); it is registered when a version records its
digest. A registry version's verdict is its registration (mlgate registers only the bundle a
passing gate judged), and the `mlgate.rejected_*` tags on the version are its rejection. An
image or a running server carries no verdict mlgate can check: it passes only with an override.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlgate.app.rollout import variants
from mlgate.app.rollout.variants import VariantRef
from mlgate.core.release_policy import Allowed, CandidateFacts, GateFact, Refused, decide_release
from mlgate.errors import UsageError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import Registry
    from mlgate.store.trust import Trust

# Deferred imports: the registry's URI parsing, the bundle loader, the trust checks and the
# registry facts (`mlgate.app.register`) load only for a source that needs them: the controller
# process imports this module for every release.

SourceKind = Literal["bundle", "image", "url"]


@dataclass(frozen=True)
class Source:
    """A variant to start (bundle, image) or to reach (url), and its registry identity."""

    text: str
    kind: SourceKind
    location: str
    label: str
    model: str | None = None
    version: int | None = None
    metrics_url: str | None = None
    # The directory a registry version was downloaded into, for this release only.
    downloaded: str | None = None


def resolve(
    text: str,
    *,
    registry: Registry | None,
    model: str | None,
    workdir: Path,
    engine: str | None,
) -> Source:
    """The `Source` that `text` names; a UsageError says what was expected."""
    from mlgate.adapters.mlflow.uri import is_model_uri, parse_model_uri

    if text.startswith(("http://", "https://")):
        return Source(text, "url", text.rstrip("/"), label=text.rstrip("/"))
    if is_model_uri(text):
        if registry is None:
            raise UsageError(f"{text}: a models:/ URI needs a project with a registry (--config)")
        ref = parse_model_uri(text)
        version = ref.version
        if ref.alias is not None:
            info = registry.get_alias(ref.name, ref.alias)
            if info is None:
                raise UsageError(
                    f"model {ref.name!r} has no alias {ref.alias!r} in the registry at "
                    f"{registry.uri}",
                    hint="register a candidate with `mlgate run`, or name a bundle or version",
                )
            version = info.version
        assert version is not None  # parse_model_uri guarantees an alias or a version
        target = workdir / "bundles" / ref.name
        # Downloaded afresh for every release, never reused from an earlier one: the download
        # is what compares the bundle with the digest the registry recorded for this version
        # (a copy left in the state directory could have been changed since). The server
        # verifies SHA256SUMS again when it loads it.
        shutil.rmtree(target / f"v{version}", ignore_errors=True)
        bundle = registry.download(ref.name, version, target)
        return Source(
            text, "bundle", str(bundle), f"{ref.name} v{version}", model=ref.name,
            version=version, downloaded=str(target / f"v{version}"),
        )  # fmt: skip
    path = Path(text)
    if path.is_dir():
        from mlgate.store.bundle import load_bundle
        from mlgate.store.trust import resolve

        loaded = load_bundle(path, trust=resolve())
        if engine in ("podman", "docker"):
            raise UsageError(
                f"{text} is a bundle, and --engine {engine} runs images",
                hint=f"build one with `mlgate build {text}`, then pass the image it prints",
            )
        name = loaded.meta.name
        return Source(text, "bundle", str(path.resolve()), f"{name} {loaded.version}", model=name)
    if engine == "process" or ("/" not in text and ":" not in text):
        raise UsageError(
            f"{text!r} is neither a bundle directory, a models:/ URI, an image nor an http:// "
            "address",
            hint=f"e.g. models:/{model or 'NAME'}@challenger, models/model, or REPO/IMAGE:TAG",
        )
    return Source(text, "image", text, label=text)


def start(source: Source, workdir: Path, *, engine: str | None) -> VariantRef:
    """Start (or reach) the variant a source names, and wait until it is ready."""
    if source.kind == "url":
        return variants.external_variant(
            source.location,
            source=source.text,
            label=source.label,
            metrics_url=source.metrics_url,
            model=source.model,
            version=source.version,
        )
    if source.kind == "image":
        return variants.start_container_variant(
            source.location, engine_name=engine, source=source.text, label=source.label
        )
    return variants.start_process_variant(
        Path(source.location),
        workdir / "variants",
        source=source.text,
        label=source.label,
        model=source.model,
        version=source.version,
    )


@dataclass(frozen=True)
class ReleaseCheck:
    """What the release policy is given besides the candidate: the override's reason (None:
    no override) and the trust a bundle's signature is checked with (None: the environment's)."""

    override: str | None = None
    trust: Trust | None = None


def facts(source: Source, *, registry: Registry | None, trust: Trust | None) -> CandidateFacts:
    """What the release policy needs to know of a resolved candidate (see the module doc)."""
    from mlgate.app.register import bundle_facts, find_version, gate_fact, version_facts
    from mlgate.store.bundle import load_bundle
    from mlgate.store.trust import resolve as env_trust

    if source.kind != "bundle":
        what = "an image" if source.kind == "image" else "a running server"
        detail = (
            f"{source.text} is {what}: mlgate cannot check its gate verdict (release the "
            "bundle or the models:/ version it serves instead)"
        )
        return CandidateFacts(source.label, GateFact("unknown", detail))
    bundle = load_bundle(Path(source.location), trust=trust or env_trust())
    if source.model is not None and source.version is not None and registry is not None:
        # A version's registration is its verdict (only a passing gate's bundle is registered);
        # a gate.json it carries must agree.
        own = gate_fact(bundle) if bundle.gate_report() is not None else None
        return version_facts(find_version(registry, source.model, source.version), gate=own)
    return bundle_facts(bundle, registry, label=f"bundle {source.text} ({source.label})")


def admit(source: Source, check: ReleaseCheck, *, registry: Registry | None) -> Allowed:
    """The release policy's decision on `source`; a refusal is GateFailed (exit 1) naming
    every reason and `--override`."""
    decision = decide_release(facts(source, registry=registry, trust=check.trust), check.override)
    if isinstance(decision, Refused):
        if source.downloaded is not None:  # nothing stays behind for a refused candidate
            shutil.rmtree(source.downloaded, ignore_errors=True)
        raise decision.error()
    return decision
