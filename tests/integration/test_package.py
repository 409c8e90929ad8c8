"""The package as its users get it: `uv build` makes an sdist and, from it, a wheel; the wheel
installs into a clean venv and works there; the release workflow publishes exactly that."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UV = str(BIN / "uv")
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def declared_version() -> str:
    """The version pyproject.toml declares (the one place it is written)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        version: str = tomllib.load(f)["project"]["version"]
    return version


def uv(*args: str, env: dict[str, str] | None = None) -> str:
    """Run uv, never with a Python of its own download; its output, or the failure shown."""
    base = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    proc = subprocess.run(
        [UV, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**base, "UV_PYTHON_DOWNLOADS": "never", **(env or {})},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, then the wheel built from that sdist (not from the checkout)."""
    out = tmp_path_factory.mktemp("dist")
    uv("build", "--sdist", "--out-dir", str(out), str(ROOT))
    (sdist,) = out.glob("*.tar.gz")
    uv("build", "--wheel", "--out-dir", str(out), str(sdist))
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with the wheel and every extra installed, at the versions uv.lock pins."""
    work = tmp_path_factory.mktemp("venv")
    constraints = work / "constraints.txt"
    export = ["export", "--project", str(ROOT), "--frozen", "--format", "requirements-txt"]
    uv(*export, "--no-hashes", "--no-emit-project", "--extra", "all", "-q", "-o", str(constraints))
    env = work / "clean"
    uv("venv", "-q", "--python", sys.executable, str(env))
    (wheel,) = dist.glob("*.whl")
    requirement = f"mlgate[all] @ {wheel.as_uri()}"
    uv("pip", "install", "-q", "--constraint", str(constraints), requirement,
       env={"VIRTUAL_ENV": str(env)})  # fmt: skip
    return env


def test_both_distributions_carry_the_declared_version(dist: Path) -> None:
    version = declared_version()
    # uv also writes a .gitignore there.
    assert sorted(p.name for p in dist.iterdir() if p.name != ".gitignore") == [
        f"mlgate-{version}-py3-none-any.whl",
        f"mlgate-{version}.tar.gz",
    ]


def test_the_sdist_holds_the_source_readme_and_pyproject_only(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "PKG-INFO", "src/mlgate/__init__.py"} <= names
    assert {"src/mlgate/api.py", "src/mlgate/__init__.pyi", "src/mlgate/py.typed"} <= names
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"src", "README.md", "pyproject.toml", "PKG-INFO", ".gitignore"}


def test_the_wheel_holds_the_package_and_no_tests_or_benchmarks(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"mlgate", f"mlgate-{declared_version()}.dist-info"}
    assert {"mlgate/api.py", "mlgate/__init__.pyi", "mlgate/py.typed"} <= set(names)
    # The workflow templates `mlgate init` renders.
    assert any(n.startswith("mlgate/templates/") and n.endswith(".yml") for n in names)


def test_the_installed_command_reports_the_declared_version(venv: Path) -> None:
    out = subprocess.run(
        [venv / "bin" / "mlgate", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"mlgate {declared_version()}"


def test_the_api_imports_from_the_clean_venv(venv: Path) -> None:
    probe = "import mlgate; print(mlgate.open_project.__module__, mlgate.__file__)"
    out = subprocess.run(
        [venv / "bin" / "python", "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    module, where = out.split()
    assert module == "mlgate.api"
    assert Path(where).is_relative_to(venv)


def test_the_installed_package_makes_and_validates_a_project(venv: Path, tmp_path: Path) -> None:
    mlgate = str(venv / "bin" / "mlgate")
    project = tmp_path / "demo"
    for argv in (
        [mlgate, "init", "--demo", str(project), "--rows", "400", "--no-dvc"],
        [mlgate, "validate", "--config", str(project / "mlgate.yaml")],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / ".github" / "workflows" / "ci-cd.yml").is_file()


def release() -> dict[Any, Any]:
    """The release workflow, parsed."""
    data: dict[Any, Any] = yaml.safe_load(RELEASE.read_text())
    return data


def test_the_release_runs_on_version_tags_and_publishes_with_trusted_publishing() -> None:
    wf = release()
    assert wf[True] == {"push": {"tags": ["v*"]}}  # YAML 1.1 reads the key `on` as a boolean
    assert wf["permissions"] == {}
    build, publish = wf["jobs"]["build"], wf["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    runs = " ".join(step.get("run", "") for step in build["steps"])
    assert "scripts/bootstrap_uv.py .venv uv.lock" in runs
    assert "uv build --out-dir dist" in runs
    assert '"$TAG" != "v$version"' in runs
    assert publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}
    uses = [step["uses"].split("@")[0] for step in publish["steps"]]
    assert uses == ["actions/download-artifact", "pypa/gh-action-pypi-publish"]
    # No token: trusted publishing needs none, and a stored one could leak.
    assert "password" not in str(publish["steps"])


def test_every_release_action_is_pinned_by_commit_sha_with_its_tag_noted() -> None:
    uses = re.findall(r"uses: (\S+)(.*)", RELEASE.read_text())
    assert len(uses) == 5
    for ref, rest in uses:
        assert PINNED.match(ref), ref
        assert re.match(r"\s+# v\d+\.\d+\.\d+$", rest), f"{ref}: note the tag"


def test_the_release_workflow_is_schema_valid_and_zizmor_clean() -> None:
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         str(RELEASE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audit = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--min-severity", "low", "--format", "json",
         str(RELEASE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    findings = json.loads(audit.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:3000]
