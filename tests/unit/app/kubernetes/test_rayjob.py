"""`mlgate deploy --target kubernetes --training rayjob`: the RayJob validates offline against
KubeRay's RayJob CRD schema (tests/schemas/kuberay-rayjob-v1.json) and its pod templates against
Kubernetes' PodTemplateSpec (kubernetes-validate, strict)."""

from __future__ import annotations

import copy
import importlib.metadata
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from mlgate.app.kubernetes.rayjob import RayJobOptions, render_rayjob
from mlgate.app.kubernetes.target import ManifestOptions, render_manifests
from mlgate.cli import main as mlgate_main
from mlgate.errors import UsageError

pytestmark = pytest.mark.unit

IMAGE = "ghcr.io/acme/churn-model@sha256:" + "ab" * 32
K8S = "1.30.0"
SCHEMA = json.loads((Path(__file__).parents[3] / "schemas" / "kuberay-rayjob-v1.json").read_text())


def job(**kw: Any) -> dict[str, Any]:
    return render_rayjob(RayJobOptions(image=IMAGE, ray_version="2.60.0", **kw))


def pod_templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    cluster = obj["spec"]["rayClusterSpec"]
    return [cluster["headGroupSpec"]["template"]] + [
        g["template"] for g in cluster["workerGroupSpecs"]
    ]


def test_the_rayjob_validates_against_kuberays_crd_and_kubernetes() -> None:
    obj = job(namespace="ml")
    jsonschema.validate(obj, SCHEMA)
    for template in pod_templates(obj):
        labels = template["metadata"]["labels"]
        kubernetes_validate.validate(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "check"},
                "spec": {"selector": {"matchLabels": labels}, "template": template},
            },
            K8S,
            strict=True,
        )
    assert obj["metadata"]["namespace"] == "ml"


def test_the_rayjob_runs_mlgate_on_its_own_cluster_once() -> None:
    spec = job(workdir="/srv/project")["spec"]
    assert spec["entrypoint"] == (
        'cd /srv/project && mlgate run --compute ray --address "$RAY_ADDRESS" --register'
    )
    assert spec["submissionMode"] == "K8sJobMode"
    assert spec["backoffLimit"] == 0
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] > 0
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["metadata"] == {"model": "churn-model"}


def test_head_and_workers_share_the_image_and_the_ray_version() -> None:
    obj = job(workers=3, head_memory="8Gi")
    cluster = obj["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == "2.60.0"
    (group,) = cluster["workerGroupSpecs"]
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (3, 3, 3)
    assert "enableInTreeAutoscaling" not in cluster
    containers = [t["spec"]["containers"][0] for t in pod_templates(obj)]
    assert {c["image"] for c in containers} == {IMAGE}
    assert {c["workingDir"] for c in containers} == {"/work"}
    head = containers[0]
    assert head["resources"]["limits"]["memory"] == "8Gi"
    assert head["env"] == [
        {
            "name": "MLFLOW_TRACKING_URI",
            "valueFrom": {"secretKeyRef": {"name": "mlflow", "key": "MLFLOW_TRACKING_URI"}},
        }
    ]


def test_more_max_workers_turn_the_autoscaler_on() -> None:
    cluster = job(workers=1, max_workers=4)["spec"]["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["workerGroupSpecs"][0]["maxReplicas"] == 4


def test_ray_pods_are_not_selected_by_the_serving_objects() -> None:
    serving = render_manifests(ManifestOptions(image=IMAGE))
    selector = serving["service.yaml"][0]["spec"]["selector"]
    obj = job()
    assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "churn-model"
    for template in pod_templates(obj):
        labels = template["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "churn-model"
        assert not selector.items() <= labels.items()


def test_the_schema_rejects_a_wrong_type_a_misplaced_field_and_a_missing_head() -> None:
    good = job()
    wrong_type = copy.deepcopy(good)
    wrong_type["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] = "2"
    misplaced = copy.deepcopy(good)
    misplaced["spec"]["entryPoint"] = misplaced["spec"].pop("entrypoint")
    no_head = copy.deepcopy(good)
    del no_head["spec"]["rayClusterSpec"]["headGroupSpec"]
    for broken in (wrong_type, misplaced, no_head):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


@pytest.mark.parametrize(
    ("kw", "named"),
    [
        ({"image": "ghcr.io/acme/churn:latest"}, "--image"),
        ({"workdir": "work"}, "--workdir"),
        ({"workers": 3, "max_workers": 2}, "--max-replicas"),
        ({"name": "m" * 45}, "--name"),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(kw: dict[str, Any], named: str) -> None:
    opts = {"image": IMAGE, "ray_version": "2.60.0", **kw}
    with pytest.raises(UsageError, match=named):
        render_rayjob(RayJobOptions(**opts))


def test_deploy_training_rayjob_writes_only_the_rayjob(tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    code = mlgate_main(
        ["deploy", "--target", "kubernetes", "--training", "rayjob", "--image", IMAGE,
         "--out", str(out), "--replicas", "3", "--mlflow-secret", "tracking"]
    )  # fmt: skip
    assert code == 0
    assert [p.name for p in out.iterdir()] == ["rayjob.yaml"]
    text = (out / "rayjob.yaml").read_text()
    assert text.startswith("# Written by `mlgate deploy --target kubernetes`")
    obj = yaml.safe_load(text.split("---\n", 1)[1])
    jsonschema.validate(obj, SCHEMA)
    cluster = obj["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == importlib.metadata.version("ray")
    assert cluster["workerGroupSpecs"][0]["replicas"] == 3
    env = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["env"]
    assert env[0]["valueFrom"]["secretKeyRef"]["name"] == "tracking"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--training", "rayjob", "--image", "ghcr.io/a/b:latest"], "--image 'ghcr.io/a/b:latest'"),
        (["--training", "slurm", "--image", IMAGE], "--training 'slurm'"),
        (["--training", "rayjob"], "--image is required"),
        (["--training", "rayjob", "--image", IMAGE, "--target", "local"], "--target kubernetes"),
    ],
)
def test_deploy_training_refuses_bad_input_with_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "k8s"
    assert mlgate_main(["deploy", *args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_deploy_training_without_ray_installed_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    out = tmp_path / "k8s"
    args = ["deploy", "--training", "rayjob", "--image", IMAGE, "--out", str(out)]
    assert mlgate_main(args) == 2
    assert "mlgate[ray]" in capsys.readouterr().err
    assert not out.exists()
