"""Ray: the fit and the hyperparameter-search trials of a run, on a Ray cluster.

What runs where. The driver (the `mlgate run` process) plans the search, writes the bundle and
gates it, as it does locally; the cluster runs the work that costs: every trial's
cross-validation fits (`model.search.run_trial`, one Ray task each) and the final fit
(`model.train.fit_frame`, one task). The trials are plain Ray tasks rather than Ray Tune
experiments: a trial is one function of the shared job, its result a tuple of fold scores, and
Ray's own task retries cover a worker that dies (docs/pipeline.md).

The data goes to the object store once: the training rows in one `TrialJob` that every trial
reads, the table in one object the fit reads. Before any work, the cluster must answer on its
address within `compute.connect_timeout` (InfraError, exit 3) and run the same versions of
mlgate and the libraries that decide the model's bits; the Ray job then shows in the cluster's
job list (`ray list jobs`), and its id goes into the lineage.

Faults: a task whose worker dies is rerun up to `compute.retries` times by Ray; past that, or
when a node dies, the run fails with exit 3 naming the node. An error of mlgate's inside a task
(a bad parameter value) is raised here as itself. Ctrl-C or SIGTERM cancels every task still
running (`ray.cancel(force=True)`) before the driver leaves.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from types import FrameType
from typing import TYPE_CHECKING, Any

import ray
from ray import exceptions as ray_errors
from ray.util.state import get_task

from mlgate.core.compute import ComputeConfig, host_port
from mlgate.core.config import Config
from mlgate.core.records.lineage import ComputeRecord
from mlgate.core.schema import Schema
from mlgate.errors import InfraError, MlgateError
from mlgate.model.search import Scores, Trial, TrialJob, fit_searched, run_trial
from mlgate.model.train import Fitted, fit_frame

if TYPE_CHECKING:
    import pandas as pd

# The distributions whose versions decide a fitted model's bits: the cluster must run these.
DECIDING = ("mlgate", "scikit-learn", "numpy", "scipy", "pandas")

_NODE = re.compile(r"node(?: ID)?[:= ]+([0-9a-f]{16,})", re.IGNORECASE)


def probe(address: str, timeout: float) -> None:
    """Fail fast (InfraError, exit 3) when nothing accepts a connection at `address`."""
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise InfraError(
            f"compute.address {address}: no Ray cluster answers there ({reason} "
            f"within {timeout:g} s)",
            hint="start one (`ray start --head`), or point --address, compute.address or "
            "RAY_ADDRESS at the cluster's head",
        ) from None


def _versions() -> dict[str, str]:
    found = {}
    for dist in DECIDING:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def _node() -> str:
    return str(ray.get_runtime_context().get_node_id())


@ray.remote
def _cluster_versions() -> dict[str, str]:
    return _versions()


@ray.remote
def _trial(job: TrialJob, trial: Trial) -> tuple[Scores, str]:
    return run_trial(job, trial), _node()


@ray.remote
def _fit(config: Config, schema: Schema, frame: pd.DataFrame) -> tuple[Fitted, str]:
    return fit_frame(config, schema, frame), _node()


def _node_of(ref: Any) -> str | None:
    """The node a lost task last ran on, from the cluster's state API (None when it cannot
    say: the dashboard is not running, or it has not heard of the task yet)."""
    try:
        found = get_task(ref, timeout=5)
    except Exception:  # whatever the state API raises, the run's error is the lost task
        return None
    if isinstance(found, list):
        found = found[-1] if found else None
    node = getattr(found, "node_id", None)
    return str(node) if node else None


def _lost(exc: BaseException, ref: Any) -> InfraError:
    """A task the cluster lost (its worker or node died, past the retries): exit 3, naming
    the node it ran on."""
    text = str(exc)
    found = _NODE.search(text)
    node = _node_of(ref) or (found[1] if found else None)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return InfraError(
        f"the Ray cluster lost a task ({f'node {node}' if node else 'node unknown'}): {first}",
        hint="nothing was registered; check the cluster's nodes (`ray status`) and run again, "
        "or raise compute.retries",
    )


def get(ref: Any) -> Any:
    """`ray.get`, with mlgate's own errors raised as themselves and lost tasks as exit 3."""
    try:
        return ray.get(ref)
    except ray_errors.RayTaskError as exc:
        if isinstance(exc.cause, MlgateError):
            raise exc.cause from None
        raise
    except (
        ray_errors.WorkerCrashedError,
        ray_errors.NodeDiedError,
        ray_errors.ObjectLostError,
        ray_errors.TaskUnschedulableError,
        ray_errors.RaySystemError,
    ) as exc:
        raise _lost(exc, ref) from None


