"""The smoke test: does the image, started as production starts it, answer like the bundle does?

Run the image on a free loopback port, wait for /ready (a deadline, never a fixed sleep), send
the bundle's MLflow input example to POST /predict, and compare the answer with the predictions
training recorded for it (the model is never loaded on the build host). Then exec the image's
HEALTHCHECK command inside the container, so a broken health check fails here rather than in
the orchestrator. The container is always removed, whatever happened.

`expected_predictions` and `compare` are pure enough to test without an engine.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from mlgate.app.ports import ContainerEngine
from mlgate.errors import BundleError, GateFailed, InfraError
from mlgate.store.bundle import Bundle

INPUT_EXAMPLE = "input_example.json"
CONTAINER_PORT = 8000
READY_TIMEOUT_S = 120.0
# Regression answers may come from ONNX Runtime in float32; training kept model.onnx only when it
# matched scikit-learn within this relative tolerance, so the image is held to the same.
REGRESSION_RTOL = 1e-4
POLL_S = 0.2


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke test saw."""

    image: str
    rows: int
    predictions: list[Any]
    ready_after_s: float
    version: str | None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the engine binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def example_instances(bundle: Bundle) -> list[dict[str, Any]]:
    """The bundle's input example as named rows; NaN becomes null, as JSON requires."""
    path = bundle.path / INPUT_EXAMPLE
    if not path.is_file():
        raise BundleError(
            f"model bundle {bundle.path} has no {INPUT_EXAMPLE} to smoke-test with",
            hint="retrain with `mlgate train`, which saves one",
        )
    # MLflow writes pandas' "split" orient, with bare NaN for missing values.
    raw = json.loads(path.read_text(encoding="utf-8"))
    columns: list[str] = list(raw["columns"])
    rows: list[dict[str, Any]] = []
    for values in raw["data"]:
        row = {
            c: None if isinstance(v, float) and math.isnan(v) else v
            for c, v in zip(columns, values, strict=True)
        }
        rows.append({name: row.get(name) for name in bundle.meta.features})
    return rows


def expected_predictions(bundle: Bundle, instances: list[dict[str, Any]]) -> list[Any]:
    """The predictions training recorded for the input example (`mlgate.json`).

    The build host never loads the model: whatever a model file would do when loaded, it does
    only inside the container, as the unprivileged user the image runs as.
    """
    recorded = bundle.meta.example_predictions
    if recorded is None or len(recorded) != len(instances):
        raise BundleError(
            f"model bundle {bundle.path} records no predictions for its {INPUT_EXAMPLE}",
            hint="retrain with this version of mlgate, which records them",
        )
    # Through JSON, as the server's answer comes.
    out: list[Any] = json.loads(json.dumps(list(recorded)))
    return out


def compare(expected: list[Any], got: Any, *, regression: bool) -> list[str]:
    """Every row where the image's answer differs from the bundle's, as messages."""
    if not isinstance(got, list) or len(got) != len(expected):
        return [f"expected {len(expected)} predictions, got {got!r}"]
    problems = []
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        if regression and isinstance(want, int | float) and isinstance(have, int | float):
            ok = math.isclose(float(want), float(have), rel_tol=REGRESSION_RTOL, abs_tol=1e-9)
        else:
            ok = want == have
        if not ok:
            problems.append(f"row {i}: image answered {have!r}, the bundle predicts {want!r}")
    return problems


def _get(url: str, timeout: float) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, body.decode("utf-8", "replace")


def _post(url: str, payload: Any, timeout: float) -> tuple[int, Any]:
    data = json.dumps(payload).encode("utf-8")
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def wait_ready(
    engine: ContainerEngine, container: str, base_url: str, deadline_s: float = READY_TIMEOUT_S
) -> float:
    """Poll GET /ready until 200; fail early if the container exits or reports a load error."""
    start = time.monotonic()
    last = "no answer yet"
    while (elapsed := time.monotonic() - start) < deadline_s:
        try:
            status, body = _get(f"{base_url}/ready", timeout=2.0)
        except (OSError, ValueError) as exc:
            # Connection refused/reset while uvicorn starts and the port forward comes up.
            status, body, last = 0, None, f"{type(exc).__name__}: {exc}"
        if status == 200:
            return elapsed
        if status:
            last = f"HTTP {status} {body!r}"
            if isinstance(body, dict) and body.get("error"):
                # The server tells clients only that loading failed; its log says why.
                tail = "\n".join(engine.logs(container).strip().splitlines()[-15:])
                raise GateFailed(f"the model failed to load in the image: {body['error']}\n{tail}")
        state = engine.container_state(container)
        if not state.get("Running", False):
            raise GateFailed(
                f"the container exited (code {state.get('ExitCode')}) before it was ready:\n"
                + engine.logs(container)
            )
        time.sleep(POLL_S)
    raise GateFailed(f"the image was not ready within {deadline_s:.0f}s (last: {last})")


