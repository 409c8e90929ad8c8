"""`model.command`: placeholders are checked when the config loads, and each one stands for
exactly one argument when the command is expanded (no shell ever sees it)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from mlgate.core.command import check_command, expand
from mlgate.core.modelconfig import ModelConfig

pytestmark = pytest.mark.unit

COMMAND = "python train.py --train {train} --target {target} --out {out}"


def test_a_placeholder_is_one_argument_whatever_its_value_holds() -> None:
    values = {"train": "/tmp/a b/train.parquet", "target": "churned; rm -rf /", "out": "/o"}
    argv = expand("python 'my train.py' --train={train} --target {target} --out {out}", values)
    assert argv == [
        "python",
        "my train.py",
        "--train=/tmp/a b/train.parquet",
        "--target",
        "churned; rm -rf /",
        "--out",
        "/o",
    ]


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ("python t.py --train {train} --test {holdout} --out {out}", "{holdout}"),
        ("python t.py --train {train}", "lacks {out}"),
        ("python t.py --out {out}", "lacks {train}"),
        ("python 't.py --train {train} --out {out}", "does not split"),
        ("   ", "is empty"),
    ],
)
def test_a_bad_command_says_what_is_wrong(command: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        check_command(command)
    with pytest.raises(ValidationError) as config:
        ModelConfig(command=command)
    assert said in str(config.value)
    assert "command" in str(config.value.errors()[0]["loc"])


@pytest.mark.parametrize("other", ["estimator", "pipeline", "params"])
def test_a_command_trains_alone(other: str) -> None:
    value = {"estimator": "sklearn.svm.SVC", "pipeline": "pkg.mod:make", "params": {"C": 1}}
    if other not in ModelConfig.model_fields:
        pytest.fail(f"model.{other} is not a key of ModelConfig")
    with pytest.raises(ValidationError, match=f"model.command and model.{other} are both set"):
        ModelConfig(command=COMMAND, **{other: value[other]})


def test_a_good_command_loads_with_its_timeout() -> None:
    config = ModelConfig(command=COMMAND, command_timeout=60)
    assert config.command == COMMAND
    assert config.command_timeout == 60
    with pytest.raises(ValidationError, match="command_timeout"):
        ModelConfig(command=COMMAND, command_timeout=0)
