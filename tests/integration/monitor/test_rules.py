"""Prometheus's own checker accepts the alert rules `mlgate deploy` writes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlgate.adapters.prometheus.rules import RULE_FILE
from mlgate.app.kubernetes.target import ManifestOptions, write_manifests

pytestmark = pytest.mark.integration


def test_promtool_accepts_the_rule_file(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus) is installed by scripts/setup-system.sh"
    write_manifests(ManifestOptions(image="ghcr.io/acme/churn@sha256:" + "ab" * 32), tmp_path)
    proc = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "prometheus" / RULE_FILE)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 8 rules found" in proc.stdout
