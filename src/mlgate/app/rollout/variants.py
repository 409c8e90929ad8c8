"""The model servers of a local release, and how to reach, watch and stop each.

    process     `mlgate serve BUNDLE` on a free port, its prediction log in the state directory
    container   `podman|docker run IMAGE` publishing a free 127.0.0.1 port
    external    a server someone else runs (an address): reached, never started or stopped

Processes are recorded by PID and start time, containers by name (see `procs`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

from mlgate.adapters import procs
from mlgate.adapters.container.engine import find_engine
from mlgate.adapters.prometheus.query import Selectors
from mlgate.core.records.rollout import VariantKind, VariantRef
from mlgate.errors import InfraError, UsageError

SERVER_GRACE_S = 10.0
FEEDBACK_SECRET_ENV = "MLGATE_FEEDBACK_SECRET"
FEEDBACK_SECRET_FILE = "feedback-secret"
__all__ = ["VariantRef", "running", "selectors", "stop_variant"]


def selectors(variant: VariantRef) -> Selectors:
    """How the local Prometheus tells this variant's series apart."""
    return Selectors.behind_splitter(variant.address, variant.metrics_address)


def release_secret(workdir: Path) -> str:
    """The feedback secret of the release in `workdir`: made by the first variant that starts
    (a file only this user reads), then read by every other."""
    path = workdir / FEEDBACK_SECRET_FILE
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def _on_port(port: int, kind: VariantKind, **fields: object) -> VariantRef:
    """A variant that answers, and serves its /metrics, on 127.0.0.1:`port`."""
    address = f"127.0.0.1:{port}"
    return VariantRef(kind=kind, address=address, metrics_address=address, **fields)


def start_process_variant(
    bundle: Path, workdir: Path, *, source: str, label: str, model: str | None, version: int | None
) -> VariantRef:
    """`mlgate serve BUNDLE` on a free port, logging predictions into `workdir`; waits ready."""
    port = procs.free_port()
    log_dir = workdir / f"server-{port}"
    argv = procs.python_module(
        "mlgate", "serve", str(bundle), "--host", "127.0.0.1", "--port", str(port),
        "--log-dir", str(log_dir / "predictions"),
        "--graceful-timeout", f"{SERVER_GRACE_S:g}",
        # The project's own code as the bundle carries it: the champion beside the candidate
        # was trained with older code than the project holds now.
        "--code-from-bundle",
    )  # fmt: skip
    env = {**os.environ}
    # Both variants sign request ids with one secret, so either takes the labels of the
    # other's predictions (the edge sends /feedback to the incumbent); an operator's own
    # secret, when set, is everyone's.
    env.setdefault(FEEDBACK_SECRET_ENV, release_secret(workdir))
    ref = procs.spawn(argv, what=f"model server {label}", log=log_dir / "server.log", env=env)
    variant = _on_port(
        port,
        "process",
        source=source,
        label=label,
        model=model,
        version=version,
        proc=ref,
        log_dir=str(log_dir / "predictions"),
    )
    try:
        procs.wait_for(
            lambda: ready(variant), timeout=120, what=f"model server {label} ready", ref=ref
        )
    except InfraError:
        procs.stop(ref, timeout=5)
        raise
    return variant


def start_container_variant(
    image: str, *, engine_name: str | None, source: str, label: str
) -> VariantRef:
    """`ENGINE run -d IMAGE` publishing the server on a free 127.0.0.1 port; waits ready."""
    engine = find_engine(engine_name)
    port = procs.free_port()
    name = f"mlgate-release-{port}"
    engine.run(
        ["run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", image],
        what=f"starting {image}",
        timeout=120,
    )
    variant = _on_port(
        port, "container", source=source, label=label, container=name, engine=engine.name
    )
    try:
        procs.wait_for(lambda: ready(variant), timeout=180, what=f"container {name} ready")
    except InfraError as exc:
        logs = engine.logs(name)
        engine.remove(name)
        raise InfraError(f"{exc.message}\n{logs}") from None
    return variant


def external_variant(
    url: str,
    *,
    source: str,
    label: str,
    metrics_url: str | None = None,
    model: str | None = None,
    version: int | None = None,
) -> VariantRef:
    """A server that runs already (started by someone else): reached, watched, never stopped."""
    address = _address(url)
    variant = VariantRef(
        source=source,
        label=label,
        kind="external",
        address=address,
        metrics_address=_address(metrics_url) if metrics_url else address,
        model=model,
        version=version,
    )
    if not ready(variant):
        raise UsageError(
            f"the model server at {url} is not ready (GET /ready is not 200)",
            hint="start it first, or give a bundle, a models:/ URI or an image instead",
        )
    return variant


def _address(url: str) -> str:
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
        raise UsageError(f"{url!r} is not an http://HOST:PORT address of a model server")
    return f"{parsed.hostname}:{parsed.port}"


def ready(variant: VariantRef) -> bool:
    """GET /ready answers 200."""
    return procs.http_ok(f"{variant.url}/ready")


def running(variant: VariantRef) -> bool:
    """The variant's process or container still runs (an external one: it answers /ready)."""
    if variant.kind == "process":
        return procs.alive(variant.proc)
    if variant.kind == "container":
        try:
            state = find_engine(variant.engine).container_state(variant.container or "")
        except InfraError:
            return False
        return bool(state.get("Running"))
    return ready(variant)


def stop_variant(variant: VariantRef) -> None:
    """SIGTERM (the server drains its requests), SIGKILL if it does not exit; containers are
    removed. An external server is left alone."""
    if variant.kind == "process":
        procs.stop(variant.proc, timeout=SERVER_GRACE_S + 10)
    elif variant.kind == "container" and variant.container:
        find_engine(variant.engine).remove(variant.container)
