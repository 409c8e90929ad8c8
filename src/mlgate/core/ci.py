"""What the CI runner says about the code being built (GitHub Actions' `GITHUB_*` variables),
read once at the edge (the CLI, the Python API) and passed to the use cases that record it:
the lineage's commit and branch when the checkout has no git metadata, and the image's
revision and source labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CiEnv:
    """The runner's view of the build; every field None outside CI."""

    sha: str | None = None
    ref_name: str | None = None
    actor: str | None = None
    server_url: str | None = None
    repository: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CiEnv:
        """The fields GitHub Actions sets in `environ` (empty values count as unset)."""
        return cls(
            sha=environ.get("GITHUB_SHA") or None,
            ref_name=environ.get("GITHUB_REF_NAME") or None,
            actor=environ.get("GITHUB_ACTOR") or None,
            server_url=environ.get("GITHUB_SERVER_URL") or None,
            repository=environ.get("GITHUB_REPOSITORY") or None,
        )

    @property
    def repository_url(self) -> str | None:
        """`https://github.com/OWNER/REPO` when the runner names both parts."""
        if self.server_url and self.repository:
            return f"{self.server_url.rstrip('/')}/{self.repository}"
        return None


NO_CI = CiEnv()
