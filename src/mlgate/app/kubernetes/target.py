"""`mlgate deploy --target kubernetes`: plain, reviewable manifests for one model image.

    rolling (default)   Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget
    canary, argo        an Argo Rollouts Rollout (the canary policy's steps, each followed by
                        analysis) instead of the Deployment, a canary Service beside the stable
                        one, and an AnalysisTemplate whose one metric runs
                        `mlgate canary analyze` (argo.py)
    canary, flagger     the Deployment, a Flagger Canary whose rollout webhook is
                        `mlgate canary webhook` (with that webhook's Deployment and Service),
                        and a PodDisruptionBudget for the primary pods too (flagger.py)
    (all)               a PrometheusRule with the monitoring alerts, and the same rules as a
                        plain Prometheus rule file in prometheus/ (kubectl apply -f skips it)

`render_manifests` is pure (options -> {file name: list of objects}); `write_manifests` writes
them. The image must be named by digest: a tag can move after review, a digest cannot.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlgate.adapters.prometheus.rules import prometheus_rule, write_rule_file
from mlgate.app.kubernetes import argo, flagger
from mlgate.app.kubernetes.manifests import (
    ALL_FILES,
    ANALYSIS_METRIC,
    HEADER,
    ManifestOptions,
    Obj,
    app_name,
    autoscaler,
    check_options,
    deployment,
    disruption_budget,
    labels,
    online_args,
    require,
    service,
)
from mlgate.errors import UsageError
from mlgate.serve.online import check_online
from mlgate.store import atomic
from mlgate.store.bundle import load_bundle
from mlgate.store.project import config_file, find_project

__all__ = [
    "ANALYSIS_METRIC",
    "ManifestOptions",
    "app_name",
    "check_online_features",
    "render_manifests",
    "require",
    "to_yaml",
    "write_manifests",
]


def render_manifests(opts: ManifestOptions) -> dict[str, list[Obj]]:
    """Every manifest for `opts`, by file name."""
    name, strategy = check_options(opts)
    files: dict[str, list[Obj]] = {}
    if strategy == "canary" and opts.rollouts == "flagger":
        files["deployment.yaml"] = [deployment(name, opts)]
        files["hpa.yaml"] = [autoscaler(name, opts, "Deployment", "apps/v1")]
        files["canary.yaml"] = [flagger.canary(name, opts)]
        files["canary-webhook.yaml"] = flagger.webhook(name, opts)
        files["pdb.yaml"] = [disruption_budget(name, opts), flagger.primary_budget(name, opts)]
    elif strategy == "canary":
        files["rollout.yaml"] = [argo.rollout(name, opts)]
        files["analysis-template.yaml"] = [argo.analysis_template(name, opts)]
        files["service.yaml"] = [
            service(name, opts),
            service(name, opts, service_name=f"{name}-canary"),
        ]
        files["hpa.yaml"] = [autoscaler(name, opts, "Rollout", "argoproj.io/v1alpha1")]
    else:
        files["deployment.yaml"] = [deployment(name, opts)]
        files["service.yaml"] = [service(name, opts)]
        files["hpa.yaml"] = [autoscaler(name, opts, "Deployment", "apps/v1")]
    files.setdefault("pdb.yaml", [disruption_budget(name, opts)])
    # Alert rules on the server's drift, feedback, error and latency metrics (monitor/rules.py).
    files["prometheus-rule.yaml"] = [prometheus_rule(name, opts.namespace, labels(name))]
    return files


def check_online_features(
    opts: ManifestOptions, *, config: Path | None, candidate: str | None
) -> None:
    """Before anything is written: `--online-features` (and `--online-timeout`) as `mlgate
    serve` takes them, for a model trained from Feast. The bundle `candidate` names, when it
    is a bundle directory, is checked as the server checks it; otherwise the project's
    mlgate.yaml must train from Feast (`data.source: feast`). UsageError (exit 2) else."""
    online_args(opts)
    url = opts.online_features
    if url is None:
        return
    if candidate is not None and Path(candidate).is_dir():
        bundle = load_bundle(Path(candidate))
        check_online(url, bundle.meta, bundle.path)
        return
    where = config_file(config if config is not None else "mlgate.yaml")
    project = find_project(where)
    if project is None:
        raise UsageError(
            f"--online-features {url}: no project at {where} to tell whether the model was "
            "trained from a feature store (data.source: feast)",
            hint="run in the project (or pass --config), or name the bundle with --candidate",
        )
    source = project.config.data.source
    if source != "feast":
        raise UsageError(
            f"--online-features {url}: the project config {where} has data.source: {source}, "
            "not feast, so its model was not trained from a feature store and no feature of "
            "it is looked up online",
            hint="deploy without --online-features, or train from Feast (data.source: feast)",
        )


def to_yaml(objects: list[Obj], out: str) -> str:
    """One YAML file: the header, then the objects as documents, keys in written order."""

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
