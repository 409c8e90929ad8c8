"""Argo Rollouts objects: a Rollout whose canary steps follow the `canary:` policy, and the
AnalysisTemplate whose Job runs `mlgate canary analyze` (its exit code is the verdict).

The steps: setWeight step_weight, pause `interval`, analysis; and so on up to max_weight. The
analysis Job reads the cluster's Prometheus for the last `interval`, telling the stable pods
from the canary ones by Argo's `rollouts-pod-template-hash` label (Prometheus' usual
`labelmap` of pod labels turns it into `rollouts_pod_template_hash`), which the Rollout passes
as arguments (`podTemplateHashValue: Stable` / `Latest`).
"""

from __future__ import annotations

from mlgate.app.kubernetes.manifests import (
    ANALYSIS_METRIC,
    PORT,
    ManifestOptions,
    Obj,
    container_security,
    metadata,
    pod_template,
    selector,
)
from mlgate.core.policy import CanaryConfig
from mlgate.core.rollout import canary_weights

HASH_LABEL = "rollouts_pod_template_hash"


def weights(policy: CanaryConfig) -> list[int]:
    """The canary weights, step by step, as the local controller steps them."""
    return list(canary_weights(policy))


def _duration(seconds: float) -> str:
    return f"{round(seconds)}s" if seconds >= 1 else "1s"


def threshold_flags(policy: CanaryConfig) -> list[str]:
    """The policy's thresholds as `mlgate canary analyze` / `webhook` flags."""
    flags = [
        "--max-error-rate", f"{policy.max_error_rate:g}",
        "--max-p99-ms", f"{policy.max_p99_ms:g}",
        "--max-p99-increase-ms", f"{policy.max_p99_increase_ms:g}",
        "--min-requests", str(policy.min_requests),
    ]  # fmt: skip
    if policy.max_divergence is not None:
        flags += ["--max-divergence", f"{policy.max_divergence:g}"]
    return flags


def rollout(name: str, opts: ManifestOptions) -> Obj:
    """Argo Rollouts Rollout: each policy weight, a pause of one interval, then analysis."""
    analysis = {
        "analysis": {
            "templates": [{"templateName": f"{name}-canary"}],
            "args": [
                {"name": "stable-url", "value": f"http://{name}:{PORT}"},
                {"name": "canary-url", "value": f"http://{name}-canary:{PORT}"},
                {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
                {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
            ],
        }
    }
    policy = opts.policy
    steps: list[Obj] = []
    for weight in weights(policy):
        steps += [
            {"setWeight": weight},
            {"pause": {"duration": _duration(policy.interval)}},
            analysis,
        ]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": metadata(name, opts),
        "spec": {
            "replicas": opts.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name)},
            "template": pod_template(name, opts),
            "strategy": {
                "canary": {
                    "stableService": name,
                    "canaryService": f"{name}-canary",
                    "maxSurge": 1,
                    "maxUnavailable": 0,
                    "steps": steps,
                }
            },
        },
    }


def _analysis_container(name: str, opts: ManifestOptions) -> Obj:
    """The Job's container: `mlgate canary analyze` over the two pod hashes' series."""
    app = f'app_kubernetes_io_name="{name}"'
    container: Obj = {
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
            "--prometheus",
            opts.prometheus_url,
            "--stable-selector",
            f'{app},{HASH_LABEL}="{{{{args.stable-hash}}}}"',
            "--canary-selector",
            f'{app},{HASH_LABEL}="{{{{args.canary-hash}}}}"',
            "--window",
            _duration(opts.policy.interval),
            *threshold_flags(opts.policy),
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "securityContext": container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return container


def analysis_template(name: str, opts: ManifestOptions) -> Obj:
    """AnalysisTemplate with one metric, `mlgate-canary-analysis`: a Job that runs
    `mlgate canary analyze` (from the same image) on the stable and canary pods' metrics.

    mlgate's canary analysis (error rate, latency, prediction divergence vs the incumbent,
    input drift, online accuracy) decides; the Job's exit code is the verdict Argo acts on.
    """
    job_container = _analysis_container(name, opts)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": metadata(f"{name}-canary", opts),
        "spec": {
            "args": [
                {"name": "stable-url"},
                {"name": "canary-url"},
                {"name": "stable-hash"},
                {"name": "canary-hash"},
            ],
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
