"""`mlgate init --code`: the team's own model code, scaffolded as the project's package.

Writes `src/PACKAGE/` (a custom transformer in features.py, the Pipeline in pipeline.py),
`tests/` (test_features.py: its unit tests, which the generated workflow's test job runs) and a
`pyproject.toml` declaring the package and its dependencies; `model.pipeline` in mlgate.yaml
then names `PACKAGE.pipeline:build`. Existing files are never overwritten.
"""

from __future__ import annotations

import keyword
import re
from importlib import resources
from pathlib import Path

from mlgate.core.vocab import Task
from mlgate.errors import UsageError
from mlgate.store import atomic

# Template -> where it goes; PACKAGE is replaced by the package's name.
_FILES = {
    "init.py.tmpl": ("src", "PACKAGE", "__init__.py"),
    "features.py.tmpl": ("src", "PACKAGE", "features.py"),
    "pipeline.py.tmpl": ("src", "PACKAGE", "pipeline.py"),
    "test_features.py.tmpl": ("tests", "test_features.py"),
    "pyproject.toml.tmpl": ("pyproject.toml",),
}


def package_name(model_name: str) -> str:
    """A Python package name for the model's code: `churn` -> `churn_model`."""
    base = re.sub(r"[^a-z0-9]+", "_", model_name.lower()).strip("_") or "team"
    if base[0].isdigit():
        base = "m_" + base
    name = f"{base}_model"
    return name if not keyword.iskeyword(name) else f"{name}_"


def pipeline_ref(package: str) -> str:
    """What `model.pipeline` names for the scaffolded package."""
    return f"{package}.pipeline:build"


def _targets(root: Path, package: str) -> dict[str, Path]:
    return {
        tmpl: root.joinpath(*(package if part == "PACKAGE" else part for part in parts))
        for tmpl, parts in _FILES.items()
    }


def check_free(root: Path, package: str) -> None:
    """A UsageError naming the files `write_code` would overwrite, if any."""
    present = [str(p.relative_to(root)) for p in _targets(root, package).values() if p.exists()]
    if present:
        raise UsageError(
            f"--code: {', '.join(present)} already exist(s) in {root}",
            hint="keep your code and name it in model.pipeline yourself, or init without --code",
        )


def write_code(root: Path, name: str, package: str, task: Task) -> list[Path]:
    """Write the package, its tests and pyproject.toml under `root` (none of them may exist:
    `check_free` first)."""
    check_free(root, package)
    targets = _targets(root, package)
    estimator = (
        "HistGradientBoostingRegressor"
        if task == "regression"
        else "HistGradientBoostingClassifier"
    )
    values = {"@@PACKAGE@@": package, "@@NAME@@": name, "@@ESTIMATOR@@": estimator}
    written: list[Path] = []
    templates = resources.files("mlgate").joinpath("templates", "code")
    for tmpl, dest in targets.items():
        text = templates.joinpath(tmpl).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        dest.parent.mkdir(parents=True, exist_ok=True)
        written.append(atomic.write_text(dest, text))
    return written
