"""`mlgate deploy --target kubernetes`: manifests validate offline against Kubernetes' schemas
(kubernetes-validate, strict) and the Argo Rollouts CRD subset in tests/schemas/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from mlgate.app.kubernetes.target import (
    ANALYSIS_METRIC,
    ManifestOptions,
    app_name,
    render_manifests,
    write_manifests,
)
from mlgate.cli import main as mlgate_main
from mlgate.core.policy import CanaryConfig
from mlgate.errors import UsageError

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"ghcr.io/acme/churn-model@{DIGEST}"
K8S = "1.30.0"  # a release still widely run; autoscaling/v2 and policy/v1 are GA there
ARGO_SCHEMA = json.loads(
    (Path(__file__).parents[3] / "schemas" / "argo-rollouts-v1alpha1.json").read_text()
)


def k8s_valid(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S, strict=True)


def as_deployment(template: dict[str, Any], selector: dict[str, Any]) -> dict[str, Any]:
    """A pod template checked by the real PodTemplateSpec schema, inside a Deployment."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "check"},
        "spec": {"selector": selector, "template": template},
    }


def load_dir(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {p.name: list(yaml.safe_load_all(p.read_text())) for p in sorted(out.glob("*.yaml"))}


def test_rolling_manifests_validate_strictly_and_pin_the_digest(tmp_path: Path) -> None:
    write_manifests(ManifestOptions(image=IMAGE, namespace="models"), tmp_path)
    files = load_dir(tmp_path)
    assert set(files) == {
        "deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml", "prometheus-rule.yaml",
    }  # fmt: skip
    (rule,) = files.pop(
        "prometheus-rule.yaml"
    )  # a CRD: tests/unit/adapters/prometheus/test_rules.py
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["namespace"] == "models"
    kinds = []
    for docs in files.values():
        for obj in docs:
            k8s_valid(obj)
            kinds.append(obj["kind"])
            assert obj["metadata"]["namespace"] == "models"
    assert sorted(kinds) == [
        "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service",
    ]  # fmt: skip
    (dep,) = files["deployment.yaml"]
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == IMAGE
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["resources"]["requests"]
    assert c["resources"]["limits"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsNonRoot"]
    # The server writes the prediction log `mlgate monitor` reads, on a volume of its own.
    assert c["args"] == ["--log-dir", "/var/log/mlgate"]
    assert {m["name"]: m["mountPath"] for m in c["volumeMounts"]} == {
        "tmp": "/tmp", "prediction-log": "/var/log/mlgate",
    }  # fmt: skip
    assert {v["name"] for v in pod["volumes"] if "emptyDir" in v} == {"tmp", "prediction-log"}
    (hpa,) = files["hpa.yaml"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "churn-model",
    }


def test_files_start_with_a_review_header(tmp_path: Path) -> None:
    for path in write_manifests(ManifestOptions(image=IMAGE), tmp_path):
        assert path.read_text().startswith("# Written by `mlgate deploy --target kubernetes`")


def test_canary_writes_a_valid_rollout_and_analysis_template(tmp_path: Path) -> None:
    write_manifests(ManifestOptions(image=IMAGE, strategy="canary"), tmp_path)
    files = load_dir(tmp_path)
    assert set(files) == {
        "rollout.yaml",
        "analysis-template.yaml",
        "service.yaml",
        "hpa.yaml",
        "pdb.yaml",
        "prometheus-rule.yaml",
    }
    (ro,) = files["rollout.yaml"]
    jsonschema.validate(ro, ARGO_SCHEMA)
    k8s_valid(as_deployment(ro["spec"]["template"], ro["spec"]["selector"]))
    canary = ro["spec"]["strategy"]["canary"]
    # The default policy: step_weight 20 up to max_weight 100, one interval (60 s) apart.
    assert [s["setWeight"] for s in canary["steps"] if "setWeight" in s] == [20, 40, 60, 80, 100]
    assert {s["pause"]["duration"] for s in canary["steps"] if "pause" in s} == {"60s"}
    analyses = [s["analysis"] for s in canary["steps"] if "analysis" in s]
    assert analyses
    assert all(a["templates"] == [{"templateName": "churn-model-canary"}] for a in analyses)
    stable, canary_svc = files["service.yaml"]
    assert (stable["metadata"]["name"], canary_svc["metadata"]["name"]) == (
        canary["stableService"], canary["canaryService"],
    )  # fmt: skip
    for svc in files["service.yaml"] + files["pdb.yaml"] + files["hpa.yaml"]:
        k8s_valid(svc)
    (hpa,) = files["hpa.yaml"]
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Rollout"

    (at,) = files["analysis-template.yaml"]
    jsonschema.validate(at, ARGO_SCHEMA)
    assert at["metadata"]["name"] == "churn-model-canary"
    (metric,) = at["spec"]["metrics"]
    assert metric["name"] == ANALYSIS_METRIC
    job_spec = metric["provider"]["job"]["spec"]
    k8s_valid(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, "spec": job_spec}
    )
    (c,) = job_spec["template"]["spec"]["containers"]
    assert c["command"][:3] == ["mlgate", "canary", "analyze"]
    declared = {a["name"] for a in at["spec"]["args"]}
    passed = {a["name"] for a in analyses[0]["args"]}
    assert declared == passed


def test_the_argo_schema_rejects_a_misplaced_field() -> None:
    ro = render_manifests(ManifestOptions(image=IMAGE, strategy="canary"))["rollout.yaml"][0]
    ro["spec"]["strategy"]["canary"]["steps"].append({"setWieght": 20})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(ro, ARGO_SCHEMA)


def test_switching_strategy_removes_the_other_workload(tmp_path: Path) -> None:
    write_manifests(ManifestOptions(image=IMAGE, strategy="canary"), tmp_path)
    write_manifests(ManifestOptions(image=IMAGE), tmp_path)
    assert not (tmp_path / "rollout.yaml").exists()
    assert (tmp_path / "deployment.yaml").exists()


@pytest.mark.parametrize("strategy", ["ab", "shadow"])
def test_mesh_strategies_are_refused_with_the_local_alternative(strategy: str) -> None:
    with pytest.raises(UsageError, match="--target local"):
        render_manifests(ManifestOptions(image=IMAGE, strategy=strategy))


@pytest.mark.parametrize(
    "image",
    ["ghcr.io/acme/churn:abc123", "ghcr.io/acme/churn@sha256:short", "churn"],
)
def test_an_image_not_pinned_by_digest_is_refused(image: str) -> None:
    with pytest.raises(UsageError, match="digest"):
        render_manifests(ManifestOptions(image=image))


def test_app_name_is_a_dns_label() -> None:
    assert app_name(f"127.0.0.1:5000/team/Churn_Model@{DIGEST}") == "churn-model"
    assert app_name(f"r.io/9lives@{DIGEST}") == "model-9lives"


def test_deploy_command_writes_manifests_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    code = mlgate_main(["deploy", "--target", "kubernetes", "--image", IMAGE, "--out", str(out)])
    assert code == 0
    assert (out / "deployment.yaml").is_file()


def test_deploy_command_refuses_a_tag_with_exit_2(tmp_path: Path) -> None:
    code = mlgate_main(["deploy", "--image", "ghcr.io/a/b:latest", "--out", str(tmp_path)])
    assert code == 2


def test_kubernetes_validation_is_strict() -> None:
    dep = render_manifests(ManifestOptions(image=IMAGE))["deployment.yaml"][0]
    dep["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s_valid(dep)


FLAGGER_SCHEMA = json.loads(
    (Path(__file__).parents[3] / "schemas" / "flagger-v1beta1.json").read_text()
)


def test_flagger_canary_and_webhook_validate_and_follow_the_policy(tmp_path: Path) -> None:
    policy = CanaryConfig(interval="2m", threshold=3, step_weight=10, max_weight=50)
    opts = ManifestOptions(
        image=IMAGE, strategy="canary", rollouts="flagger", namespace="models", policy=policy
    )
    write_manifests(opts, tmp_path)
    files = load_dir(tmp_path)
    assert set(files) == {
        "deployment.yaml", "hpa.yaml", "canary.yaml", "canary-webhook.yaml", "pdb.yaml",
        "prometheus-rule.yaml",
    }  # fmt: skip
    (canary,) = files["canary.yaml"]
    jsonschema.validate(canary, FLAGGER_SCHEMA)
    analysis = canary["spec"]["analysis"]
    assert (analysis["interval"], analysis["threshold"]) == ("120s", 3)
    assert (analysis["stepWeight"], analysis["maxWeight"]) == (10, 50)
    (hook,) = analysis["webhooks"]
    assert hook["type"] == "rollout"
    assert hook["url"] == "http://churn-model-canary-analysis.models:8080/"
    assert hook["metadata"]["stable_selector"] == 'app_kubernetes_io_name="churn-model-primary"'
    assert canary["spec"]["targetRef"]["name"] == files["deployment.yaml"][0]["metadata"]["name"]
    for obj in files["canary-webhook.yaml"] + files["pdb.yaml"] + files["deployment.yaml"]:
        k8s_valid(obj)
    deployment, svc = files["canary-webhook.yaml"]
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    assert c["command"][:3] == ["mlgate", "canary", "webhook"]
    assert svc["metadata"]["name"] == "churn-model-canary-analysis"
    pdbs = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for p in files["pdb.yaml"]
    }
    assert pdbs == {"churn-model", "churn-model-primary"}


def test_the_flagger_schema_rejects_a_misplaced_field() -> None:
    files = render_manifests(ManifestOptions(image=IMAGE, strategy="canary", rollouts="flagger"))
    canary = files["canary.yaml"][0]
    canary["spec"]["analysis"]["stepWieght"] = 5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(canary, FLAGGER_SCHEMA)


def test_the_analysis_job_reads_prometheus_by_pod_template_hash() -> None:
    files = render_manifests(
        ManifestOptions(image=IMAGE, strategy="canary", prometheus_url="http://prom:9090")
    )
    job = files["analysis-template.yaml"][0]["spec"]["metrics"][0]["provider"]["job"]["spec"]
    command = job["template"]["spec"]["containers"][0]["command"]
    flags = dict(zip(command[3::2], command[4::2], strict=False))
    assert flags["--prometheus"] == "http://prom:9090"
    assert flags["--canary-selector"] == (
        'app_kubernetes_io_name="churn-model",rollouts_pod_template_hash="{{args.canary-hash}}"'
    )
    assert flags["--window"] == "60s"


def test_switching_to_flagger_removes_the_argo_objects(tmp_path: Path) -> None:
    write_manifests(ManifestOptions(image=IMAGE, strategy="canary"), tmp_path)
    write_manifests(ManifestOptions(image=IMAGE, strategy="canary", rollouts="flagger"), tmp_path)
    assert not (tmp_path / "rollout.yaml").exists()
    assert not (tmp_path / "analysis-template.yaml").exists()
    assert (tmp_path / "canary.yaml").exists()


def test_deploy_without_image_or_out_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert mlgate_main(["deploy", "--target", "kubernetes", "--out", "x"]) == 2
    assert "--image is required" in capsys.readouterr().err
    assert mlgate_main(["deploy", "--target", "kubernetes", "--image", IMAGE]) == 2
    assert "--out is required" in capsys.readouterr().err
    assert mlgate_main(["deploy", "--target", "nowhere"]) == 2
    assert "--target 'nowhere'" in capsys.readouterr().err
