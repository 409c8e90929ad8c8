"""`mlgate deploy --target kubernetes --training rayjob`: a KubeRay `ray.io/v1` RayJob that runs
`mlgate run --compute ray` on a Ray cluster KubeRay creates for it, then deletes.

    RayJob              the entrypoint `cd WORKDIR && mlgate run --compute ray ...`, submitted
                        by a Kubernetes Job (K8sJobMode), under a deadline, never retried:
                        mlgate's own exit code decides (backoffLimit 0)
    rayClusterSpec      a head (the run's process: planning, gate, registry) and one worker
                        group (the fits and the search trials), all from one image

The image is a training image, not the serving one: mlgate with the `ray` extra (the Ray
version `rayVersion` names) and the project checkout at `workdir`. It is named by digest, as
for serving. The tracking URI comes from a Secret. `render_rayjob` is pure (options -> object);
`write_rayjob` writes `rayjob.yaml`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from mlgate.app.kubernetes.manifests import (
    HEADER,
    ManifestOptions,
    Obj,
    check_options,
    labels,
    metadata,
)
from mlgate.errors import UsageError
from mlgate.store import atomic

FILE = "rayjob.yaml"
# KubeRay refuses longer RayJob names (its MaxRayJobNameLength): the RayCluster's name and its
# services' names are built from the RayJob's.
MAX_JOB_NAME = 47
TRACKING_KEY = "MLFLOW_TRACKING_URI"  # the Secret's key, and the variable it sets
# The ports KubeRay's head service exposes: the GCS, the dashboard (job submission), Ray Client.
HEAD_PORTS = (("gcs-server", 6379), ("dashboard", 8265), ("client", 10001))
# Inside a RayJob the entrypoint runs on the cluster, under Ray's job supervisor, which sets
# RAY_ADDRESS for it to the running cluster's GCS address as HOST:PORT (KubeRay sets the same
# variable on every Ray container). Passing it as --address, rather than a fixed 127.0.0.1:6379,
# follows a GCS on another port, and outranks a `compute.address` in the project's mlgate.yaml
# that names a cluster elsewhere (--address comes before compute.address, then RAY_ADDRESS).
# Ray runs the entrypoint with a shell, which expands the variable.
ADDRESS = '"$RAY_ADDRESS"'


@dataclass(frozen=True)
class RayJobOptions:
    """What the RayJob runs, where, and with how much."""

    image: str
    ray_version: str
    name: str | None = None
    namespace: str | None = None
    workdir: str = "/work"
    mlflow_secret: str = "mlflow"
    workers: int = 2
    max_workers: int | None = None  # more than `workers`: Ray's autoscaler adds up to this many
    head_cpu: str = "1"
    head_memory: str = "4Gi"
    worker_cpu: str = "2"
    worker_memory: str = "4Gi"
    active_deadline_seconds: int = 4 * 3600
    ttl_seconds_after_finished: int = 600


def _checked(opts: RayJobOptions) -> str:
    """Validate the options (the image by digest, as for serving); returns the model's name."""
    name, _ = check_options(ManifestOptions(image=opts.image, name=opts.name))
    if len(job_name(name)) > MAX_JOB_NAME:
        raise UsageError(
            f"--name {name!r} is too long for a RayJob ({job_name(name)!r} over "
            f"{MAX_JOB_NAME} characters)",
            hint="pass a shorter --name",
        )
    if not PurePosixPath(opts.workdir).is_absolute():
        raise UsageError(f"--workdir {opts.workdir!r} is not an absolute path in the image")
    if opts.workers < 1:
        raise UsageError(f"--replicas {opts.workers}: a RayJob needs at least one Ray worker")
    if opts.max_workers is not None and opts.max_workers < opts.workers:
        raise UsageError(f"--max-replicas {opts.max_workers} must be at least --replicas")
    if not opts.mlflow_secret:
        raise UsageError("--mlflow-secret '': name the Secret holding MLFLOW_TRACKING_URI")
    return name


def job_name(name: str) -> str:
    return f"{name}-train"


def job_labels(name: str, component: str) -> dict[str, str]:
    """The model's name as `part-of`, never as `app.kubernetes.io/name`: the serving Service
    and Deployment select pods by that one, and must not pick up Ray's."""
    return {
        **labels(job_name(name)),
        "app.kubernetes.io/part-of": name,
        "app.kubernetes.io/component": component,
    }


