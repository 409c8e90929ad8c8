"""`mlgate run` with `model.params` as a team writes them: class weights keyed by class in YAML
(int keys) and in JSON (str keys) train and are recorded as written; a key that is no class and
a value the estimator refuses are exit 2 naming the key, with nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.cli import main
from mlgate.store.project import load_project

pytestmark = pytest.mark.integration

Edit = Callable[[Path, str, str], None]


def _run(project: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["run", "--no-register", "--config", str(project)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _lean(project: Path, edit: Edit, params: str, n_jobs: int = 1) -> None:
    edit(project, "    n_estimators: 100\n", f"    n_estimators: 30\n{params}")
    edit(project, "    n_jobs: -1\n", f"    n_jobs: {n_jobs}\n")


@pytest.mark.parametrize("written", ["{0: 1, 1: 8}", '{"0": 1, "1": 8}'], ids=["yaml", "json"])
def test_class_weights_keyed_by_class_train_and_are_recorded_as_written(
    written: str, demo_project: Path, edit_config: Edit, capsys: pytest.CaptureFixture[str]
) -> None:
    _lean(demo_project, edit_config, f"    class_weight: {written}\n", n_jobs=2)
    code, out, err = _run(demo_project, capsys)
    assert code == 0, err
    assert "PASSED: churn" in out
    meta = json.loads((demo_project / "models" / "model" / "mlgate.json").read_text())
    # Both spellings name the classes 0 and 1; lineage keeps them as JSON writes them.
    assert meta["params"]["class_weight"] == {"0": 1, "1": 8}
    assert meta["params"]["n_estimators"] == 30
    # Fitted with two jobs as written (the model kept predicts with one).
    assert meta["params"]["n_jobs"] == 2


def test_both_spellings_make_the_same_config_hash(demo_project: Path, edit_config: Edit) -> None:
    _lean(demo_project, edit_config, "    class_weight: {0: 1, 1: 8}\n")
    yaml_keys = load_project(demo_project).config
    edit_config(demo_project, "class_weight: {0: 1, 1: 8}", 'class_weight: {"0": 1, "1": 8}')
    json_keys = load_project(demo_project).config
    assert yaml_keys.model.params != json_keys.model.params  # as written
    assert yaml_keys.digest() == json_keys.digest()


@pytest.mark.parametrize(
    ("params", "needles"),
    [
        (
            "    class_weight: {0: 1, 2: 8}\n",
            ["model.params.class_weight: key 2 is no class of 'churned'", "(classes: 0, 1)"],
        ),
        (
            "    class_weight: {0: 1, 1: eight}\n",
            ["model.params.class_weight: RandomForestClassifier rejects {0: 1, 1: 'eight'}"],
        ),
        (
            "    max_features: most\n",
            [
                "model.params.max_features: RandomForestClassifier rejects 'most'",
                "The 'max_features' parameter of RandomForestClassifier must be",
            ],
        ),
    ],
    ids=["no-class", "not-a-number", "not-a-choice"],
)
def test_a_bad_value_is_exit_2_naming_the_key_and_writes_no_model(
    params: str,
    needles: list[str],
    demo_project: Path,
    edit_config: Edit,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _lean(demo_project, edit_config, params)
    code, _out, err = _run(demo_project, capsys)
    assert code == 2, err
    for needle in needles:
        assert needle in err
    assert "Traceback" not in err
    assert not (demo_project / "models" / "model").exists()
