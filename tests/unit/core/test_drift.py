"""Per-column drift verdicts and the dataset-level one (the statistics: test_statistics.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.core.config import DriftConfig
from mlgate.core.drift import detect_drift
from mlgate.core.infer import infer_schema
from mlgate.core.profile import Profile, build_profile

pytestmark = pytest.mark.unit


# --- verdicts --------------------------------------------------------------------------------


def _reference(n: int = 5000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(10.0, 2.0, n),
            "level": rng.integers(0, 3, n),
            "city": pd.Series(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]), dtype="str"),
        }
    )


def _profile(frame: pd.DataFrame) -> Profile:
    return build_profile(frame, infer_schema(frame, target=None))


@pytest.mark.parametrize(
    ("rows", "numeric", "discrete"),
    [(400, "ks", "chisquare"), (5000, "wasserstein", "jensenshannon")],
)
def test_auto_picks_the_test_by_current_sample_size(rows: int, numeric: str, discrete: str) -> None:
    report = detect_drift(_profile(_reference()), _reference(rows, seed=2), DriftConfig())
    methods = {c.column: c.method for c in report.columns}
    assert methods == {"x": numeric, "level": discrete, "city": discrete}
    assert report.drifted_columns == ()
    assert not report.dataset_drift


@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi", "chisquare", "jensenshannon"])
def test_forced_method_applies_or_falls_back_and_says_so(method: str) -> None:
    config = DriftConfig(method=method)
    shifted = _reference(3000, seed=2)
    shifted["x"] += 2.0
    report = detect_drift(_profile(_reference()), shifted, config)
    x = report.columns[0]
    assert x.drifted
    numeric_methods = {"ks", "wasserstein", "psi"}
    if method in numeric_methods:
        assert x.method == method
    else:
        assert x.method == "wasserstein"
        assert f"{method} does not apply" in x.detail
    city = report.columns[2]
    assert city.method == (method if method not in {"ks", "wasserstein"} else "jensenshannon")


def test_threshold_override_changes_the_verdict() -> None:
    shifted = _reference(3000, seed=2)
    shifted["x"] += 0.4  # 0.2 std
    profile = _profile(_reference())
    assert "x" in detect_drift(profile, shifted, DriftConfig()).drifted_columns
    assert "x" not in detect_drift(profile, shifted, DriftConfig(threshold=0.5)).drifted_columns


def test_unseen_categories_are_their_own_bin() -> None:
    current = _reference(3000, seed=2)
    current.loc[:1499, "city"] = "zzz"
    column = detect_drift(_profile(_reference()), current, DriftConfig()).columns[2]
    assert column.drifted
    assert "'zzz'" in column.detail


def test_empty_and_missing_columns_are_skipped_with_a_reason() -> None:
    current = _reference(100, seed=2).drop(columns=["city"])
    current["x"] = np.nan
    report = detect_drift(_profile(_reference()), current, DriftConfig())
    by_name = {c.column: c for c in report.columns}
    assert not by_name["x"].checked
    assert "no non-null values" in by_name["x"].detail
    assert by_name["x"].current_null_fraction == 1.0
    assert not by_name["city"].checked
    assert "not in the current data" in by_name["city"].detail
    assert report.checked_columns == ("level",)
    assert report.share == 0.0


def test_drift_ignores_nulls_and_reports_their_change() -> None:
    current = _reference(3000, seed=2)
    current.loc[: len(current) // 2, "x"] = np.nan
    column = detect_drift(_profile(_reference()), current, DriftConfig()).columns[0]
    assert not column.drifted
    assert column.current_null_fraction == pytest.approx(0.5, abs=0.01)
    assert "Nulls 0.0% in reference, 50.0% now" in column.detail


def test_dataset_drift_follows_the_share() -> None:
    shifted = _reference(3000, seed=2)
    shifted["x"] += 2.0
    profile = _profile(_reference())
    half = detect_drift(profile, shifted, DriftConfig(share=0.5))
    assert half.share == pytest.approx(1 / 3)
    assert not half.dataset_drift
    assert detect_drift(profile, shifted, DriftConfig(share=0.3)).dataset_drift
