"""`mlgate build`: a serving image for a model bundle, built hermetically and smoke-tested.

`plan_build` is pure (bundle + options -> image reference, build arguments, labels); `build_image`
does the work: find the engine, assemble the context, build, smoke-test, report.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mlgate.adapters.container.engine import find_engine
from mlgate.app.image.context import assemble
from mlgate.app.image.smoke import run_smoke
from mlgate.app.ports import ContainerEngine
from mlgate.core.ci import NO_CI, CiEnv
from mlgate.errors import GateFailed, InfraError
from mlgate.store.bundle import MODEL_FILE, Bundle, load_bundle
from mlgate.store.lineage import git_output
from mlgate.store.trust import audit_sklearn, command_trust

DEFAULT_BASE_IMAGE = "python:3.11-slim"
BUILD_TIMEOUT_S = 1800.0
_NAME_OK = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class BuildOptions:
    """Everything `mlgate build` is asked to do."""

    bundle_dir: Path
    tag: str | None = None
    engine: str | None = None
    base_image: str = DEFAULT_BASE_IMAGE
    smoke: bool = True
    source_url: str | None = None
    revision: str | None = None
    # Signature check and extra trusted types (see `mlgate.store.trust.command_trust`).
    config: Path | None = None
    public_key: Path | None = None
    trusted_types: tuple[str, ...] = ()
    # What the CI runner says of the commit and repository (the CLI reads it).
    ci: CiEnv = NO_CI


@dataclass(frozen=True)
class BuildPlan:
    """The image to build and how: a pure function of the bundle and the options."""

    image: str
    build_args: dict[str, str]
    labels: dict[str, str]


@dataclass(frozen=True)
class BuildResult:
    """What `mlgate build` produced."""

    image: str
    image_id: str
    size_bytes: int
    labels: dict[str, str]
    build_seconds: float
    smoke_rows: int | None = None
    smoke_ready_after_s: float | None = None
    wheels: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form for `--json`."""
        return {
            "image": self.image,
            "image_id": self.image_id,
            "size_bytes": self.size_bytes,
            "labels": self.labels,
            "build_seconds": round(self.build_seconds, 2),
            "smoke": None
            if self.smoke_rows is None
            else {
                "rows": self.smoke_rows,
                "ready_after_s": round(self.smoke_ready_after_s or 0, 2),
            },
        }


def image_name(name: str) -> str:
    """A model name made into a valid image repository name (lowercase, no odd characters)."""
    cleaned = _NAME_OK.sub("-", name.lower()).strip("-._")
    return cleaned or "model"


def image_ref(repository: str | None, model_name: str, revision: str) -> str:
    """`REPOSITORY:REVISION`; a repository that already carries a tag is kept as given."""
    repo = repository or f"localhost/{image_name(model_name)}"
    last = repo.rsplit("/", 1)[-1]
    if ":" in last or "@" in last:
        return repo
    return f"{repo}:{revision}"


def plan_build(
    bundle: Bundle,
    *,
    repository: str | None,
    base_image: str,
    revision: str,
    source_url: str,
    created: str,
    python_version: str,
    trusted_types: tuple[str, ...] = (),
) -> BuildPlan:
    """The image reference, build arguments and OCI labels for `bundle`."""
    version = bundle.version
    args = {
        # The builder's decision, baked into the image: never read from the bundle itself.
        "TRUSTED_TYPES": ",".join(trusted_types),
        "BASE_IMAGE": base_image,
        "PYTHON_VERSION": python_version,
        "SOURCE_URL": source_url,
        "REVISION": revision,
        "CREATED": created,
        "MODEL_NAME": bundle.meta.name,
        "MODEL_VERSION": version,
        "DATA_FINGERPRINT": bundle.meta.data.fingerprint,
    }
    labels = {
        "org.opencontainers.image.source": source_url,
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.title": bundle.meta.name,
        "org.opencontainers.image.version": version,
        "io.mlgate.model.name": bundle.meta.name,
        "io.mlgate.model.version": version,
        "io.mlgate.data.fingerprint": bundle.meta.data.fingerprint,
    }
    return BuildPlan(
        image=image_ref(repository, bundle.meta.name, revision), build_args=args, labels=labels
    )


def resolve_revision(bundle: Bundle, explicit: str | None, ci: CiEnv = NO_CI) -> str:
    """The git SHA to tag with: given, else the bundle's lineage, else HEAD (or the CI
    runner's), else the bundle's content address (a bundle trained outside git still gets a
    stable, unique tag)."""
    if explicit:
        return explicit
    if bundle.meta.git.commit:
        return bundle.meta.git.commit
    head = git_output(Path.cwd(), "rev-parse", "HEAD") or ci.sha
    return head or f"bundle-{bundle.version}"


