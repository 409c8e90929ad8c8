"""The running environment holds exactly what uv.lock pins for this platform and Python.

`make setup` installs the lock with an exact `uv sync`; these tests prove that it did, and fail
when someone installs another version, or a package the lock does not list, by hand.
"""

from __future__ import annotations

import importlib.metadata
import re
import sysconfig
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker, default_environment
from packaging.version import Version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "mlgate"
# What `make setup` syncs.
EXTRAS = ("dev",)
# A venv's seed packages: `python -m venv` installs pip (scripts/bootstrap_uv.py uses it to
# install uv), and uv's exact sync leaves seed packages alone when the lock does not list them.
SEED = frozenset({"pip", "setuptools", "wheel"})
FIX = "`make -B setup` installs uv.lock exactly again (`make lock` first if pyproject.toml changed)"

Package = Mapping[str, Any]


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(
    lock: Mapping[str, Any], project: str, extras: Iterable[str], environment: dict[str, str]
) -> dict[str, str]:
    """Name -> version of every package the lock installs for `project[extras]` in `environment`.

    Walks the lock's dependency graph from the project, following only the edges whose marker
    holds in `environment` (a package the lock resolves twice, per Python version say, is told
    apart by the version each edge names).
    """
    by_name: dict[str, list[Package]] = {}
    for package in lock["package"]:
        by_name.setdefault(normalize(package["name"]), []).append(package)

    def target(dep: Package) -> Package:
        candidates = by_name[normalize(dep["name"])]
        if "version" in dep:
            candidates = [p for p in candidates if p["version"] == dep["version"]]
        assert len(candidates) == 1, f"uv.lock: cannot tell which {dep['name']} an edge means"
        return candidates[0]

    [root] = by_name[normalize(project)]
    todo: list[tuple[Package, str | None]] = [(root, None), *((root, e) for e in extras)]
    seen: set[tuple[str, str, str | None]] = set()
    versions: dict[str, str] = {}
    while todo:
        package, extra = todo.pop()
        name, version = normalize(package["name"]), str(package["version"])
        if (name, version, extra) in seen:
            continue
        seen.add((name, version, extra))
        if versions.setdefault(name, version) != version:
            raise AssertionError(f"uv.lock installs {name} {versions[name]} and {version} here")
        if extra is None:
            deps = package.get("dependencies", [])
        else:
            deps = package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            if "marker" in dep and not Marker(dep["marker"]).evaluate(environment):
                continue
            child = target(dep)
            todo.append((child, None))
            todo.extend((child, e) for e in dep.get("extra", []))
    return versions


def conflict_extra(project: str, extra: str) -> str:
    """How uv.lock's markers name an extra of `[tool.uv] conflicts`: the fork an edge is in
    (`extra == 'extra-6-mlgate-dev'`, the feast extra resolving apart from dev)."""
    return f"extra-{len(project)}-{project}-{extra}"


def this_environment() -> dict[str, str]:
    """The marker environment of the running interpreter, in the fork `make setup` installs."""
    environment = {key: str(value) for key, value in default_environment().items()}
    return {**environment, "extra": conflict_extra(PROJECT, EXTRAS[0])}


def installed_versions() -> dict[str, list[str]]:
    """Name -> versions of every distribution installed in the environment's site-packages
    (not what a package vendors and puts on sys.path at import: Ray's thirdparty_files)."""
    found: dict[str, list[str]] = {}
    paths = sysconfig.get_paths()
    site = sorted({paths["purelib"], paths["platlib"]})
    for dist in importlib.metadata.distributions(path=site):
        found.setdefault(normalize(dist.metadata["Name"]), []).append(dist.version)
    return found


@pytest.fixture(scope="module")
def locked() -> dict[str, str]:
    with (ROOT / "uv.lock").open("rb") as f:
        lock = tomllib.load(f)
    return locked_versions(lock, PROJECT, EXTRAS, this_environment())


def test_every_locked_package_is_installed_at_its_locked_version(locked: dict[str, str]) -> None:
    installed = installed_versions()
    wrong = {
        name: f"locked {version}, installed {', '.join(installed.get(name, [])) or 'nothing'}"
        for name, version in sorted(locked.items())
        if [Version(v) for v in installed.get(name, [])] != [Version(version)]
    }
    assert not wrong, f"the environment is not uv.lock: {wrong}; {FIX}"


def test_nothing_is_installed_that_the_lock_does_not_list(locked: dict[str, str]) -> None:
    extra = sorted(set(installed_versions()) - set(locked) - SEED)
    assert not extra, f"installed but not in uv.lock: {extra}; declare and `make lock`, or {FIX}"


def test_the_project_and_uv_are_in_the_lock(locked: dict[str, str]) -> None:
    # uv must stay in the lock: the exact sync would remove the uv that `make setup` bootstraps.
    assert PROJECT in locked
    assert "uv" in locked


# The walk itself, on a lock small enough to read: markers, per-Python forks, extras.
TOY_LOCK: dict[str, Any] = {
    "package": [
        {
            "name": "app",
            "version": "1.0",
            "dependencies": [
                {"name": "Num_Py", "version": "1.0", "marker": "python_full_version < '3.12'"},
                {"name": "num-py", "version": "2.0", "marker": "python_full_version >= '3.12'"},
                {"name": "colorama", "marker": "sys_platform == 'win32'"},
            ],
            "optional-dependencies": {"dev": [{"name": "server", "extra": ["fast"]}]},
        },
        {"name": "num-py", "version": "1.0"},
        {"name": "num-py", "version": "2.0"},
        {"name": "colorama", "version": "0.4"},
        {
            "name": "server",
            "version": "3.0",
            "optional-dependencies": {"fast": [{"name": "uvloop"}], "slow": [{"name": "twisted"}]},
        },
        {"name": "uvloop", "version": "0.2"},
        {"name": "twisted", "version": "24.0"},
    ]
}


@pytest.mark.parametrize(("python", "numpy"), [("3.11.7", "1.0"), ("3.13.0", "2.0")])
def test_the_walk_follows_only_edges_whose_marker_holds(python: str, numpy: str) -> None:
    env = {**this_environment(), "python_full_version": python, "sys_platform": "linux"}
    assert locked_versions(TOY_LOCK, "app", [], env) == {"app": "1.0", "num-py": numpy}


def test_the_walk_follows_requested_extras_only() -> None:
    env = {**this_environment(), "python_full_version": "3.11.7", "sys_platform": "win32"}
    assert locked_versions(TOY_LOCK, "app", ["dev"], env) == {
        "app": "1.0",
        "num-py": "1.0",
        "colorama": "0.4",
        "server": "3.0",
        "uvloop": "0.2",
    }
