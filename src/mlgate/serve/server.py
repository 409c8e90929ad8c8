"""Run the app under uvicorn: settings are checked here, then handed to every worker.

What this adds to `uvicorn.run`:
- the guarded protocol (`mlgate.serve.limits`) and its limits;
- a drain that keeps its promises: on SIGTERM every new request is answered 503 (the
  connections already waiting in the listen backlog are accepted and answered too, instead of
  being reset), the accepted ones finish within `--graceful-timeout`, the lifespan flushes the
  prediction log, and the process exits 0 (uvicorn re-raises the signal after its shutdown, so
  the process died of it: exit 143, and nothing after `uvicorn.run` ran, such as removing the
  `models:/` download directory);
- with `--workers N`, a supervisor that stops the server with a non-zero exit when a worker
  cannot start (uvicorn 0.54 stops its parent on such a failure but exits 0, having served
  nothing), restarts workers that die later, and forwards SIGTERM for the same drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError

from mlgate.errors import InfraError, UsageError
from mlgate.serve.limits import DRAINING, GuardedHttpToolsProtocol
from mlgate.serve.metrics import MULTIPROC_ENV
from mlgate.serve.online import check_online
from mlgate.serve.settings import ServeSettings
from mlgate.serve.workers import ENV_READY_DIR, ENV_WORKERS
from mlgate.store.bundle import load_bundle
from mlgate.store.code import BUNDLE_CODE_DIR

# Deferred imports: the app (FastAPI and the routes) is imported by the workers uvicorn starts; the
# scikit-learn audit only for a bundle served with scikit-learn.

log = logging.getLogger("mlgate.serve")
uvicorn_log = logging.getLogger("uvicorn.error")

# Accepting the listen backlog during a drain: how long to wait for those requests to arrive.
BACKLOG_REQUEST_WAIT_S = 1.0
SUPERVISOR_TICK_S = 0.2


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


def check_log_dir(directory: Path) -> None:
    """Fail before serving when the prediction log directory cannot be written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".mlgate-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InfraError(
            f"--log-dir {directory}: cannot write the prediction log there: {exc.strerror}",
            hint="choose a writable directory, or serve without --log-dir",
        ) from None


