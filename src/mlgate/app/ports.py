"""The outside systems the use cases drive, each behind a small protocol, so that a use case is
tested against a fake and runs against the real adapter:

    ContainerEngine   podman or docker: `adapters.container.engine.Engine`
    DataVersioning    DVC in the project's git repository: the module `adapters.dvc`
    Workflows         GitHub Actions' workflow files: the module `adapters.github`

The release controller's own ports (traffic splitter, observer, processes) are in
`app.rollout.ports`; the registry's protocol is `adapters.mlflow.types.Registry`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from mlgate.adapters.dvc import DvcInit


class ContainerEngine(Protocol):
    """What building, smoke-testing and running an image needs of a container engine."""

    @property
    def name(self) -> str:
        """`podman` or `docker`: the few flags that differ depend on it."""
        ...

    def run(
        self,
        args: Sequence[str],
        *,
        what: str,
        timeout: float | None = None,
        capture: bool = True,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run one engine command; with `check`, a failure is an InfraError naming `what`."""
        ...

    def inspect_image(self, ref: str) -> dict[str, Any]:
        """The image's inspect record (Id, Size, Config...)."""
        ...

    def container_state(self, container: str) -> dict[str, Any]:
        """The container's State record (Running, ExitCode...)."""
        ...

    def logs(self, container: str, tail: int = 40) -> str:
        """The last `tail` lines the container wrote."""
        ...

    def remove(self, container: str, *, timeout_s: float = 30.0) -> None:
        """Stop and remove the container."""
        ...


class DataVersioning(Protocol):
    """Tracking a project's data in its git repository."""

    def git_toplevel(self, root: Path) -> Path:
        """The repository holding `root`; a UsageError when there is none."""
        ...

    def git_ignored(self, path: Path) -> bool:
        """Whether git ignores `path`."""
        ...

    def init_dvc(self, project_root: Path, remote: str | None = None, *, commit: bool) -> DvcInit:
        """Track the project's data (and write its pipeline stages) with `remote` as storage."""
        ...


class Workflows(Protocol):
    """The CI workflow files of a project."""

    def write_workflows(
        self, root: Path, *, force: bool = False, feast_repo: str | None = None
    ) -> list[Path]:
        """Write them under `root`; existing ones are a UsageError unless `force`
        (`feast_repo`: the project trains from that Feast repository)."""
        ...
