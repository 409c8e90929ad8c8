"""Deploying a shipped image: reviewable Kubernetes manifests (`kubernetes.py`)."""

from __future__ import annotations

from pathlib import Path

from mlgate.deploy.kubernetes import ManifestOptions, write_manifests
from mlgate.errors import UsageError

TARGETS = ("kubernetes",)


def deploy(target: str, options: ManifestOptions, out: Path) -> list[Path]:
    """`mlgate deploy`: write what `target` runs the image with into `out`."""
    if target not in TARGETS:
        raise UsageError(f"--target {target!r}: choose one of {', '.join(TARGETS)}")
    return write_manifests(options, out)
