"""`mlgate push`: push an image to any OCI registry and report the digest it was stored under.

Deployments refer to the image by that digest (`REPO@sha256:...`), never by a tag: a tag can be
moved, a digest names exactly the bytes that passed the smoke test. Credentials are the engine's
own (`podman login` / `docker login`, or its auth file), never handled here.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlgate.adapters.container.engine import Engine, find_engine
from mlgate.errors import InfraError, UsageError
from mlgate.store import atomic


@dataclass(frozen=True)
class PushResult:
    """Where the image went and under which digest."""

    source: str
    destination: str
    digest: str

    @property
    def by_digest(self) -> str:
        """`REPOSITORY@sha256:...`, the reference deployments use."""
        return f"{strip_tag(self.destination)}@{self.digest}"

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form for `--json`."""
        return {
            "source": self.source,
            "destination": self.destination,
            "digest": self.digest,
            "image": self.by_digest,
        }


# What podman (Go's net/http) says when a registry answers HTTPS with plain HTTP.
PLAIN_HTTP = "server gave HTTP response to HTTPS client"


def _has_registry(first: str) -> bool:
    # Docker's rule: the first path component names a registry when it looks like a host.
    return "." in first or ":" in first or first == "localhost"


def strip_tag(ref: str) -> str:
    """The repository part of `REPO[:TAG][@DIGEST]`."""
    ref = ref.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    name = last.split(":", 1)[0]
    return f"{head}/{name}" if head else name


def retarget(image: str, registry: str | None) -> str:
    """`image` moved to `registry` (keeping its path and tag); unchanged without a registry."""
    if not registry:
        return image
    registry = registry.rstrip("/")
    first, _, rest = image.partition("/")
    path = rest if rest and _has_registry(first) else image
    return f"{registry}/{path}"


def push_image(
    image: str,
    *,
    registry: str | None = None,
    tls_verify: bool = True,
    engine_name: str | None = None,
    digest_file: Path | None = None,
) -> PushResult:
    """Push `image` (optionally to another registry) and return its digest there; with
    `digest_file`, also write `REPOSITORY@DIGEST` to it (for the next workflow step)."""
    result = _push(image, registry, tls_verify, engine_name)
    if digest_file is not None:
        atomic.write_text(digest_file, result.by_digest + "\n")
    return result


def _push(
    image: str, registry: str | None, tls_verify: bool, engine_name: str | None
) -> PushResult:
    if not registry and image.partition("/")[0] == "localhost":
        raise UsageError(
            f"image {image} names no registry to push to: localhost/ is this machine's image store",
            hint="pass --registry HOST[:PORT] (for a plain-HTTP registry such as a local one, "
            "also --no-tls-verify), or build with --tag REGISTRY/NAME",
        )
    engine = find_engine(engine_name)
    if not engine.image_exists(image):
        raise UsageError(
            f"image {image} is not in {engine.name}'s store", hint="run `mlgate build`"
        )
    dest = retarget(image, registry)
    if engine.name == "podman":
        return _push_podman(engine, image, dest, tls_verify)
    return _push_docker(engine, image, dest)


def _push_podman(engine: Engine, image: str, dest: str, tls_verify: bool) -> PushResult:
    with tempfile.TemporaryDirectory(prefix="mlgate-push-") as tmp:
        digestfile = Path(tmp) / "digest"
        argv = ["push", f"--tls-verify={'true' if tls_verify else 'false'}"]
        try:
            engine.run(
                [*argv, "--digestfile", str(digestfile), image, dest],
                what=f"pushing {dest}",
                timeout=1800,
            )
        except InfraError as exc:
            if tls_verify and PLAIN_HTTP in exc.message:
                raise InfraError(
                    exc.message,
                    hint=f"{dest.partition('/')[0]} speaks plain HTTP: pass --no-tls-verify "
                    "if that registry is yours (a local one), else use its HTTPS address",
                ) from None
            raise
        digest = digestfile.read_text(encoding="utf-8").strip()
    if not digest.startswith("sha256:"):
        raise InfraError(f"podman push reported no digest for {dest} (got {digest!r})")
    return PushResult(source=image, destination=dest, digest=digest)


def _push_docker(engine: Engine, image: str, dest: str) -> PushResult:
    # Docker has no per-push TLS switch: a plain-HTTP registry is declared in the daemon's
    # `insecure-registries` (127.0.0.0/8 is insecure by default).
    if dest != image:
        engine.run(["tag", image, dest], what=f"tagging {dest}")
    engine.run(["push", dest], what=f"pushing {dest}", timeout=1800)
    repo = strip_tag(dest)
    out = engine.run(
        ["image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", dest],
        what=f"reading the digest of {dest}",
    ).stdout
    for line in out.split():
        name, _, digest = line.partition("@")
        if name == repo and digest.startswith("sha256:"):
            return PushResult(source=image, destination=dest, digest=digest)
    raise InfraError(f"docker pushed {dest} but reports no digest for {repo}")