def resolve_source_url(explicit: str | None, ci: CiEnv = NO_CI) -> str:
    """Where the code lives: given, else the CI runner's repository URL, else git's origin."""
    if explicit:
        return explicit
    if ci.repository_url:
        return ci.repository_url
    origin = git_output(Path.cwd(), "remote", "get-url", "origin") or ""
    # git@host:owner/repo.git -> https://host/owner/repo, the form OCI's `source` expects.
    if origin.startswith("git@") and ":" in origin:
        host, _, path = origin[4:].partition(":")
        origin = f"https://{host}/{path}"
    return origin.removesuffix(".git")


def build_argv(engine: ContainerEngine, plan: BuildPlan, context: Path) -> list[str]:
    """The engine's `build` command line."""
    argv = ["build", "--file", str(context / "Dockerfile"), "--tag", plan.image]
    if engine.name == "podman":
        # OCI image configs have no HEALTHCHECK; podman keeps it only in the docker format.
        argv += ["--format", "docker", "--layers"]
    for key, value in plan.build_args.items():
        argv += ["--build-arg", f"{key}={value}"]
    argv.append(str(context))
    return argv


def build_image(options: BuildOptions, engine: ContainerEngine | None = None) -> BuildResult:
    """Build (and unless told otherwise smoke-test) the serving image of a bundle with `engine`
    (default: the one `options.engine` names, or the first found)."""
    # The engine first: without one there is nothing to do, and no bundle to hash for it.
    if engine is None:
        engine = find_engine(options.engine)
    # The bundle is verified (and its signature checked) here, but its model is never loaded
    # on this host: the smoke test loads it inside the container. The model file's types are
    # checked without building a single object (skops reads its schema), so a file the image
    # would refuse to load is refused here, before any build.
    trust = command_trust(options.config, options.public_key, options.trusted_types)
    bundle = load_bundle(options.bundle_dir, trust=trust)
    if not bundle.onnx_only:  # a model.command bundle holds only model.onnx: no types to audit
        model_trust = bundle.model_trust(load=False)  # the project's code checked, not run
        audit_sklearn(bundle.read(MODEL_FILE), model_trust, str(options.bundle_dir / MODEL_FILE))
    plan = plan_build(
        bundle,
        repository=options.tag,
        base_image=options.base_image,
        revision=resolve_revision(bundle, options.revision, options.ci),
        source_url=resolve_source_url(options.source_url, options.ci),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        trusted_types=trust.types,
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mlgate-build-") as tmp:
        ctx = assemble(bundle, Path(tmp) / "context")
        try:
            engine.run(
                build_argv(engine, plan, ctx.root),
                what=f"building {plan.image}",
                timeout=BUILD_TIMEOUT_S,
            )
        except InfraError as exc:
            raise _explained(exc, engine, options.base_image) from None
    elapsed = time.perf_counter() - start
    info = engine.inspect_image(plan.image)
    result = BuildResult(
        image=plan.image,
        image_id=str(info.get("Id", "")),
        size_bytes=int(info.get("Size", 0)),
        labels=plan.labels,
        build_seconds=elapsed,
        wheels=ctx.wheels,
    )
    return _smoke_tested(engine, plan.image, bundle, result) if options.smoke else result


def _explained(exc: InfraError, engine: ContainerEngine, base_image: str) -> InfraError:
    """A failed build, with what to set when the base image is what was missing."""
    try:
        engine.inspect_image(base_image)
    except InfraError:
        return InfraError(
            exc.message,
            hint=f"the base image {base_image} is not in {engine.name}'s store and could not "
            "be pulled (an offline machine?): name a local image with --base-image or "
            f"MLGATE_BASE_IMAGE (`{engine.name} images` lists them; docs/image.md says how to "
            "make one)",
        )
    return exc


def _smoke_tested(
    engine: ContainerEngine, image: str, bundle: Bundle, result: BuildResult
) -> BuildResult:
    """The build result with the smoke test's figures; an image that fails it is untagged."""
    try:
        smoke = run_smoke(engine, image, bundle)
    except GateFailed as exc:
        # An image that failed its smoke test must not be pushed by a later step by mistake.
        _untag(engine, image)
        raise GateFailed(
            f"smoke test of {image} failed: {exc.message}",
            hint="the image was untagged; rebuild with --no-smoke to inspect it",
        ) from None
    return BuildResult(
        image=result.image,
        image_id=result.image_id,
        size_bytes=result.size_bytes,
        labels=result.labels,
        build_seconds=result.build_seconds,
        smoke_rows=smoke.rows,
        smoke_ready_after_s=smoke.ready_after_s,
        wheels=result.wheels,
    )


def _untag(engine: ContainerEngine, image: str) -> None:
    proc = engine.run(["rmi", image], what=f"untagging {image}", check=False)
    if proc.returncode != 0:
        raise InfraError(f"could not untag {image} after its failed smoke test: {proc.stderr}")
