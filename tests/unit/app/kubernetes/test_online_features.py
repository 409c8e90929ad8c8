"""`mlgate deploy --target kubernetes --online-features URL`: the serving container's arguments
carry the flags `mlgate serve` takes, for a model trained from Feast only; anything else is a
usage error (exit 2) that names the flag, the value and the fix, and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from mlgate.app.kubernetes.target import (
    ManifestOptions,
    check_online_features,
    render_manifests,
)
from mlgate.cli import main as mlgate_main
from mlgate.core.records.lineage import BundleMeta, DataLineage, FeastRecord, GitInfo
from mlgate.core.schema import Schema
from mlgate.errors import UsageError
from mlgate.store import bundle

pytestmark = pytest.mark.unit

IMAGE = "ghcr.io/acme/churn-model@sha256:" + "ab" * 32
URL = "http://feast-feature-server.feast:6566"
LOG = ["--log-dir", "/var/log/mlgate"]
FILE_PROJECT = "name: churn\ndata:\n  path: data.csv\n  target: churned\n"
FEAST_PROJECT = (
    "name: churn\ndata:\n  path: data/frame.parquet\n  source: feast\n  target: churned\n"
    "  feast:\n    repo: features\n    features: [orders:spend_30d]\n"
    "    entities: data/entities.csv\n"
)


def _args(files: dict[str, list[dict[str, Any]]], name: str, kind: str) -> list[str]:
    (obj,) = [o for o in files[name] if o["kind"] == kind]
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    args: list[str] = container["args"]
    return args


def _project(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlgate.yaml").write_text(text)
    return root / "mlgate.yaml"


def _bundle(path: Path, *, feast: bool) -> Path:
    """A sealed bundle whose mlgate.json does (or does not) record a Feast training frame."""
    record = FeastRecord(
        project="shop",
        service=None,
        features=("orders:spend_30d",),
        entity_keys=("customer_id",),
        views={"orders": "sha256:0"},
        registry_version="1",
        entities_fingerprint="0" * 32,
        rows=10,
    )
    lineage = DataLineage(
        path="data/frame.parquet", fingerprint="f", rows=10, train_rows=8, holdout_rows=2,
        holdout_fingerprint="h",
    )  # fmt: skip
    meta = BundleMeta(
        name="churn", task="binary", target="churned", features=("spend_30d",),
        created_at="2026-01-01T00:00:00+00:00", mlgate_version="0", git=GitInfo(),
        data=lineage, config_hash="sha256:0", seed=0, estimator="logistic_regression",
        params={}, metrics={}, libraries={}, feast=record if feast else None,
    )  # fmt: skip
    with bundle.staging(path) as tmp:
        (tmp / bundle.META_FILE).write_text(meta.model_dump_json())
        (tmp / bundle.SCHEMA_FILE).write_text(Schema(columns=()).model_dump_json())
    return path


@pytest.mark.parametrize(
    ("strategy", "rollouts", "file", "kind"),
    [
        ("rolling", "argo", "deployment.yaml", "Deployment"),
        ("canary", "argo", "rollout.yaml", "Rollout"),
        ("canary", "flagger", "deployment.yaml", "Deployment"),
    ],
)
def test_every_serving_pod_gets_the_online_flags(
    strategy: str, rollouts: str, file: str, kind: str
) -> None:
    opts = ManifestOptions(
        image=IMAGE, strategy=strategy, rollouts=rollouts, online_features=URL, online_timeout=0.5
    )
    files = render_manifests(opts)
    assert _args(files, file, kind) == [*LOG, "--online-features", URL, "--online-timeout", "0.5"]
    if kind == "Deployment":
        kubernetes_validate.validate(files[file][0], "1.30.0", strict=True)


def test_without_online_features_the_arguments_are_as_before() -> None:
    files = render_manifests(ManifestOptions(image=IMAGE))
    assert _args(files, "deployment.yaml", "Deployment") == LOG
    only_url = render_manifests(ManifestOptions(image=IMAGE, online_features=URL))
    assert _args(only_url, "deployment.yaml", "Deployment") == [*LOG, "--online-features", URL]


@pytest.mark.parametrize("url", ["feast:6566", "ftp://feast:6566", "http://", "redis://r:6379"])
def test_a_url_that_is_not_http_is_refused_naming_the_value_and_the_fix(url: str) -> None:
    with pytest.raises(UsageError) as info:
        render_manifests(ManifestOptions(image=IMAGE, online_features=url))
    assert f"--online-features {url!r} is not an http:// or https:// URL" in info.value.message
    assert "http://HOST:PORT" in (info.value.hint or "")


def test_a_timeout_needs_the_url_and_at_least_a_millisecond() -> None:
    with pytest.raises(UsageError, match="--online-timeout 2 bounds the lookups") as info:
        render_manifests(ManifestOptions(image=IMAGE, online_timeout=2.0))
    assert "--online-features URL" in (info.value.hint or "")
    with pytest.raises(UsageError, match=r"--online-timeout 0: at least 0\.001 seconds"):
        render_manifests(ManifestOptions(image=IMAGE, online_features=URL, online_timeout=0.0))


def test_the_bundle_named_by_candidate_is_checked_as_the_server_checks_it(tmp_path: Path) -> None:
    opts = ManifestOptions(image=IMAGE, online_features=URL)
    feast = _bundle(tmp_path / "feast", feast=True)
    check_online_features(opts, config=None, candidate=str(feast))
    plain = _bundle(tmp_path / "plain", feast=False)
    # The bundle decides, even inside a project that trains from Feast.
    config = _project(tmp_path / "project", FEAST_PROJECT)
    with pytest.raises(UsageError, match="was not trained from a feature store") as info:
        check_online_features(opts, config=config, candidate=str(plain))
    assert f"--online-features {URL}: {plain}" in info.value.message
    assert "without --online-features" in (info.value.hint or "")


def test_without_a_bundle_the_projects_data_source_decides(tmp_path: Path) -> None:
    opts = ManifestOptions(image=IMAGE, online_features=URL)
    check_online_features(opts, config=_project(tmp_path / "f", FEAST_PROJECT), candidate=None)
    check_online_features(
        opts, config=_project(tmp_path / "f", FEAST_PROJECT), candidate="models:/churn@champion"
    )
    config = _project(tmp_path / "p", FILE_PROJECT)
    with pytest.raises(UsageError, match=r"has data\.source: file, not feast") as info:
        check_online_features(opts, config=config, candidate=None)
    assert f"--online-features {URL}: the project config {config}" in info.value.message
    with pytest.raises(UsageError, match="no project at"):
        check_online_features(opts, config=tmp_path / "none" / "mlgate.yaml", candidate=None)


def _deploy(root: Path, *extra: str) -> tuple[int, Path]:
    out = root / "k8s"
    argv = ["deploy", "--target", "kubernetes", "--image", IMAGE, "--out", str(out)]
    return mlgate_main([*argv, "--config", str(root / "mlgate.yaml"), *extra]), out


def test_the_command_writes_the_flags_for_a_feast_project(tmp_path: Path) -> None:
    _project(tmp_path, FEAST_PROJECT)
    code, out = _deploy(tmp_path, "--online-features", URL, "--online-timeout", "0.25")
    assert code == 0
    text = (out / "deployment.yaml").read_text()
    assert f"- --online-features\n        - {URL}\n        - --online-timeout\n" in text


@pytest.mark.parametrize(
    ("project", "extra", "said"),
    [
        (FEAST_PROJECT, ["--online-features", "feast:6566"], "'feast:6566' is not an http://"),
        (FILE_PROJECT, ["--online-features", URL], "data.source: file, not feast"),
        (FEAST_PROJECT, ["--online-timeout", "1"], "bounds the lookups of --online-features"),
    ],
)
def test_the_command_refuses_with_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], project: str, extra: list[str], said: str
) -> None:
    _project(tmp_path, project)
    code, out = _deploy(tmp_path, *extra)
    err = capsys.readouterr().err
    assert code == 2, err
    assert said in err
    assert not (tmp_path / "k8s").exists()
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--target", "local"], "--target local does not take it"),
        (["--training", "rayjob", "--image", IMAGE], "--training rayjob does not take it"),
    ],
)
def test_the_command_refuses_online_features_where_no_manifest_server_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    out = ["--out", str(tmp_path / "k8s")]
    assert mlgate_main(["deploy", *argv, *out, "--online-features", URL]) == 2
    err = capsys.readouterr().err
    assert "--online-features goes into the server arguments of the Kubernetes manifests" in err
    assert said in err
    assert not (tmp_path / "k8s").exists()
