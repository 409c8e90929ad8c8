"""mlgate: CI/CD and continuous training for machine-learning models.

The public Python API (`mlgate.api`, re-exported here): open a project, run its pipeline, gate,
register, promote, roll back, monitor. Every CLI start imports this package, so the API loads
on the first use of one of its names (PEP 562): `import mlgate` imports no pydantic, pandas,
scikit-learn, NumPy or MLflow. Type checkers and IDEs read the names' types from
`__init__.pyi` (a stub, not a TYPE_CHECKING import here, which the import contracts would count
as every `import mlgate` depending on the whole API).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AlertTargets",
    "BuildOptions",
    "BuildResult",
    "CiEnv",
    "GateReport",
    "InitResult",
    "MonitorOptions",
    "MonitorOutcome",
    "Progress",
    "Project",
    "RunResult",
    "StageResult",
    "ValidationReport",
    "VersionInfo",
    "build",
    "gate",
    "init",
    "monitor",
    "open_project",
    "promote",
    "register",
    "report",
    "rollback",
    "run",
    "validate",
    "versions",
]

# The distribution, whose metadata holds the version (written once, in pyproject.toml).
_DISTRIBUTION = "mlgate"


def __getattr__(name: str) -> Any:
    """`__version__` and the API's names, each imported on first use."""
    if name == "__version__":
        # Read on first use, not at import: importing mlgate reads no files, and the
        # metadata module costs tens of milliseconds that only the version's users pay.
        from importlib.metadata import version

        globals()[name] = value = version(_DISTRIBUTION)
        return value
    if name in __all__:
        value = getattr(importlib.import_module("mlgate.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """What `dir(mlgate)` and completion show: the API's names before they are loaded."""
    return sorted({*globals(), *__all__, "__version__"})
