"""Lineage recorded in every bundle: where the code came from and what it ran on."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import mlgate
from mlgate.core.ci import NO_CI, CiEnv
from mlgate.store.bundle import GitInfo


def git_output(root: Path, *args: str) -> str | None:
    """`git ARGS` run in `root`: its stripped output, or None (no git, not a repo, an error)."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(root: Path, ci: CiEnv = NO_CI) -> GitInfo:
    """The commit, branch and dirty flag of the repository holding the project, if any; the
    CI runner's commit and branch where the checkout has no git metadata."""
    commit = git_output(root, "rev-parse", "HEAD") or ci.sha
    branch = git_output(root, "rev-parse", "--abbrev-ref", "HEAD") or ci.ref_name
    status = git_output(root, "status", "--porcelain", "--untracked-files=no")
    return GitInfo(commit=commit, branch=branch, dirty=None if status is None else bool(status))


# The libraries recorded: the model's own (the boosting libraries when installed; XGBoost's
# CPU-only wheel is its own distribution) and those that write and read the bundle.
LIBRARIES = (
    "scikit-learn",
    "numpy",
    "pandas",
    "skops",
    "mlflow",
    "skl2onnx",
    "onnxruntime",
    "lightgbm",
    "xgboost",
    "xgboost-cpu",
    "catboost",
    "onnxmltools",
)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a bundle depends on."""
    out = {"python": platform.python_version(), "mlgate": mlgate.__version__}
    for dist in LIBRARIES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return repr(value)
