"""The hermetic build context: Dockerfile, requirements, wheels built on the host, the bundle.

The image build never reaches a package index: every wheel it installs is fetched or built here
by the host's pip (which has the network, the cache and the credentials) and installed in the
image with `pip install --no-index`. What the image installs is exactly:
    mlgate[serve] (this mlgate)   the server
    scikit-learn, numpy, pandas,  pinned to the versions that trained the bundle (a model file
    skops                         is only read right by the library versions that wrote it)
    onnxruntime                   pinned likewise, only when the bundle carries model.onnx
    the project's package         a wheel of the code the model was trained with
                                  (`model.pipeline`), and its declared dependencies, pinned
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import mlgate
from mlgate.app.image.codewheel import build_code_wheel
from mlgate.errors import InfraError
from mlgate.store.bundle import SUMS_FILE, Bundle
from mlgate.store.code import check_code
from mlgate.store.signing import SIGNATURE_FILE

DOCKERFILE = "Dockerfile"
LOCK = "requirements.lock"
WHEELS = "wheels"
APP_WHEEL = "mlgate"
BUNDLE = "bundle"
# Libraries the model itself needs at serve time, pinned from the bundle's lineage.
MODEL_LIBRARIES = ("scikit-learn", "numpy", "pandas", "skops")
PIP_TIMEOUT_S = 900.0
# The distributions of a boosting library's module, first found in the lineage wins (XGBoost's
# CPU-only wheel is a distribution of its own). LightGBM also needs the base image to have
# libgomp1 (docs/image.md).
BOOSTING_DISTS = {
    "lightgbm": ("lightgbm",),
    "xgboost": ("xgboost-cpu", "xgboost"),
    "catboost": ("catboost",),
}


def dockerfile_text() -> str:
    """The serving Dockerfile (static: everything that varies is a build argument)."""
    return resources.files("mlgate").joinpath("templates", DOCKERFILE).read_text(encoding="utf-8")


def serving_requirements(bundle: Bundle) -> tuple[str, ...]:
    """The requirement lines the image installs for this bundle."""
    libs = bundle.meta.libraries
    lines = [f"mlgate[serve]=={mlgate.__version__}"]
    lines += [f"{dist}=={libs[dist]}" for dist in MODEL_LIBRARIES if dist in libs]
    if bundle.onnx_path is not None and "onnxruntime" in libs:
        lines.append(f"onnxruntime=={libs['onnxruntime']}")
    if bundle.onnx_path is None:  # served by scikit-learn: the boosting library too, if any
        wanted = BOOSTING_DISTS.get(bundle.meta.estimator.split(".")[0], ())
        lines += [f"{dist}=={libs[dist]}" for dist in wanted if dist in libs][:1]
    code = bundle.meta.code
    if code is not None:  # the project's declared dependencies, at their training versions
        named = {line.split("==")[0].lower().replace("_", "-") for line in lines}
        lines += [
            f"{dist}=={version}"
            for dist, version in sorted(code.requires.items())
            if dist.lower().replace("_", "-") not in named
        ]
    return tuple(lines)


def project_source() -> Path | None:
    """The source tree of the running mlgate when it is a checkout (editable install), else None.

    From a checkout the wheel is built from the code that runs here; an installed release is
    fetched from the index instead, by its version.
    """
    root = Path(mlgate.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "mlgate"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


@dataclass(frozen=True)
class Context:
    """An assembled build context directory."""

    root: Path
    requirements: tuple[str, ...]
    wheels: tuple[str, ...]


def _pip(args: list[str], what: str) -> None:
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise InfraError(f"{what}: pip did not finish in {PIP_TIMEOUT_S:.0f}s") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise InfraError(
            f"{what} failed (pip exit {proc.returncode}):\n{tail}",
            hint="the host's pip fetches the image's wheels: check its index/network settings",
        )


def _lock_line(wheel: str) -> str:
    # A wheel's file name starts `{name}-{version}-`, with the name already normalised.
    name, version = wheel.split("-")[:2]
    return f"{name}=={version}"


def build_wheels(root: Path, requirements: tuple[str, ...]) -> tuple[str, ...]:
    """Put mlgate's wheel in `root/mlgate` and a wheel of every dependency in `root/wheels`.

    Wheels only (`--only-binary=:all:`): the image has no compiler and must not need one.
    Writes `root/requirements.lock`, the exact set, which the image installs.
    """
    own, deps = root / APP_WHEEL, root / WHEELS
    own.mkdir(parents=True, exist_ok=True)
    deps.mkdir(parents=True, exist_ok=True)
    source = project_source()
    if source is not None:
        _pip(
            ["wheel", "--quiet", "--no-deps", "--wheel-dir", str(own), str(source)],
            "building mlgate's wheel",
        )
    else:
        _pip(
            ["download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(own),
             f"mlgate=={mlgate.__version__}"],
            "downloading mlgate's wheel",
        )  # fmt: skip
    req_file = root / ".requirements.in"
    req_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    # --find-links: mlgate resolves to its wheel above, its dependencies to the index or cache.
    _pip(
        ["download", "--quiet", "--only-binary=:all:", "--dest", str(deps),
         "--find-links", str(own), "--requirement", str(req_file)],
        "downloading the serving dependencies",
    )  # fmt: skip
    req_file.unlink()
    for copy in deps.glob("mlgate-*.whl"):
        copy.unlink()
    wheels = tuple(sorted(p.name for p in deps.glob("*.whl")))
    lock = "".join(f"{_lock_line(w)}\n" for w in wheels)
    (root / LOCK).write_text(lock, encoding="utf-8")
    return wheels


def assemble(bundle: Bundle, root: Path) -> Context:
    """Write the whole build context for `bundle` into the empty directory `root`."""
    root.mkdir(parents=True, exist_ok=True)
    requirements = serving_requirements(bundle)
    wheels = build_wheels(root, requirements)
    if bundle.meta.code is not None:
        # Beside mlgate's own wheel, installed the same way: the code the model was trained
        # with, checked against mlgate.json before it is copied (a mismatch refuses the build).
        source = check_code(bundle.meta.code, bundle.trust.code_root)
        build_code_wheel(bundle.meta.code, source, root / APP_WHEEL)
    (root / DOCKERFILE).write_text(dockerfile_text(), encoding="utf-8")
    # A copy of the verified bytes, file by file, not a link: the engine must see exactly what
    # was checked (each file is re-hashed as it is read).
    dest = root / BUNDLE
    for rel in sorted(bundle.digests):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(bundle.read(rel))
    for extra in (SUMS_FILE, SIGNATURE_FILE):
        if (bundle.path / extra).is_file():
            shutil.copyfile(bundle.path / extra, dest / extra)
    return Context(root=root, requirements=requirements, wheels=wheels)