@dataclass
class Cluster:
    """A connected Ray cluster: runs trials (a `TrialRunner`) and fits, counting where."""

    compute: ComputeConfig
    address: str
    nodes: set[str] = field(default_factory=set)
    tasks: int = 0
    pending: list[Any] = field(default_factory=list)

    def _options(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "num_cpus": self.compute.cpus_per_trial,
            "max_retries": self.compute.retries,
            "retry_exceptions": False,
        }

    def _collect(self, refs: Sequence[Any]) -> Iterator[Any]:
        self.pending = list(refs)
        for ref in refs:
            value, node = get(ref)
            self.nodes.add(node)
            self.tasks += 1
            yield value
        self.pending = []

    def run(self, job: TrialJob, trials: Sequence[Trial]) -> Iterable[Scores]:
        """Every trial as a task of its own; the job (the training rows) put once for all."""
        shared = ray.put(job)
        refs = [
            _trial.options(**self._options(f"mlgate-trial-{t.index + 1}")).remote(shared, t)
            for t in trials
        ]
        return self._collect(refs)

    def fit(self, config: Config, schema: Schema, frame: pd.DataFrame) -> Fitted:
        """`fit_frame` as one task on the cluster."""
        ref = _fit.options(**self._options("mlgate-fit")).remote(config, schema, ray.put(frame))
        fitted: Fitted = next(self._collect([ref]))
        return fitted

    def cancel(self) -> None:
        """Cancel every task still running (force: their workers are killed)."""
        for ref in self.pending:
            try:
                ray.cancel(ref, force=True, recursive=True)
            except Exception:  # a task that ended meanwhile: nothing to cancel
                continue
        self.pending = []


def _check_versions() -> None:
    here, there = _versions(), get(_cluster_versions.remote())
    differ = [f"{d} {there[d]} there, {here[d]} here" for d in DECIDING if there[d] != here[d]]
    if differ:
        raise InfraError(
            "the Ray cluster runs other versions of what decides the model: " + "; ".join(differ),
            hint="install on the cluster the versions this runner has (the same uv.lock)",
        )


@contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt here, as Ctrl-C does, so the tasks are cancelled."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def connected(compute: ComputeConfig, address: str) -> Iterator[Cluster]:
    """The cluster at `address`, checked, for the duration of the block; then disconnected."""
    probe(address, compute.connect_timeout)
    try:
        ray.init(
            address=address, logging_level=logging.ERROR, log_to_driver=False, namespace="mlgate"
        )
    except (ConnectionError, RuntimeError) as exc:  # something answers, but not Ray's GCS
        raise InfraError(
            f"compute.address {address}: the server there is not a Ray cluster's head "
            f"({str(exc).splitlines()[0]})",
            hint="point --address, compute.address or RAY_ADDRESS at the head's GCS port "
            "(6379 by default) or its Ray Client port (ray://HOST:10001)",
        ) from None
    cluster = Cluster(compute, address)
    try:
        with _terminated_as_interrupt():
            try:
                _check_versions()
                yield cluster
            except BaseException:
                cluster.cancel()
                raise
    finally:
        ray.shutdown()


def fit(
    config: Config,
    schema: Schema,
    frame: pd.DataFrame,
    address: str,
    progress: Callable[[str], None] | None = None,
) -> tuple[Fitted, ComputeRecord]:
    """`model.search.fit_searched` with its trials and its fit on the cluster at `address`."""
    say = progress or (lambda _line: None)
    say(f"connecting to the Ray cluster at {address}")
    with connected(config.compute, address) as cluster:
        job_id = str(ray.get_runtime_context().get_job_id())
        say(f"fitting on the Ray cluster at {address} (job {job_id})")
        fitted = fit_searched(
            config, schema, frame, progress, runner=cluster, fit_final=cluster.fit
        )
        record = ComputeRecord(
            engine="ray",
            address=address,
            ray_version=ray.__version__,
            job_id=job_id,
            nodes=tuple(sorted(cluster.nodes)),
            tasks=cluster.tasks,
        )
    return fitted, record


__all__ = ["Cluster", "connected", "fit", "probe"]
