"""The Kubernetes objects mlgate writes for one model image, and the options they take.

`kubernetes.py` puts them together per strategy (with `argo.py` and `flagger.py` for a canary)
and writes the files; every function here is pure (options -> object).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from mlgate.core.policy import CanaryConfig
from mlgate.errors import UsageError
from mlgate.serve.settings import ServeSettings

# How the cluster replaces pods: not a `ReleaseStrategy` (direct/canary/ab/shadow on one
# machine); a direct release is a rolling update, A/B and shadow need a service mesh.
ManifestStrategy = Literal["rolling", "canary"]
T = TypeVar("T")
PORT = 8000
# The prediction log (`mlgate serve --log-dir`), what `mlgate monitor` reads. The server
# rotates it (64 MiB x 20 files kept), so the volume's limit bounds it.
LOG_DIR = "/var/log/mlgate"
LOG_VOLUME_LIMIT = "2Gi"
# `mlgate serve --online-timeout`'s least value (cli/serve.py).
MIN_ONLINE_TIMEOUT = 0.001
UID = 10001  # the image's USER (see templates/Dockerfile)
MANAGED_BY = "mlgate"
ANALYSIS_METRIC = "mlgate-canary-analysis"
_DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")
HEADER = (
    "# Written by `mlgate deploy --target kubernetes`. Review it, commit it, then\n"
    "#   kubectl apply -f {out}\n"
)

Obj = dict[str, Any]
ALL_FILES = frozenset(
    {"deployment.yaml", "rollout.yaml", "analysis-template.yaml", "service.yaml", "hpa.yaml",
     "pdb.yaml", "canary.yaml", "canary-webhook.yaml", "prometheus-rule.yaml"}
)  # fmt: skip


@dataclass(frozen=True)
class ManifestOptions:
    """What to deploy and how."""

    image: str
    name: str | None = None
    namespace: str | None = None
    strategy: str = "rolling"
    replicas: int = 2
    max_replicas: int = 10
    cpu_request: str = "250m"
    memory_request: str = "512Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"
    target_cpu_percent: int = 70
    rollouts: str = "argo"
    prometheus_url: str = "http://prometheus.monitoring:9090"
    policy: CanaryConfig = field(default_factory=CanaryConfig)
    # On the pod template: which candidate the image is, and an override that released it.
    annotations: Mapping[str, str] = field(default_factory=dict)
    # The server's `--online-features URL` and `--online-timeout S` (a bundle trained from
    # Feast: rows with only their entity keys get the rest from Feast's feature server).
    online_features: str | None = None
    online_timeout: float | None = None


def require(value: T | None, flag: str, what: str) -> T:
    """A value `--target kubernetes` needs; a UsageError naming the flag when it is missing."""
    if value is None:
        raise UsageError(f"{flag} is required with --target kubernetes: {what}")
    return value


def app_name(image: str) -> str:
    """A DNS-1035 label from the image repository's last path component."""
    repo = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    name = _DNS_LABEL.sub("-", repo.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"model-{name}".rstrip("-")
    return name[:50]


def check_options(opts: ManifestOptions) -> tuple[str, ManifestStrategy]:
    """Validate the options; returns the app name and the strategy."""
    if not _DIGEST.match(opts.image):
        raise UsageError(
            f"--image {opts.image!r} is not pinned by digest (REPOSITORY@sha256:<64 hex>)",
            hint="use the reference `mlgate push` printed",
        )
    if opts.strategy in ("ab", "shadow"):
        raise UsageError(
            f"--strategy {opts.strategy} needs a service mesh in a cluster: mlgate writes "
            "rolling and canary manifests",
            hint="use --strategy canary (Argo Rollouts or --rollouts flagger), or run "
            f"--strategy {opts.strategy} with --target local",
        )
    if opts.strategy not in ("rolling", "direct", "canary"):
        raise UsageError(f"--strategy {opts.strategy!r}: choose rolling or canary")
    if opts.rollouts not in ("argo", "flagger"):
        raise UsageError(f"--rollouts {opts.rollouts!r}: choose argo or flagger")
    if opts.max_replicas < opts.replicas:
        raise UsageError("--max-replicas must be at least --replicas")
    online_args(opts)
    name = opts.name or app_name(opts.image)
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,48}[a-z0-9])?", name):
        raise UsageError(f"--name {name!r} is not a valid Kubernetes name (lowercase, digits, -)")
    strategy: ManifestStrategy = "canary" if opts.strategy == "canary" else "rolling"
    return name, strategy