def run(bundle: Path, options: ServeOptions) -> None:
    """Verify the bundle, then serve it until SIGINT/SIGTERM (which drain in-flight requests).

    Returns normally after a drain (exit 0); a server that could not start (port taken, app or
    worker failing at start) is InfraError (exit 3).
    """
    from mlgate.serve.app import ENV_BUNDLE, ENV_FEEDBACK_SECRET, ENV_SETTINGS, MIN_SECRET_CHARS

    settings = options.settings
    if settings.code_from_bundle:  # the bundle's verified copy, wherever the server runs
        settings = settings.model_copy(update={"code_root": bundle.resolve() / BUNDLE_CODE_DIR})
    # Fail here, with exit code 2, rather than in every worker.
    if not settings.verify:
        sys.stderr.write(
            f"WARNING: --no-verify: serving {bundle} WITHOUT checking SHA256SUMS or its "
            "signature. The version reported is the hash of the files as found.\n"
        )
    loaded = load_bundle(bundle, check=settings.verify, trust=settings.trust())
    if settings.runtime == "sklearn" and loaded.onnx_only:
        raise UsageError(
            f"--runtime sklearn: {bundle} was trained by model.command and holds only "
            "model.onnx, which scikit-learn cannot run",
            hint="serve it with --runtime onnx (or auto, the default)",
        )
    if settings.runtime == "sklearn" or (settings.runtime == "auto" and loaded.onnx_path is None):
        from mlgate.store.bundle import MODEL_FILE
        from mlgate.store.trust import audit_sklearn

        # A model file nobody could load fails the start (exit 2), not a worker later.
        trust = loaded.model_trust(load=False)  # the project's code checked, not run
        audit_sklearn(loaded.read(MODEL_FILE), trust, str(bundle / MODEL_FILE))
    if settings.log_dir is not None:
        check_log_dir(settings.log_dir)
    check_online(settings.online_features, loaded.meta, bundle)
    secret = os.environ.get(ENV_FEEDBACK_SECRET)
    if secret is not None and len(secret) < MIN_SECRET_CHARS:
        # Here, with exit code 2, rather than in every worker (where it would be exit 3).
        raise UsageError(
            f"{ENV_FEEDBACK_SECRET} has {len(secret)} characters; it needs at least "
            f"{MIN_SECRET_CHARS}",
            hint="set it to a long random value, e.g. `openssl rand -hex 32`, the same on "
            "every replica; or unset it to have one made at start",
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    env = {ENV_BUNDLE: str(bundle.resolve()), ENV_SETTINGS: settings.model_dump_json()}
    config = uvicorn.Config(
        "mlgate.serve.app:app_from_env",
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        http=GuardedHttpToolsProtocol,
        access_log=False,  # one log line per request costs more than the prediction
        log_level="info",
        timeout_keep_alive=max(1, round(settings.keepalive_timeout)),
        timeout_graceful_shutdown=max(1, round(options.graceful_timeout)),
        lifespan="on",
    )
    with _environment(env, options.workers):
        if options.workers == 1:
            _serve_one(config)
        else:
            _supervise(config, options.workers, options.graceful_timeout)


@contextlib.contextmanager
def _environment(env: dict[str, str], workers: int) -> Iterator[None]:
    """The variables workers read, and, with several workers, their shared directories."""
    root: Path | None = None
    if workers > 1:
        # Workers are separate processes. They pool their Prometheus values in a fresh
        # directory (it must start empty), so any worker's /metrics reports the whole server,
        # and record readiness in another, so /ready waits for every worker's model.
        root = Path(tempfile.mkdtemp(prefix="mlgate-workers-"))
        (root / "metrics").mkdir()
        (root / "ready").mkdir()
        env = {
            **env,
            # A directory the operator chose (and scrapes or cleans up) is kept.
            MULTIPROC_ENV: os.environ.get(MULTIPROC_ENV) or str(root / "metrics"),
            ENV_READY_DIR: str(root / "ready"),
            ENV_WORKERS: str(workers),
        }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _serve_one(config: Any) -> None:
    server = GracefulServer(config)
    try:
        server.run()
    except SystemExit as exc:
        # uvicorn exits when the app, the lifespan or the bind fails at start; it logged why.
        raise InfraError(
            f"the server did not start (exit {exc.code}); see the log above",
            hint="check the bundle, --log-dir and that the port is free",
        ) from None
    if not server.started:
        raise InfraError("the server did not start; see the log above")


# -- one server process ------------------------------------------------------------------------


class GracefulServer(uvicorn.Server):
    """uvicorn's Server with the drain described in the module docstring."""

    def __init__(self, config: Any, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_started = on_started

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM/SIGINT: from now on new requests are answered 503, then uvicorn drains."""
        DRAINING.set()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn's, but a drained shutdown is a normal exit: the signal is not re-raised."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    def _protocol(self) -> asyncio.Protocol:
        config = self.config
        protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
            _loop=asyncio.get_running_loop(),
        )
        return protocol

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, plus: the listen backlog is accepted and answered (503)."""
        uvicorn_log.info("Shutting down")
        listeners: list[socket.socket] = []
        for server in self.servers:
            for sock in server.sockets or ():
                listeners.append(socket.socket(fileno=os.dup(sock.fileno())))
            server.close()
        for sock in sockets or []:
            sock.close()
        await self._answer_backlog(listeners)
        await self._let_new_connections_speak()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        await asyncio.sleep(0.1)
        try:
            await asyncio.wait_for(
                self._wait_tasks_to_complete(), timeout=self.config.timeout_graceful_shutdown
            )
        except TimeoutError:
            uvicorn_log.error(
                "Cancel %s running task(s), timeout graceful shutdown exceeded",
                len(self.server_state.tasks),
            )
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _answer_backlog(self, listeners: list[socket.socket]) -> None:
        """Accept what already waits in the listen queue, so it is answered, not reset."""
        loop = asyncio.get_running_loop()
        accepted: list[Any] = []
        for listener in listeners:
            listener.setblocking(False)
            try:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # out of descriptors: the rest are reset, as before
                        break
                    _, protocol = await loop.connect_accepted_socket(self._protocol, conn)
                    accepted.append(protocol)
            finally:
                listener.close()
        if accepted:
            uvicorn_log.info("Answering %d connection(s) from the listen backlog", len(accepted))

    async def _let_new_connections_speak(self) -> None:
        """Give connections that have not sent their first request yet a moment to send it
        (it is then answered 503): uvicorn would close them at once, and a request already on
        its way would meet a reset. Connections idle between requests close at once, as ever."""
        deadline = time.monotonic() + BACKLOG_REQUEST_WAIT_S
        while time.monotonic() < deadline and any(
            getattr(c, "cycle", True) is None for c in self.server_state.connections
        ):
            await asyncio.sleep(0.01)


# -- several worker processes ------------------------------------------------------------------


def _worker_main(config: Any, sockets: list[socket.socket], started: Any) -> None:
    """A worker process: one GracefulServer on the shared sockets."""
    config.configure_logging()
    GracefulServer(config, on_started=started.set).run(sockets=sockets)


@dataclass
class _Worker:
    process: Any
    started: Any


def _supervise(config: Any, workers: int, graceful: float) -> None:
    """Run `workers` processes on one socket; stop (InfraError) if one cannot start."""
    context = multiprocessing.get_context("spawn")
    sock = config.bind_socket()
    stop = threading.Event()
    received: list[int] = []

    def on_signal(sig: int, frame: Any) -> None:
        received.append(sig)
        stop.set()

    original = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def spawn() -> _Worker:
        started = context.Event()
        process = context.Process(
            target=_worker_main, args=(config, [sock], started), name="mlgate-worker"
        )
        process.start()
        return _Worker(process, started)

    uvicorn_log.info("Started parent process [%d]", os.getpid())
    pool = [spawn() for _ in range(workers)]
    failed: str | None = None
    try:
        while not stop.wait(SUPERVISOR_TICK_S):
            for i, worker in enumerate(pool):
                if worker.process.is_alive():
                    continue
                code = worker.process.exitcode
                if not worker.started.is_set():
                    failed = f"worker {worker.process.pid} could not start (exit {code})"
                    stop.set()
                    break
                uvicorn_log.warning(
                    "worker %d died (exit %s); starting another", worker.process.pid, code
                )
                pool[i] = spawn()
    finally:
        for sig, handler in original.items():
            signal.signal(sig, handler)
        # The parent's copy of the socket would keep the listen queue open after the workers
        # close theirs: connections would wait there and then be reset.
        sock.close()
        _stop_workers(pool, graceful)
    if failed is not None:
        raise InfraError(
            f"the server did not start: {failed}; see the log above",
            hint="check the bundle, --log-dir and that the port is free",
        )
    bad = [w.process.exitcode for w in pool if w.process.exitcode not in (0, None)]
    if bad and not received:
        raise InfraError(f"worker(s) exited with {bad}")


def _stop_workers(pool: list[_Worker], graceful: float) -> None:
    for worker in pool:
        if worker.process.is_alive():
            os.kill(worker.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + graceful + 5.0
    for worker in pool:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            uvicorn_log.error("worker %d did not stop in time; killing it", worker.process.pid)
            worker.process.kill()
            worker.process.join()
