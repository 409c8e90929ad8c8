"""`mlgate deploy --target kubernetes`: plain, reviewable manifests for one model image.

    rolling (default)   Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget
    (both)              a PrometheusRule with the monitoring alerts, and the same rules as a
                        plain Prometheus rule file in prometheus/ (kubectl apply -f skips it)
    canary              an Argo Rollouts Rollout (canary steps with analysis) instead of the
                        Deployment, a canary Service beside the stable one, and an
                        AnalysisTemplate whose one metric runs `mlgate canary analyze`

`render_manifests` is pure (options -> {file name: list of objects}); `write_manifests` writes
them. The image must be named by digest: a tag can move after review, a digest cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlgate import atomic
from mlgate.errors import UsageError
from mlgate.monitor.rules import prometheus_rule, write_rule_file

Strategy = Literal["rolling", "canary"]
PORT = 8000
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
     "pdb.yaml", "prometheus-rule.yaml"}
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


def app_name(image: str) -> str:
    """A DNS-1035 label from the image repository's last path component."""
    repo = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    name = _DNS_LABEL.sub("-", repo.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"model-{name}".rstrip("-")
    return name[:50]


def check_options(opts: ManifestOptions) -> tuple[str, Strategy]:
    """Validate the options; returns the app name and the strategy."""
    if not _DIGEST.match(opts.image):
        raise UsageError(
            f"--image {opts.image!r} is not pinned by digest (REPOSITORY@sha256:<64 hex>)",
            hint="use the reference `mlgate push` printed",
        )
    if opts.strategy == "canary":
        # Its AnalysisTemplate runs `mlgate canary analyze`: written only once that command
        # exists, so that nothing mlgate writes calls a command it does not have.
        raise UsageError(
            "--strategy canary is not available yet: its analysis job needs "
            "`mlgate canary analyze`, which this version does not have",
            hint="use --strategy rolling",
        )
    if opts.strategy not in ("rolling", "canary"):
        raise UsageError(f"--strategy {opts.strategy!r}: choose rolling or canary")
    if opts.max_replicas < opts.replicas:
        raise UsageError("--max-replicas must be at least --replicas")
    name = opts.name or app_name(opts.image)
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,48}[a-z0-9])?", name):
        raise UsageError(f"--name {name!r} is not a valid Kubernetes name (lowercase, digits, -)")
    strategy: Strategy = "canary" if opts.strategy == "canary" else "rolling"
    return name, strategy


def _meta(name: str, opts: ManifestOptions, **extra: Any) -> Obj:
    meta: Obj = {"name": name, "labels": _labels(name)}
    if opts.namespace:
        meta["namespace"] = opts.namespace
    meta.update(extra)
    return meta


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": MANAGED_BY}


def _selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _container_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def pod_template(name: str, opts: ManifestOptions) -> Obj:
    """The pod: non-root, read-only root filesystem (a writable /tmp), probes, resources."""

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
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "metadata": {
            "labels": _labels(name),
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(PORT),
                "prometheus.io/path": "/metrics",
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
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
        },
    }


def deployment(name: str, opts: ManifestOptions) -> Obj:
    """apps/v1 Deployment with a surge-only rolling update (capacity never drops)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, opts),
        "spec": {
            "replicas": opts.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(name)},
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
        "metadata": _meta(service_name or name, opts),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(name),
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(name: str, opts: ManifestOptions, kind: str, api_version: str) -> Obj:
    """autoscaling/v2 HorizontalPodAutoscaler on CPU utilisation."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(name, opts),
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
        "metadata": _meta(name, opts),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(name)}},
    }