def online_args(opts: ManifestOptions) -> list[str]:
    """The server's online-feature flags, checked by the rules `mlgate serve` applies to them
    (serve/settings.py, cli/serve.py), so that no pod is written whose server refuses them."""
    url, timeout = opts.online_features, opts.online_timeout
    if url is None:
        if timeout is not None:
            raise UsageError(
                f"--online-timeout {timeout:g} bounds the lookups of --online-features, which "
                "is not given",
                hint="add --online-features URL (Feast's feature server), or drop --online-timeout",
            )
        return []
    try:
        ServeSettings.model_validate({"online_features": url})
    except ValidationError:
        raise UsageError(
            f"--online-features {url!r} is not an http:// or https:// URL",
            hint="give Feast's feature server (`feast serve`) as http://HOST:PORT, e.g. "
            "http://feast-feature-server.feast:6566",
        ) from None
    if timeout is None:
        return ["--online-features", url]
    if not timeout >= MIN_ONLINE_TIMEOUT:
        raise UsageError(
            f"--online-timeout {timeout:g}: at least {MIN_ONLINE_TIMEOUT:g} seconds",
            hint="e.g. --online-timeout 0.5 (the server's default is 1)",
        )
    return ["--online-features", url, "--online-timeout", f"{timeout:g}"]


def metadata(name: str, opts: ManifestOptions, **extra: Any) -> Obj:
    """ObjectMeta: name, mlgate's labels, the namespace when one is given."""
    meta: Obj = {"name": name, "labels": labels(name)}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    meta.update(extra)
    return meta


def labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": MANAGED_BY}


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def container_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_template(name: str, opts: ManifestOptions) -> Obj:
    """The pod: non-root, read-only root filesystem (a writable /tmp), probes, resources, and
    the prediction log on its own volume: an emptyDir lives as long as the pod, so ship it
    (a log-shipper sidecar, or a PersistentVolumeClaim in place of the emptyDir) to where the
    monitoring workflow fetches it."""

    def probe(path: str, period: int, failures: int) -> Obj:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    container: Obj = {
        "name": "model",
        "image": opts.image,
        "imagePullPolicy": "IfNotPresent",
        # Appended to the image's `mlgate serve /srv/model --host 0.0.0.0 --port 8000`.
        "args": ["--log-dir", LOG_DIR, *online_args(opts)],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        # Loading a large model takes a while: the startup probe holds the liveness probe off
        # for up to 2 minutes, instead of a guessed initialDelaySeconds.
        "startupProbe": probe("/health", 2, 60),
        "livenessProbe": probe("/health", 10, 3),
        "readinessProbe": probe("/ready", 5, 2),
        "resources": {
            "requests": {"cpu": opts.cpu_request, "memory": opts.memory_request},
            "limits": {"cpu": opts.cpu_limit, "memory": opts.memory_limit},
        },
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "prediction-log", "mountPath": LOG_DIR},
        ],
    }
    return {
        "metadata": {
            "labels": labels(name),
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(PORT),
                "prometheus.io/path": "/metrics",
                **opts.annotations,
            },
        },
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": UID,
                "runAsGroup": UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            # The server drains in-flight requests for up to 30s on SIGTERM.
            "terminationGracePeriodSeconds": 40,
            "containers": [container],
            "volumes": [
                {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                {"name": "prediction-log", "emptyDir": {"sizeLimit": LOG_VOLUME_LIMIT}},
            ],
        },
    }


def deployment(name: str, opts: ManifestOptions) -> Obj:
    """apps/v1 Deployment with a surge-only rolling update (capacity never drops)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, opts),
        "spec": {
            "replicas": opts.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": pod_template(name, opts),
        },
    }


def service(name: str, opts: ManifestOptions, *, service_name: str | None = None) -> Obj:
    """v1 Service on port 8000 (Argo Rollouts points the canary Service at canary pods)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(service_name or name, opts),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(name),
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(name: str, opts: ManifestOptions, kind: str, api_version: str) -> Obj:
    """autoscaling/v2 HorizontalPodAutoscaler on CPU utilisation."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(name, opts),
        "spec": {
            "scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": name},
            "minReplicas": opts.replicas,
            "maxReplicas": opts.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": opts.target_cpu_percent,
                        },
                    },
                }
            ],
        },
    }


def disruption_budget(name: str, opts: ManifestOptions) -> Obj:
    """policy/v1 PodDisruptionBudget: node drains take at most one pod at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, opts),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(name)}},
    }
