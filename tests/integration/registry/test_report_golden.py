"""`mlgate report` for a passing and a failing run, compared with golden files by structure.

The goldens (tests/golden/report_*.md) were produced by this test and read by eye once.
Numbers, hashes and timestamps are masked before comparing, so the test pins the layout,
the sections, the rows and every verdict, not values that move with library versions.
Regenerate with MLGATE_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.integration.registry.conftest import Cli
from tests.integration.registry.test_release_flow import WORSE_MODEL

pytestmark = [
    pytest.mark.integration,
    # SQLAlchemy 2.1 deprecates a loader strategy MLflow's store still configures at import.
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
    ),
]

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{12,64}\b"), "<hex>"),
    (re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?"), "<n>"),
)


def skeleton(markdown: str) -> list[str]:
    """The report with values masked: what the golden comparison is about."""
    lines = []
    for line in markdown.splitlines():
        for pattern, token in _MASKS:
            line = pattern.sub(token, line)
        lines.append(line)
    return lines


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MLGATE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert skeleton(text) == skeleton(path.read_text())


@pytest.fixture
def project(registry_demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(registry_demo_template, root)
    path = root / "mlgate.yaml"
    text = path.read_text().replace("n_estimators: 100", "n_estimators: 40")
    path.write_text(text.replace("n_jobs: -1", "n_jobs: 1"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root


def test_report_for_a_passing_and_a_failing_run(project: Path, mlgate: Cli) -> None:
    config = str(project / "mlgate.yaml")
    assert mlgate("run", "--config", config).code == 0
    assert mlgate("promote", "--config", config).code == 0
    assert mlgate("run", "--config", config).code == 0
    passing = mlgate("report", "--config", config)
    assert passing.code == 0, passing.err
    assert passing.out.startswith("<!-- mlgate-report:churn -->\n")
    assert "passed every gate" in passing.out
    _check("report_pass.md", passing.out)

    path = project / "mlgate.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("model:\n")] + WORSE_MODEL + text[text.index("\nsplit:") :])
    assert mlgate("run", "--config", config).code == 1
    out_file = project / "pr-comment.md"
    failing = mlgate("report", "--out", str(out_file), "--config", config)
    assert failing.code == 0, failing.err
    text = out_file.read_text()
    assert text.startswith("<!-- mlgate-report:churn -->\n")
    assert "**Failed:**" in text
    _check("report_fail.md", text)
