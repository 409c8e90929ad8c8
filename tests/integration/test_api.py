"""The Python API on a real demo project: the README's example runs as written, and verdicts are
values, not exceptions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mlgate
from mlgate.store import demo

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The first Python code block of the README's "Python API" section."""
    section = README.read_text().split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "README.md: no ```python block in the Python API section"
    return found.group(1)


def test_the_readme_example_runs_and_registers_what_it_prints(
    demo_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The project's embedded registry, whatever the machine points MLflow at.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(demo_project.parent)
    exec(compile(readme_example(), "README.md", "exec"), {"__name__": "readme"})
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [
        ["validate", "passed"],
        ["train", "passed"],
        ["gate", "passed"],
        ["register", "passed"],
    ]
    project = mlgate.open_project(demo_project)
    name = project.config.name
    assert lines[4] == f"registered {name} v1 (challenger)"
    (version,) = mlgate.versions(project)
    assert (version.version, version.aliases) == (1, ("challenger",))
    champion = mlgate.promote(project, reason="first release", actor="test")
    assert champion.version == 1
    assert "champion" in champion.aliases


def test_a_failed_data_gate_is_a_verdict_not_an_exception(demo_project: Path) -> None:
    project = mlgate.open_project(demo_project / "mlgate.yaml")
    drifted = demo.write_csv(demo_project / "drifted.csv", 3000, seed=11, drift=True)
    report = mlgate.validate(project, drifted)
    assert not report.passed
    assert report.drift.drifted_columns
    assert mlgate.validate(project).passed
