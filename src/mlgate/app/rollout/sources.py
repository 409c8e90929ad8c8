"""What a local release runs, from what the user names: a registry version (`models:/NAME@ALIAS`,
`models:/NAME/VERSION`), a bundle directory, an image, or the address of a server that runs
already. Registry versions are downloaded (verified against the registry) into the state
directory for each release.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlgate.app.rollout import variants
from mlgate.app.rollout.variants import VariantRef
from mlgate.errors import UsageError

if TYPE_CHECKING:
    from mlgate.adapters.mlflow.types import Registry

# Deferred imports: the registry's URI parsing, the bundle loader and the trust checks load only
# for a source that needs them: the controller process imports this module for every release.

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
            text, "bundle", str(bundle), f"{ref.name} v{version}", model=ref.name, version=version
        )
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