def run_smoke(
    engine: ContainerEngine, image: str, bundle: Bundle, *, ready_timeout_s: float = READY_TIMEOUT_S
) -> SmokeResult:
    """Start `image`, check it answers the input example as `bundle` does, then remove it.

    A wrong or missing answer is GateFailed (exit 1); the engine failing is InfraError (exit 3).
    """
    instances = example_instances(bundle)
    expected = expected_predictions(bundle, instances)
    port = free_port()
    name = f"mlgate-smoke-{uuid.uuid4().hex[:10]}"
    engine.run(
        [
            "run", "--detach", "--name", name,
            # The orchestrator runs health checks; podman has no scheduler for them without
            # systemd, and the smoke test execs the same command itself below.
            "--no-healthcheck",
            # As the Kubernetes manifests run it: read-only root filesystem, a writable /tmp.
            "--read-only", "--tmpfs", "/tmp",
            "--publish", f"127.0.0.1:{port}:{CONTAINER_PORT}",
            image,
        ],
        what=f"starting {image}",
    )  # fmt: skip
    try:
        base_url = f"http://127.0.0.1:{port}"
        ready_after = wait_ready(engine, name, base_url, ready_timeout_s)
        status, body = _post(f"{base_url}/predict", {"instances": instances}, timeout=30.0)
        if status != 200 or not isinstance(body, dict):
            raise GateFailed(f"POST /predict answered HTTP {status}: {body!r}")
        problems = compare(
            expected, body.get("predictions"), regression=bundle.meta.task == "regression"
        )
        if problems:
            raise GateFailed(
                "the image's predictions differ from the bundle's:\n  " + "\n  ".join(problems)
            )
        _check_healthcheck(engine, image, name)
        _check_code(engine, bundle, name)
    except BaseException:
        # The failure on its way up is the news; a cleanup error must not replace it.
        _remove_quietly(engine, name)
        raise
    engine.remove(name)
    return SmokeResult(
        image=image,
        rows=len(instances),
        predictions=list(body["predictions"]),
        ready_after_s=ready_after,
        version=body.get("version"),
    )


def _check_healthcheck(engine: ContainerEngine, image: str, container: str) -> None:
    """Exec the image's HEALTHCHECK command in the running container; it must exit 0."""
    info = engine.inspect_image(image)
    # docker reports it under Config, podman at the top level.
    check = (info.get("Config") or {}).get("Healthcheck") or info.get("Healthcheck") or {}
    test = check.get("Test") or []
    if not test or test[0] == "NONE":
        raise GateFailed(f"{image} has no HEALTHCHECK")
    argv = list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", " ".join(test[1:])]
    proc = engine.run(["exec", container, *argv], what="health check", check=False)
    if proc.returncode != 0:
        raise GateFailed(
            f"the image's HEALTHCHECK failed (exit {proc.returncode}): "
            + (proc.stderr or proc.stdout).strip()
        )


# Run in the container: the digest of the project's code as installed there, computed the way
# the server checks it when it loads the model.
_CODE_DIGEST = (
    "import sys; from mlgate.store.code import code_digest, code_files, find_code; "
    "s = find_code(sys.argv[1], None); print(code_digest(code_files(s)) if s else 'missing')"
)


def _check_code(engine: ContainerEngine, bundle: Bundle, container: str) -> None:
    """The image holds byte for byte the project's code the model was trained with."""
    code = bundle.meta.code
    if code is None:
        return
    proc = engine.run(
        ["exec", container, "python3", "-c", _CODE_DIGEST, code.package],
        what="checking the project's code in the image",
        check=False,
    )
    found = proc.stdout.strip()
    if proc.returncode != 0 or found != code.digest:
        raise GateFailed(
            f"the image's copy of the project's code {code.package!r} is "
            f"{found or (proc.stderr or '').strip()[-300:]}; the model was trained with "
            f"{code.digest}"
        )


def _remove_quietly(engine: ContainerEngine, container: str) -> None:
    with contextlib.suppress(InfraError):
        engine.remove(container)
