"""The serving image end to end: build + smoke, non-root, slim, push, pull by digest, predict."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from mlgate.adapters.container.engine import Engine
from mlgate.adapters.container.push import push_image
from mlgate.app.image.build import BuildOptions, BuildResult, build_image
from mlgate.app.image.smoke import run_smoke
from mlgate.cli import main as mlgate_main
from mlgate.store.bundle import MODEL_FILE, ONNX_FILE, load_bundle, seal
from mlgate.store.trust import Trust
from tests.e2e.conftest import BASE_IMAGE, REPOSITORY, Registry, small_demo
from tests.e2e.hostonly import HostOnlyModel

# `make test` runs e2e tests in one process, after the rest: they share podman's store.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def labels_of(engine: Engine, image: str) -> dict[str, str]:
    info = engine.inspect_image(image)
    labels: dict[str, str] = (info.get("Config") or {}).get("Labels") or info.get("Labels") or {}
    return labels


def layers_of(engine: Engine, image: str) -> list[str]:
    layers: list[str] = engine.inspect_image(image)["RootFS"]["Layers"]
    return layers


def test_build_tags_with_revision_and_labels_lineage(
    engine: Engine, built: BuildResult, demo_bundle: Path
) -> None:
    bundle = load_bundle(demo_bundle)
    assert built.image == f"{REPOSITORY}:e2e{'0' * 37}"
    assert built.smoke_rows == 5  # the smoke test ran (and passed) inside the build
    labels = labels_of(engine, built.image)
    assert labels["org.opencontainers.image.revision"] == "e2e" + "0" * 37
    assert labels["org.opencontainers.image.source"] == "https://example.invalid/mlgate-e2e"
    assert labels["org.opencontainers.image.created"].endswith("+00:00")
    assert labels["io.mlgate.model.name"] == bundle.meta.name
    assert labels["io.mlgate.data.fingerprint"] == bundle.meta.data.fingerprint
    assert len(labels["io.mlgate.model.version"]) == 12


def test_image_runs_as_non_root(engine: Engine, built: BuildResult) -> None:
    info = engine.inspect_image(built.image)
    assert info["Config"]["User"] == "10001:10001"
    out = engine.run(
        ["run", "--rm", "--no-healthcheck", "--entrypoint", "id", built.image], what="id"
    )
    assert out.stdout.startswith("uid=10001(mlgate)")


def test_image_has_no_compiler_and_no_test_or_training_deps(
    engine: Engine, built: BuildResult
) -> None:
    probe = (
        "import importlib.util, shutil, sys; "
        "tools = [t for t in ('gcc', 'cc', 'c++', 'make', 'curl') if shutil.which(t)]; "
        "mods = [m for m in ('pytest', 'hypothesis', 'mlflow', 'dvc', 'pip', 'setuptools') "
        "if importlib.util.find_spec(m)]; "
        "print(tools, mods); sys.exit(1 if tools or mods else 0)"
    )
    out = engine.run(
        ["run", "--rm", "--no-healthcheck", "--entrypoint", "python3", built.image, "-c", probe],
        what="probe",
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_push_then_pull_by_digest_into_a_clean_store_and_predict(
    engine: Engine, built: BuildResult, registry: Registry, demo_bundle: Path, tmp_path: Path
) -> None:
    pushed = push_image(built.image, registry=registry.address, tls_verify=False)
    assert pushed.destination == f"{registry.address}/mlgate-e2e:e2e{'0' * 37}"
    assert pushed.digest.startswith("sha256:")
    assert len(pushed.digest) == 71
    ref = pushed.by_digest
    assert ref == f"{registry.address}/mlgate-e2e@{pushed.digest}"

    # A separate, empty image store: the image can only come from the registry.
    # podman limits the run root's path length, hence a short directory of its own.
    runroot = Path(tempfile.mkdtemp(prefix="mlg-run-", dir="/tmp"))
    clean = Engine(
        name="podman",
        path=engine.path,
        global_args=("--root", str(tmp_path / "root"), "--runroot", str(runroot)),
    )
    try:
        clean.run(["pull", "--quiet", "--tls-verify=false", ref], what="pull by digest")
        assert clean.inspect_image(ref)["Digest"] == pushed.digest
        result = run_smoke(clean, ref, load_bundle(demo_bundle))
        assert result.rows == 5
        assert result.version == labels_of(engine, built.image)["io.mlgate.model.version"]
    finally:
        clean.run(["rmi", "--all", "--force"], what="emptying the clean store", check=False)
        shutil.rmtree(runroot, ignore_errors=True)


def test_push_cli_prints_the_digest_reference(
    built: BuildResult, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    code = mlgate_main(
        [
            "push",
            built.image,
            "--registry",
            registry.address,
            "--no-tls-verify",
            "--engine",
            "podman",
        ]
    )
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(f"{registry.address}/mlgate-e2e@sha256:")


def test_push_says_what_to_set_for_a_local_image_and_a_plain_http_registry(
    built: BuildResult, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    local = "localhost/" + built.image.partition("/")[2]
    assert mlgate_main(["push", local, "--engine", "podman"]) == 2
    assert "--registry HOST[:PORT]" in capsys.readouterr().err

    code = mlgate_main(["push", built.image, "--registry", registry.address, "--engine", "podman"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "plain HTTP: pass --no-tls-verify" in err


def test_rebuild_with_only_a_new_model_reuses_every_dependency_layer(
    engine: Engine, built: BuildResult, tmp_path: Path
) -> None:
    other = small_demo(tmp_path / "demo", seed=7)
    result = build_image(
        BuildOptions(
            bundle_dir=other,
            tag=REPOSITORY,
            engine="podman",
            base_image=BASE_IMAGE,
            revision="retrained",
            smoke=False,
        )
    )
    try:
        before, after = layers_of(engine, built.image), layers_of(engine, result.image)
        # base, user, dependencies, mlgate: shared; the bundle: new.
        assert len(before) == len(after) == 5
        assert after[:-1] == before[:-1]
        assert after[-1] != before[-1]
    finally:
        engine.run(["rmi", result.image], what="cleanup", check=False)


def test_a_bundle_that_cannot_load_in_the_image_fails_the_build_with_exit_1(
    engine: Engine, built: BuildResult, demo_bundle: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import skops.io

    broken = tmp_path / "broken"
    shutil.copytree(demo_bundle, broken)
    host_only = "tests.e2e.hostonly.HostOnlyModel"
    trust = Trust(types=(host_only,))
    model = load_bundle(demo_bundle).load_model()
    skops.io.dump(HostOnlyModel(model), broken / MODEL_FILE)
    # Without an ONNX export the server must load model.skops (with one, it never would).
    (broken / ONNX_FILE).unlink(missing_ok=True)
    seal(broken)
    load_bundle(broken, trust=trust).load_model()  # verifies, and loads on this host

    code = mlgate_main(
        ["build", str(broken), "--engine", "podman", "--base-image", BASE_IMAGE,
         "--tag", "localhost/mlgate-broken", "--revision", "broken", "--trust-type", host_only]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    assert "smoke test" in err
    assert "tests" in err
    assert not engine.image_exists("localhost/mlgate-broken:broken")
    leftover = engine.run(
        ["ps", "--all", "--filter", "name=mlgate-smoke-", "--format", "{{.Names}}"], what="ps"
    ).stdout.strip()
    assert leftover == ""


def test_a_base_image_that_cannot_be_pulled_says_what_to_set(
    engine: Engine, demo_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "localhost/mlgate-no-such-base:0"
    assert not engine.image_exists(missing)
    code = mlgate_main(
        ["build", str(demo_bundle), "--engine", "podman", "--base-image", missing,
         "--tag", "localhost/mlgate-nobase", "--no-smoke"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"the base image {missing} is not in podman's store" in err
    assert "MLGATE_BASE_IMAGE" in err
