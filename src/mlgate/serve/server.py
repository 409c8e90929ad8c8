"""Run the app under uvicorn: settings are checked here, then handed to every worker."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlgate.errors import UsageError
from mlgate.model.bundle import load_bundle
from mlgate.serve.metrics import MULTIPROC_ENV
from mlgate.serve.settings import ServeSettings
from mlgate.serve.workers import ENV_READY_DIR, ENV_WORKERS


def make_settings(fields: dict[str, Any]) -> ServeSettings:
    """Typed settings from CLI values; a bad value is a UsageError naming the flag."""
    try:
        return ServeSettings.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = "--" + "-".join(str(p) for p in first["loc"]).replace("_", "-")
        raise UsageError(f"{flag}: {first['msg']}") from None


@dataclass(frozen=True)
class ServeOptions:
    """Where and how to serve: the bind address, workers, and the app's settings."""

    settings: ServeSettings
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    graceful_timeout: float = 30.0


def run(bundle: Path, options: ServeOptions) -> None:
    """Verify the bundle, then serve it until SIGINT/SIGTERM (which drain in-flight requests)."""
    import uvicorn

    from mlgate.serve.app import ENV_BUNDLE, ENV_SETTINGS

    settings = options.settings
    host, port, workers = options.host, options.port, options.workers
    graceful_timeout = options.graceful_timeout
    # Fail here, with exit code 2, rather than in every worker.
    if not settings.verify:
        sys.stderr.write(
            f"WARNING: --no-verify: serving {bundle} WITHOUT checking SHA256SUMS or its "
            "signature. The version reported is the hash of the files as found.\n"
        )
    load_bundle(bundle, check=settings.verify, trust=settings.trust())
    os.environ[ENV_BUNDLE] = str(bundle.resolve())
    os.environ[ENV_SETTINGS] = settings.model_dump_json()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    shared: dict[str, str] = {}
    if workers > 1:
        # Workers are separate processes. They pool their Prometheus values in a fresh
        # directory (it must start empty), so any worker's /metrics reports the whole server,
        # and record readiness in another, so /ready waits for every worker's model.
        root = Path(tempfile.mkdtemp(prefix="mlgate-workers-"))
        (root / "metrics").mkdir()
        (root / "ready").mkdir()
        shared = {
            # A directory the operator chose (and scrapes or cleans up) is kept.
            MULTIPROC_ENV: os.environ.get(MULTIPROC_ENV) or str(root / "metrics"),
            ENV_READY_DIR: str(root / "ready"),
            ENV_WORKERS: str(workers),
        }
        os.environ.update(shared)
    try:
        _run_uvicorn(uvicorn, host, port, workers, graceful_timeout)
    finally:
        if shared:
            for key in shared:
                os.environ.pop(key, None)
            shutil.rmtree(Path(shared[ENV_READY_DIR]).parent, ignore_errors=True)


def _run_uvicorn(uvicorn: Any, host: str, port: int, workers: int, graceful: float) -> None:
    uvicorn.run(
        "mlgate.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # one log line per request costs more than the prediction
        log_level="info",
        timeout_graceful_shutdown=max(1, round(graceful)),
        lifespan="on",
    )
