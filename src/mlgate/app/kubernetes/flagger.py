"""Flagger objects: a Canary whose analysis calls `mlgate canary webhook` at every interval,
and the webhook's Deployment and Service (the same image, so the same analysis).

Flagger copies the Deployment to `NAME-primary` and renames the pods' `app.kubernetes.io/name`
to match; Prometheus' usual `labelmap` of pod labels turns that into `app_kubernetes_io_name`,
which is how the webhook's metadata tells the primary (stable) pods from the canary ones. The
schedule (interval, threshold, stepWeight, maxWeight) is the `canary:` policy, in Flagger's own
fields; a Flagger provider (mesh or ingress) shifts the traffic.
"""

from __future__ import annotations

from mlgate.app.kubernetes.argo import threshold_flags
from mlgate.app.kubernetes.manifests import (
    PORT,
    ManifestOptions,
    Obj,
    container_security,
    disruption_budget,
    metadata,
)

WEBHOOK_PORT = 8080


def _seconds(value: float) -> str:
    return f"{max(1, round(value))}s"


def webhook_name(name: str) -> str:
    return f"{name}-canary-analysis"


def canary(name: str, opts: ManifestOptions) -> Obj:
    """flagger.app/v1beta1 Canary: the Deployment, its HPA, the policy, the mlgate webhook."""
    policy = opts.policy
    namespace = f".{opts.namespace}" if opts.namespace else ""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": metadata(name, opts),
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "autoscalerRef": {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "name": name,
            },
            "progressDeadlineSeconds": 600,
            "service": {"port": PORT, "targetPort": "http"},
            "analysis": {
                "interval": _seconds(policy.interval),
                "threshold": policy.threshold,
                "stepWeight": policy.step_weight,
                "maxWeight": policy.max_weight,
                "webhooks": [
                    {
                        "name": "mlgate-canary-analysis",
                        "type": "rollout",
                        "url": f"http://{webhook_name(name)}{namespace}:{WEBHOOK_PORT}/",
                        "timeout": "30s",
                        "metadata": {
                            "window": _seconds(policy.interval),
                            "stable_selector": f'app_kubernetes_io_name="{name}-primary"',
                            "canary_selector": f'app_kubernetes_io_name="{name}"',
                        },
                    }
                ],
            },
        },
    }


def primary_budget(name: str, opts: ManifestOptions) -> Obj:
    """A PodDisruptionBudget for the primary pods (Flagger creates them without one)."""
    return disruption_budget(f"{name}-primary", opts)


def webhook(name: str, opts: ManifestOptions) -> list[Obj]:
    """The webhook's Deployment (one small pod) and Service."""
    hook = webhook_name(name)
    labels = {"app.kubernetes.io/name": hook, "app.kubernetes.io/managed-by": "mlgate"}
    container: Obj = {
        "name": "webhook",
        "image": opts.image,
        "command": [
            "mlgate",
            "canary",
            "webhook",
            "--host",
            "0.0.0.0",
            "--port",
            str(WEBHOOK_PORT),
            "--prometheus",
            opts.prometheus_url,
            *threshold_flags(opts.policy),
        ],
        "ports": [{"name": "http", "containerPort": WEBHOOK_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": container_security(),
    }
    meta = metadata(hook, opts)
    meta["labels"] = labels
    deployment: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": hook}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                },
            },
        },
    }
    service: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": hook},
            "ports": [
                {"name": "http", "port": WEBHOOK_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }
    return [deployment, service]
