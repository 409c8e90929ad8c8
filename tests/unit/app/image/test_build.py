"""Pure parts of `mlgate build` / `push`: tags, labels, build arguments, smoke comparison, and
the exit code when no container engine is on PATH."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.adapters.container.engine import Engine, find_engine
from mlgate.adapters.container.push import retarget, strip_tag
from mlgate.app.image.build import build_argv, image_name, image_ref, plan_build
from mlgate.app.image.context import _lock_line, dockerfile_text
from mlgate.app.image.smoke import compare
from mlgate.cli import main as mlgate_main
from mlgate.errors import InfraError, UsageError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        (None, "localhost/churn:abc"),
        ("ghcr.io/acme/churn", "ghcr.io/acme/churn:abc"),
        ("127.0.0.1:5000/churn", "127.0.0.1:5000/churn:abc"),
        ("ghcr.io/acme/churn:v1", "ghcr.io/acme/churn:v1"),
    ],
)
def test_image_ref_tags_with_the_revision(repo: str | None, expected: str) -> None:
    assert image_ref(repo, "churn", "abc") == expected


def test_image_name_is_a_valid_repository() -> None:
    assert image_name("Churn Model/v2") == "churn-model-v2"
    assert image_name("___") == "model"


@pytest.mark.parametrize(
    ("image", "registry", "expected"),
    [
        ("localhost/churn:abc", "127.0.0.1:5000", "127.0.0.1:5000/churn:abc"),
        ("ghcr.io/acme/churn:abc", "reg.example:443/team", "reg.example:443/team/acme/churn:abc"),
        ("churn:abc", "ghcr.io/acme", "ghcr.io/acme/churn:abc"),
        ("acme/churn:abc", "ghcr.io", "ghcr.io/acme/churn:abc"),
        ("localhost/churn:abc", None, "localhost/churn:abc"),
    ],
)
def test_retarget_moves_an_image_to_a_registry(
    image: str, registry: str | None, expected: str
) -> None:
    assert retarget(image, registry) == expected


def test_strip_tag_keeps_registry_ports() -> None:
    assert strip_tag("127.0.0.1:5000/churn:abc") == "127.0.0.1:5000/churn"
    assert strip_tag("ghcr.io/a/b@sha256:" + "0" * 64) == "ghcr.io/a/b"
    assert strip_tag("churn") == "churn"


def test_compare_is_exact_for_labels_and_tolerant_for_regression() -> None:
    assert compare([0, 1], [0, 1], regression=False) == []
    assert compare([0, 1], [1, 1], regression=False) == [
        "row 0: image answered 1, the bundle predicts 0"
    ]
    assert compare([100.0], [100.0 + 1e-3], regression=True) == []
    assert compare([100.0], [101.0], regression=True)
    assert compare([1], None, regression=False) == ["expected 1 predictions, got None"]


def test_lock_lines_come_from_wheel_names() -> None:
    assert _lock_line("scikit_learn-1.9.1-cp311-cp311-manylinux_2_28_x86_64.whl") == (
        "scikit_learn==1.9.1"
    )


def test_dockerfile_orders_layers_and_drops_privileges() -> None:
    text = dockerfile_text()
    final = text[text.index("stage 4") :]
    # Dependencies, then mlgate, then the bundle: a new model rebuilds only the last layer.
    order = [
        final.index("COPY --from=venv"),
        final.index("COPY --from=app"),
        final.index("COPY bundle/"),
        final.index("LABEL "),
    ]
    assert order == sorted(order)
    assert "ARG BASE_IMAGE=python:3.11-slim" in text
    assert "USER 10001:10001" in final
    assert "HEALTHCHECK" in final
    assert "curl" not in final.split("HEALTHCHECK", 1)[1]
    assert "--no-index" in text


class _FakeBundle:
    """The attributes plan_build reads (a real bundle needs a trained model)."""

    def __init__(self, root: Path) -> None:
        from types import SimpleNamespace

        (root / "SHA256SUMS").write_text("0" * 64 + "  model.pkl\n")
        self.path = root
        self.meta = SimpleNamespace(name="churn", data=SimpleNamespace(fingerprint="sha256:ff"))
        self.version = "0123456789ab"


def test_plan_build_labels_the_lineage(tmp_path: Path) -> None:
    plan = plan_build(
        _FakeBundle(tmp_path),  # type: ignore[arg-type]
        repository="ghcr.io/acme/churn",
        base_image="python:3.11-slim",
        revision="deadbeef",
        source_url="https://github.com/acme/churn",
        created="2026-01-01T00:00:00+00:00",
        python_version="3.11",
    )
    assert plan.image == "ghcr.io/acme/churn:deadbeef"
    assert plan.labels["org.opencontainers.image.revision"] == "deadbeef"
    assert plan.labels["org.opencontainers.image.source"] == "https://github.com/acme/churn"
    assert plan.labels["io.mlgate.data.fingerprint"] == "sha256:ff"
    assert plan.labels["io.mlgate.model.version"] == "0123456789ab"
    argv = build_argv(Engine("podman", "/usr/bin/podman"), plan, tmp_path)
    assert argv[argv.index("--format") + 1] == "docker"  # keeps HEALTHCHECK
    assert "BASE_IMAGE=python:3.11-slim" in argv
    assert "PYTHON_VERSION=3.11" in argv
    docker = build_argv(Engine("docker", "/usr/bin/docker"), plan, tmp_path)
    assert "--format" not in docker


def test_find_engine_refuses_unknown_names() -> None:
    with pytest.raises(UsageError, match="--engine"):
        find_engine("rkt")


def test_find_engine_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="podman or docker") as info:
        find_engine(path=str(tmp_path))
    assert "apt-get install -y podman" in str(info.value)


def test_build_without_an_engine_on_path_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing in it: no podman, no docker
    code = mlgate_main(["build", str(tmp_path / "models" / "model")])
    assert code == 3
    err = capsys.readouterr().err
    assert "no container engine" in err
    assert "install podman" in err


def test_push_without_an_engine_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert mlgate_main(["push", "registry.example:5000/churn:abc", "--json"]) == 3
    assert json.dumps("no container engine")[1:-1] in capsys.readouterr().err
