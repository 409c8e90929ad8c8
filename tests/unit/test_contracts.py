"""The import contracts bite: each forbidden import, added to a copy of the tree, breaks them.

Runs the real import-linter over a copy of src/ with one line added, so a contract that stops
encoding the layering (a layer joined with `:`, a sibling left out) turns this test red.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (module file, import added, the contract that must break)
MUTATIONS = [
    # a lower layer reaching up
    ("core/drift.py", "import mlgate.app.pipeline", "cli -> app -> adapters"),
    ("model/features.py", "import mlgate.store.bundle", "cli -> app -> adapters"),
    # the server reaching into the release machinery or an adapter
    ("serve/drift.py", "import mlgate.app.rollout.state", "cli -> app -> adapters"),
    ("serve/drift.py", "import mlgate.adapters.container.engine", "cli -> app -> adapters"),
    # one adapter reaching into another
    ("adapters/dvc.py", "import mlgate.adapters.mlflow.uri", "each adapter stands alone"),
    ("adapters/nginx.py", "import mlgate.adapters.prometheus.query", "each adapter stands alone"),
    # the core doing I/O
    ("core/gates.py", "import subprocess", "the core does no I/O"),
    # the serving path importing MLflow
    ("store/bundle.py", "import mlflow", "the server needs no MLflow"),
]


def _tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / ".importlinter"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _add_import(module: Path, line: str) -> None:
    text = module.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    assert sep, f"{module} has no __future__ import to add after"
    module.write_text(f"{head}{sep}{line}\n{rest}")


def test_the_tree_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    done = _lint(_tree(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("module", "line", "contract"), MUTATIONS)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = _tree(tmp_path)
    _add_import(tree / "src" / "mlgate" / module, line)
    done = _lint(tree)
    assert done.returncode != 0, f"adding `{line}` to {module} broke no contract"
    broken = done.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, done.stdout