def rollout(name: str, opts: ManifestOptions) -> Obj:
    """Argo Rollouts Rollout: 10% -> analysis -> 50% -> analysis -> 100%."""
    analysis = {
        "analysis": {
            "templates": [{"templateName": f"{name}-canary"}],
            "args": [
                {"name": "stable-url", "value": f"http://{name}:{PORT}"},
                {"name": "canary-url", "value": f"http://{name}-canary:{PORT}"},
            ],
        }
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": _meta(name, opts),
        "spec": {
            "replicas": opts.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(name)},
            "template": pod_template(name, opts),
            "strategy": {
                "canary": {
                    "stableService": name,
                    "canaryService": f"{name}-canary",
                    "maxSurge": 1,
                    "maxUnavailable": 0,
                    "steps": [
                        {"setWeight": 10},
                        {"pause": {"duration": "2m"}},
                        analysis,
                        {"setWeight": 50},
                        {"pause": {"duration": "5m"}},
                        analysis,
                    ],
                }
            },
        },
    }


def analysis_template(name: str, opts: ManifestOptions) -> Obj:
    """AnalysisTemplate with one metric, `mlgate-canary-analysis`: a Job that runs
    `mlgate canary analyze` (from the same image) against the stable and canary Services.

    mlgate's canary analysis (error rate, latency, prediction divergence vs the incumbent)
    decides; the Job's exit code is the verdict Argo Rollouts acts on.
    """
    job_container: Obj = {
        "name": "analyze",
        "image": opts.image,
        "command": [
            "mlgate",
            "canary",
            "analyze",
            "--stable",
            "{{args.stable-url}}",
            "--canary",
            "{{args.canary-url}}",
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": _meta(f"{name}-canary", opts),
        "spec": {
            "args": [{"name": "stable-url"}, {"name": "canary-url"}],
            "metrics": [
                {
                    "name": ANALYSIS_METRIC,
                    "count": 1,
                    "failureLimit": 0,
                    "provider": {
                        "job": {
                            "spec": {
                                "backoffLimit": 0,
                                "activeDeadlineSeconds": 600,
                                "template": {
                                    "spec": {
                                        "restartPolicy": "Never",
                                        "automountServiceAccountToken": False,
                                        "containers": [job_container],
                                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                                    }
                                },
                            }
                        }
                    },
                }
            ],
        },
    }


def render_manifests(opts: ManifestOptions) -> dict[str, list[Obj]]:
    """Every manifest for `opts`, by file name."""
    name, strategy = check_options(opts)
    files: dict[str, list[Obj]] = {}
    if strategy == "canary":
        files["rollout.yaml"] = [rollout(name, opts)]
        files["analysis-template.yaml"] = [analysis_template(name, opts)]
        files["service.yaml"] = [
            service(name, opts),
            service(name, opts, service_name=f"{name}-canary"),
        ]
        files["hpa.yaml"] = [autoscaler(name, opts, "Rollout", "argoproj.io/v1alpha1")]
    else:
        files["deployment.yaml"] = [deployment(name, opts)]
        files["service.yaml"] = [service(name, opts)]
        files["hpa.yaml"] = [autoscaler(name, opts, "Deployment", "apps/v1")]
    files["pdb.yaml"] = [disruption_budget(name, opts)]
    # Alert rules on the server's drift, feedback, error and latency metrics (monitor/rules.py).
    files["prometheus-rule.yaml"] = [prometheus_rule(name, opts.namespace, _labels(name))]
    return files


def to_yaml(objects: list[Obj], out: str) -> str:
    """One YAML file: the header, then the objects as documents, keys in written order."""
    import yaml

    docs = [yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objects]
    return HEADER.format(out=out) + "---\n" + "---\n".join(docs)


def write_manifests(opts: ManifestOptions, out: Path) -> list[Path]:
    """Write the manifests into `out` (created if needed); returns the files written."""
    files = render_manifests(opts)
    out.mkdir(parents=True, exist_ok=True)
    # Switching strategy must not leave the other one's workload behind for `kubectl apply`:
    # remove files of ours (recognised by the header) that this strategy does not write.
    for stale in ALL_FILES - files.keys():
        path = out / stale
        if path.is_file() and path.read_text(encoding="utf-8").startswith(HEADER.split("\n")[0]):
            path.unlink()
    written = []
    for fname, objects in files.items():
        written.append(atomic.write_text(out / fname, to_yaml(objects, str(out))))
    written.append(write_rule_file(out / "prometheus", opts.name or app_name(opts.image)))
    return written
