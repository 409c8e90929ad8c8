"""The public API: `import mlgate` stays light, and every exported name resolves, typed by the
stub, to the object in `mlgate.api`."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import mlgate
from mlgate import api
from mlgate.errors import ConfigError, UsageError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
STUB = ROOT / "src" / "mlgate" / "__init__.pyi"
# What no CLI start may pay for; importlib.metadata means a file was read at import.
HEAVY = ("pydantic", "pandas", "sklearn", "numpy", "mlflow", "fastapi", "importlib.metadata")


def test_import_mlgate_imports_nothing_heavy_and_reads_no_metadata() -> None:
    probe = f"import sys, mlgate\nprint([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_first_use_of_a_name_loads_the_api() -> None:
    probe = (
        "import sys, mlgate\nbefore = 'mlgate.api' in sys.modules\nmlgate.open_project\n"
        "print(before, 'mlgate.api' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]


@pytest.mark.parametrize("name", mlgate.__all__)
def test_every_exported_name_is_the_api_object(name: str) -> None:
    assert getattr(mlgate, name) is getattr(api, name)


def test_the_package_the_api_and_the_stub_export_the_same_names() -> None:
    tree = ast.parse(STUB.read_text())
    star = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        and node.module == "mlgate.api"
        and [a.name for a in node.names] == ["*"]
    ]
    reexported = [
        alias
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "mlgate.api"
        for alias in node.names
        if alias.name == "__all__" and alias.asname == "__all__"
    ]
    assert star, "the stub re-exports every name of mlgate.api"
    assert reexported, "the stub's __all__ is mlgate.api's"
    assert sorted(mlgate.__all__) == sorted(api.__all__)
    assert len(set(mlgate.__all__)) == len(mlgate.__all__)


def test_dir_lists_the_api_before_it_is_loaded() -> None:
    assert {"open_project", "run", "RunResult", "__version__"} <= set(dir(mlgate))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'opne_project'"):
        _ = mlgate.opne_project  # type: ignore[attr-defined]


def test_the_version_is_the_one_pyproject_declares() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        declared = tomllib.load(f)["project"]["version"]
    assert mlgate.__version__ == declared


def test_open_project_without_a_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        mlgate.open_project(tmp_path)


def test_init_refuses_an_unknown_role_before_writing(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match="'a=bogus'"):
        mlgate.init(tmp_path / "project", data=data, target="b", roles={"a": "bogus"})
    assert not (tmp_path / "project").exists()
