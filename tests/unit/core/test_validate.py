"""The data gate: schema violations and drift verdicts on whole frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlgate.core.config import DriftConfig
from mlgate.core.infer import infer_schema
from mlgate.core.profile import Profile, build_profile
from mlgate.core.schema import Schema
from mlgate.core.validate import validate_data

pytestmark = pytest.mark.unit

# Four of seven features shift: more than DriftConfig's default share (0.5) of them.
SHIFTED = ("income", "score", "visits", "channel")
UNSHIFTED = ("age", "member", "region")


def make_frame(rows: int, seed: int, *, shifted: bool = False) -> pd.DataFrame:
    """Bounded distributions, so a fresh sample stays inside the inferred ranges.

    Each column draws from its own stream, so the shifted variant of a seed differs from the
    fresh sample of that seed in the shifted columns only.
    """
    rngs = iter([np.random.default_rng([seed, i]) for i in range(10)])
    shift = 0.6 if shifted else 0.0
    channel_p = [0.2, 0.3, 0.5] if shifted else [0.5, 0.3, 0.2]
    income = np.clip(next(rngs).normal(shift, 1.0, rows), -3.0, 3.0)
    income[next(rngs).random(rows) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "customer": [f"c{seed}-{i}" for i in range(rows)],
            "age": next(rngs).integers(18, 80, rows),
            "income": income,
            "score": np.round(next(rngs).uniform(0.3 if shifted else 0.0, 1.0, rows), 2),
            "visits": np.clip(next(rngs).poisson(6 if shifted else 4, rows), 0, 10),
            "member": next(rngs).random(rows) < 0.3,
            "channel": pd.Series(
                next(rngs).choice(["web", "shop", "phone"], rows, p=channel_p), dtype="str"
            ),
            "region": pd.Series(next(rngs).choice(["n", "s", "e", "w"], rows), dtype="str"),
            "churn": next(rngs).integers(0, 2, rows),
        }
    )


def strict(schema: Schema) -> Schema:
    """The schema with `channel` closed and `visits` required, as a person may mark them."""
    columns = []
    for c in schema.columns:
        if c.name == "channel":
            c = c.model_copy(update={"closed": True})
        if c.name == "visits":
            c = c.model_copy(update={"required": True})
        columns.append(c)
    return schema.model_copy(update={"columns": tuple(columns)})


@pytest.fixture(scope="module")
def reference() -> tuple[Schema, Profile]:
    frame = make_frame(20_000, seed=1)
    schema = infer_schema(frame, target="churn", drop=["customer"])
    return schema, build_profile(frame, schema)


@pytest.mark.parametrize(("rows", "numeric_method"), [(600, "ks"), (20_000, "wasserstein")])
def test_fresh_sample_passes_and_shifted_sample_fails_naming_shifted_features(
    reference: tuple[Schema, Profile], rows: int, numeric_method: str
) -> None:
    schema, profile = reference
    config = DriftConfig()
    for seed in range(2, 7):
        fresh = validate_data(make_frame(rows, seed=seed), schema, profile, config)
        assert fresh.violations == ()
        assert fresh.passed
        assert fresh.rows == rows

        shifted = validate_data(make_frame(rows, seed=seed, shifted=True), schema, profile, config)
        assert shifted.violations == ()
        assert not shifted.passed
        assert shifted.drift.dataset_drift
        assert set(SHIFTED) <= set(shifted.drift.drifted_columns)
        # The unshifted columns hold the same values in both frames: they may only be named
        # where the fresh sample names them too (a test's false positive at p < 0.05, about
        # one sample in three across seven small-sample tests).
        extra = set(shifted.drift.drifted_columns) - set(SHIFTED)
        assert extra == set(fresh.drift.drifted_columns) - set(SHIFTED)
        assert {c.column: c.method for c in shifted.drift.columns}["income"] == numeric_method
        assert "income" in " ".join(shifted.reasons())

    # A seed whose fresh sample has no false positive: the shifted one names exactly the shift.
    fresh = validate_data(make_frame(rows, seed=5), schema, profile, config)
    shifted = validate_data(make_frame(rows, seed=5, shifted=True), schema, profile, config)
    assert fresh.drift.drifted_columns == ()
    assert set(shifted.drift.drifted_columns) == set(SHIFTED)


def test_schema_violations_fail_the_gate_even_without_drift(
    reference: tuple[Schema, Profile],
) -> None:
    schema, profile = reference
    frame = make_frame(2000, seed=6)
    frame.loc[0, "age"] = 500
    report = validate_data(frame, schema, profile, DriftConfig())
    assert not report.drift.dataset_drift
    assert not report.passed
    assert report.reasons() == [report.violations[0].message]


def test_drift_does_not_fail_when_fail_on_drift_is_off(reference: tuple[Schema, Profile]) -> None:
    schema, profile = reference
    frame = make_frame(5000, seed=7, shifted=True)
    report = validate_data(frame, schema, profile, DriftConfig(fail_on_drift=False))
    assert report.drift.dataset_drift
    assert report.passed


def test_drift_skips_missing_features_and_the_report_is_json(
    reference: tuple[Schema, Profile],
) -> None:
    schema, profile = reference
    frame = make_frame(800, seed=8).drop(columns=["region"])
    report = validate_data(frame, schema, profile, DriftConfig())
    assert "region" not in [c.column for c in report.drift.columns]
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["passed"] is False
    assert data["violations"][0]["check"] == "missing_column"
    assert data["drift"]["drifted_columns"] == list(report.drift.drifted_columns)
    assert {c["column"] for c in data["drift"]["columns"]} == set(UNSHIFTED + SHIFTED) - {"region"}


def test_open_columns_take_a_few_nulls_and_new_values_but_not_a_broken_column(
    reference: tuple[Schema, Profile],
) -> None:
    schema, profile = reference
    config = DriftConfig()
    frame = make_frame(2000, seed=10)
    frame.loc[:9, "visits"] = np.nan  # nulls where training had none: 0.5% of rows
    frame.loc[:3, "channel"] = "fax"  # a value training never saw, in 0.2% of rows
    assert validate_data(frame, schema, profile, config).violations == ()

    broken = make_frame(2000, seed=10)
    broken["visits"] = np.nan  # the export lost the column
    broken["channel"] = "online"  # a renamed code
    broken["income"] = broken["income"] * 1000 + 5000  # a new unit
    report = validate_data(broken, schema, profile, config)
    by_column = {v.column: v for v in report.violations}
    assert not report.passed
    assert by_column["visits"].check == "missing_rate"
    assert "100.0% of rows" in by_column["visits"].message
    assert by_column["channel"].check == "unseen_rate"
    assert "'online'" in by_column["channel"].message
    assert by_column["income"].check in ("range", "shift")


def test_a_changed_meaning_inside_the_range_is_a_shift(
    reference: tuple[Schema, Profile],
) -> None:
    schema, profile = reference
    frame = make_frame(2000, seed=11)
    frame["score"] = frame["score"] / 100  # a percentage became a fraction of a percent
    (violation,) = validate_data(frame, schema, profile, DriftConfig()).violations
    assert (violation.column, violation.check) == ("score", "shift")
    assert "drift.max_shift" in violation.message


def test_a_required_column_allows_no_null(reference: tuple[Schema, Profile]) -> None:
    schema, profile = reference
    frame = make_frame(500, seed=12)
    frame.loc[0, "visits"] = np.nan
    assert validate_data(frame, schema, profile, DriftConfig()).violations == ()
    (violation,) = validate_data(frame, strict(schema), profile, DriftConfig()).violations
    assert (violation.column, violation.check, violation.count) == ("visits", "nullable", 1)


def test_the_share_of_rows_without_a_target_is_gated(reference: tuple[Schema, Profile]) -> None:
    schema, profile = reference
    frame = make_frame(1000, seed=13).astype({"churn": "float64"})
    frame.loc[:99, "churn"] = np.nan
    assert validate_data(frame, schema, profile, DriftConfig(), max_missing_target=0.2).passed
    report = validate_data(frame, schema, profile, DriftConfig(), max_missing_target=0.05)
    (violation,) = report.violations
    assert (violation.check, violation.column, violation.count) == ("target_missing", "churn", 100)
    assert "data.max_missing_target" in violation.message


def test_the_report_round_trips_and_an_unversioned_file_reads() -> None:
    from pathlib import Path

    from mlgate.core.validate import ValidationReport

    legacy = Path(__file__).parent / "records" / "legacy" / "validation.json"
    old = ValidationReport.loads(legacy.read_text(), "legacy/validation.json")
    assert old.passed is True
    assert old.format_version == ValidationReport.VERSION
    again = ValidationReport.loads(old.dumps())
    assert again == old
    assert json.loads(old.dumps())["reasons"] == old.reasons()


def test_unlabelled_rows_unlike_the_labelled_ones_do_not_fail_the_table_against_itself() -> None:
    # As on openintro::mn_police_use_of_force: the rows without a target come from other
    # categories. The reference describes the labelled rows (what training learns from); the
    # gate compares those same rows, so the table that made the reference passes it.
    rng = np.random.default_rng(3)
    n = 2000
    labelled = rng.random(n) < 0.4
    frame = pd.DataFrame(
        {
            "kind": np.where(labelled, rng.choice(["a", "b"], n), rng.choice(["c", "d"], n)),
            "size": np.where(labelled, rng.normal(0, 1, n), rng.normal(5, 1, n)),
            "y": np.where(labelled, rng.integers(0, 2, n), np.nan),
        }
    )
    schema = infer_schema(frame, target="y")
    profile = build_profile(frame[labelled], schema)
    report = validate_data(frame, schema, profile, DriftConfig(), max_missing_target=0.7)
    assert report.passed, [v.message for v in report.violations]
    assert not report.drift.drifted_columns
    strict = validate_data(frame, schema, profile, DriftConfig(), max_missing_target=0.5)
    assert [v.check for v in strict.violations] == ["target_missing"]  # still counted
