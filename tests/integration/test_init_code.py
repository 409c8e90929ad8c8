"""`mlgate init --code`: the team's model code scaffolded as the project's package, with a
custom transformer and its unit tests; the project's first `mlgate run` trains with it, and the
checks the generated workflow's test job runs (ruff, pytest) pass on what init wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlgate.cli import main

pytestmark = pytest.mark.integration


def _tool(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=root, capture_output=True, text=True, check=False
    )


def test_init_code_scaffolds_a_tested_package_that_the_first_run_trains_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "shop"
    assert main(["init", "--data", _table(tmp_path), "--target", "bought", str(root),
                 "--no-dvc", "--code"]) == 0  # fmt: skip
    package = root / "src" / "shop_model"
    assert {p.name for p in package.iterdir()} >= {"__init__.py", "features.py", "pipeline.py"}
    config = yaml.safe_load((root / "mlgate.yaml").read_text())
    assert config["model"]["pipeline"] == "shop_model.pipeline:build"
    assert "estimator" not in config["model"]
    workflow = (root / ".github" / "workflows" / "ci-cd.yml").read_text()
    assert "pytest -q tests" in workflow
    # What the workflow's test job runs, on the files as init wrote them.
    tests = _tool(root, "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    lint = _tool(root, "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout
    text = (root / "mlgate.yaml").read_text().replace("max_iter: 200", "max_iter: 30")
    (root / "mlgate.yaml").write_text(text)
    capsys.readouterr()
    assert main(["run", "--no-register", "--config", str(root)]) == 0, capsys.readouterr().err
    meta = json.loads((root / "models" / "model" / "mlgate.json").read_text())
    assert meta["code"]["package"] == "shop_model"
    assert "shop_model/features.py" in meta["code"]["files"]
    assert meta["params"]["max_iter"] == 30


def _table(tmp_path: Path) -> str:
    """A small table with text, numbers and a date, and a learnable target."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 600
    plan = rng.choice(["basic", "plus", "pro"], n)
    visits = rng.poisson(4, n).astype(float)
    frame = pd.DataFrame(
        {
            "plan": plan,
            "visits": visits,
            "first_seen": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 400, n), unit="D"),
            "bought": ((visits + (plan == "pro") * 3 + rng.normal(0, 1.5, n)) > 5).astype(int),
        }
    )
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_init_code_over_existing_code_is_refused_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "team"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_features.py").write_text("# the team's own\n")
    capsys.readouterr()
    code = main(["init", "--demo", str(root), "--rows", "300", "--no-dvc", "--code"])
    err = capsys.readouterr().err
    assert code == 2
    assert "tests/test_features.py already exist" in err
    assert sorted(p.name for p in root.iterdir()) == ["tests"]
    assert (root / "tests" / "test_features.py").read_text() == "# the team's own\n"
