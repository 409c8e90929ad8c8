"""Role inference: what a person would call each column, and why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.core.infer import check_columns, infer_schema
from mlgate.errors import DataError

pytestmark = pytest.mark.unit


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    first = np.array(["Ann", "Bob", "Cleo", "Dev", "Eve", "Finn", "Gus", "Hal"])
    return pd.DataFrame(
        {
            "rownames": np.arange(1, n + 1),
            "customer_id": [f"C{i:05d}" for i in rng.permutation(n)],
            "name": [f"{rng.choice(first)} {rng.choice(first)}son {i}" for i in range(n)],
            "signed_up": [
                f"2023-{m:02d}-{d:02d}"
                for m, d in zip(rng.integers(1, 13, n), rng.integers(1, 29, n), strict=True)
            ],
            "plan": rng.choice(["basic", "pro"], n),
            "visits": rng.poisson(3, n),
            "visits_copy": None,
            "country": "FR",
            "empty": np.nan,
            "spend": rng.gamma(2.0, 30.0, n).round(2),
            "churned": rng.integers(0, 2, n),
        }
    ).assign(visits_copy=lambda f: f["visits"])


def test_roles_and_reasons(table: pd.DataFrame) -> None:
    schema = infer_schema(table, target="churned")
    roles = {c.name: (c.role, c.why) for c in schema.columns}
    assert roles["rownames"] == ("id", "counts the rows (a row number)")
    assert roles["customer_id"][0] == "id"
    assert roles["name"][0] == "text"
    assert roles["signed_up"][0] == "feature"
    assert schema.column("signed_up").kind == "datetime"
    assert schema.column("signed_up").format == "%Y-%m-%d"
    assert roles["plan"] == ("feature", "categories (2)")
    assert roles["visits_copy"] == ("ignored", "the same values as 'visits'")
    assert roles["country"] == ("ignored", "one value only ('FR')")
    assert roles["empty"] == ("ignored", "every value is missing")
    assert roles["churned"][0] == "target"
    assert [c.name for c in schema.features] == ["signed_up", "plan", "visits", "spend"]
    assert schema.id_column is not None
    assert schema.id_column.name == "rownames"


def test_dates_get_a_range_and_no_list(table: pd.DataFrame) -> None:
    spec = infer_schema(table, target="churned").column("signed_up")
    assert spec.categories is None
    assert spec.earliest is not None
    assert spec.latest is not None
    assert spec.earliest < "2023-01-01" < "2023-12-28" < spec.latest


def test_a_person_overrides_roles(table: pd.DataFrame) -> None:
    schema = infer_schema(table, target="churned", roles={"rownames": "feature", "plan": "ignored"})
    assert (schema.column("rownames").role, schema.column("rownames").why) == (
        "feature",
        "set by you",
    )
    assert schema.column("rownames").min is not None  # a feature gets its checks
    assert schema.column("plan").role == "ignored"
    with pytest.raises(DataError, match="is the target"):
        infer_schema(table, target="churned", roles={"churned": "id"})


def test_natural_and_wide_ranges() -> None:
    n = 200
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "flag": rng.integers(0, 2, n),
            "share": rng.uniform(0, 1, n).round(3).clip(0.01, 0.99) * np.r_[0, 1, [1] * (n - 2)],
            "rare": np.r_[np.zeros(n - 3, int), [1, 1, 1]],
            "temp": rng.normal(5, 8, n).round(1),
            "y": rng.integers(0, 2, n),
        }
    )
    frame.loc[1, "share"] = 1.0
    schema = infer_schema(frame, target="y")
    assert (schema.column("flag").min, schema.column("flag").max) == (0.0, 1.0)
    assert (schema.column("share").min, schema.column("share").max) == (0.0, 1.0)
    # A rare 1 is more likely the low end of a count than a flag: no hard [0, 1].
    assert schema.column("rare").max == 11.0
    temp = schema.column("temp")
    low, high = float(frame["temp"].min()), float(frame["temp"].max())
    assert temp.min is not None
    assert temp.max is not None
    assert temp.min == pytest.approx(low - (high - low), abs=1)
    assert temp.max == pytest.approx(high + (high - low), abs=1)


def test_duplicate_names_are_refused_naming_them() -> None:
    with pytest.raises(DataError, match="duplicate column name\\(s\\): 'a', 'b'"):
        check_columns(["a", "b", "a", "c", "b"], "x.csv")