def entrypoint(opts: RayJobOptions) -> str:
    """The shell command Ray runs on the head: the whole pipeline, fits on this cluster."""
    run = f"mlgate run --compute ray --address {ADDRESS} --register"
    return f"cd {shlex.quote(opts.workdir)} && {run}"


def _container(role: str, opts: RayJobOptions, cpu: str, memory: str) -> Obj:
    """A Ray container: the image, the project's directory, requests equal to limits (Ray
    counts a pod's CPUs and memory from its limits)."""
    container: Obj = {
        "name": f"ray-{role}",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        "workingDir": opts.workdir,
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu, "memory": memory},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        # Ray's object store lives in shared memory; the container runtime's 64 MiB is too small.
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }
    if role == "head":
        container["ports"] = [{"name": n, "containerPort": p} for n, p in HEAD_PORTS]
        # The run's process (and so the registry) is on the head only.
        container["env"] = [
            {
                "name": TRACKING_KEY,
                "valueFrom": {"secretKeyRef": {"name": opts.mlflow_secret, "key": TRACKING_KEY}},
            }
        ]
    return container


def _pod(name: str, role: str, opts: RayJobOptions, cpu: str, memory: str) -> Obj:
    """A pod template of the Ray cluster, labelled with the model's name."""
    return {
        "metadata": {"labels": job_labels(name, f"ray-{role}")},
        "spec": {
            "containers": [_container(role, opts, cpu, memory)],
            "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
        },
    }


def cluster_spec(name: str, opts: RayJobOptions) -> Obj:
    """The Ray cluster KubeRay creates for the job: one head, one worker group."""
    max_workers = opts.max_workers or opts.workers
    spec: Obj = {
        "rayVersion": opts.ray_version,
        "headGroupSpec": {
            # No CPUs for tasks on the head: the fits go to the workers, the head keeps the
            # GCS and the run's own process responsive.
            "rayStartParams": {"num-cpus": "0"},
            "template": _pod(name, "head", opts, opts.head_cpu, opts.head_memory),
        },
        "workerGroupSpecs": [
            {
                "groupName": "workers",
                "replicas": opts.workers,
                "minReplicas": opts.workers,
                "maxReplicas": max_workers,
                "rayStartParams": {},
                "template": _pod(name, "worker", opts, opts.worker_cpu, opts.worker_memory),
            }
        ],
    }
    if max_workers > opts.workers:
        spec["enableInTreeAutoscaling"] = True
    return spec


def render_rayjob(opts: RayJobOptions) -> Obj:
    """The RayJob for `opts`."""
    name = _checked(opts)
    meta = metadata(job_name(name), ManifestOptions(image=opts.image, namespace=opts.namespace))
    meta["labels"] = job_labels(name, "training")
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": meta,
        "spec": {
            "entrypoint": entrypoint(opts),
            # K8sJobMode: a Kubernetes Job runs `ray job submit` against the cluster and
            # follows the logs; the RayJob's status is the Ray job's (SUCCEEDED or FAILED).
            "submissionMode": "K8sJobMode",
            # The Ray job's own metadata (`ray list jobs` shows it).
            "metadata": {"model": name},
            "shutdownAfterJobFinishes": True,
            # Seconds the finished cluster stays, for `kubectl logs` and the dashboard.
            "ttlSecondsAfterFinished": opts.ttl_seconds_after_finished,
            "activeDeadlineSeconds": opts.active_deadline_seconds,
            # A failed run is not retried: its exit code (gate failed, bad config, cluster
            # fault) is the outcome, and a rerun would register twice or fail the same way.
            "backoffLimit": 0,
            "rayClusterSpec": cluster_spec(name, opts),
        },
    }


def to_yaml(job: Obj, out: str) -> str:
    """`rayjob.yaml`'s text: the review header, then the RayJob, keys in written order."""
    return HEADER.format(out=f"{out}/{FILE}") + "---\n" + yaml.safe_dump(job, sort_keys=False)


def write_rayjob(opts: RayJobOptions, out: Path) -> Path:
    """Write `out/rayjob.yaml` (`out` created if needed); nothing when the options are bad."""
    text = to_yaml(render_rayjob(opts), str(out))
    out.mkdir(parents=True, exist_ok=True)
    return atomic.write_text(out / FILE, text)
