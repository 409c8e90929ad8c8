"""Sketches give the verdicts `validate` gives: the same test, threshold and decision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.core.config import DriftConfig
from mlgate.core.drift import column_drift
from mlgate.core.infer import infer_schema
from mlgate.core.profile import NumericProfile, build_profile
from mlgate.core.stream import GRID_ERROR, ColumnSketch, sketch_drift, unseen_count

pytestmark = pytest.mark.unit


def _frames(
    seed: int, shift: float, n_ref: int = 4000, n_cur: int = 3000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(n: int, s: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "x": rng.normal(s, 1.0, n),
                "skewed": rng.exponential(2.0 + s, n),
                "small": rng.integers(0, 4, n).astype(float),
                "cat": rng.choice(
                    ["a", "b", "c"], n, p=[0.5, 0.3, 0.2] if s == 0 else [0.3, 0.3, 0.4]
                ),
            }
        )

    ref = frame(n_ref, 0.0)
    ref.loc[rng.random(n_ref) < 0.05, "x"] = np.nan
    cur = frame(n_cur, shift)
    cur.loc[rng.random(n_cur) < 0.1, "x"] = np.nan
    return ref, cur


def _sketch(
    ref_frame: pd.DataFrame, cur: pd.DataFrame, name: str, keep: int, pieces: int
) -> tuple[object, ColumnSketch]:
    schema = infer_schema(ref_frame, target=None)
    profile = build_profile(ref_frame, schema)
    ref = profile.features[name]
    sketch = ColumnSketch(ref, keep=keep)
    series = cur[name]
    array = series.to_numpy(dtype=object if ref.kind == "categorical" else np.float64)
    for part in np.array_split(array, pieces):
        # Pieces are merged the way the monitor adds up its time windows.
        piece = ColumnSketch(ref, keep=keep)
        piece.add(part)
        sketch.merge(piece)
    return ref, sketch


@pytest.mark.parametrize("shift", [0.0, 0.05, 0.15, 0.6])
@pytest.mark.parametrize("name", ["x", "skewed", "small", "cat"])
@pytest.mark.parametrize("rows", [300, 3000])
def test_sketch_verdicts_equal_column_drift(shift: float, name: str, rows: int) -> None:
    ref_frame, cur = _frames(3, shift, n_cur=rows)
    config = DriftConfig()
    ref, sketch = _sketch(ref_frame, cur, name, keep=config.small_sample + 1, pieces=7)
    expected = column_drift(name, ref, cur[name], config)  # type: ignore[arg-type]
    got = sketch_drift(name, ref, sketch, config)  # type: ignore[arg-type]
    assert got.method == expected.method
    assert got.current_count == expected.current_count
    assert got.current_null_fraction == pytest.approx(expected.current_null_fraction)
    assert expected.statistic is not None
    assert got.statistic is not None
    if sketch.exact or expected.method != "wasserstein":
        assert got.statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12)
        assert got.detail == expected.detail
    else:
        # The histogram form: within its stated bound (plus the exact form's own midpoint error).
        assert abs(got.statistic - expected.statistic) <= sketch.error_bound + 1e-3
        assert sketch.error_bound <= GRID_ERROR
    if abs(expected.statistic - expected.threshold) > 0.01:  # type: ignore[operator]
        assert got.drifted == expected.drifted


@settings(max_examples=20, deadline=None)
@given(
    shift=st.floats(min_value=-3, max_value=3),
    scale=st.floats(min_value=0.2, max_value=4),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_histogram_wasserstein_is_within_its_bound(shift: float, scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref_frame = pd.DataFrame({"x": rng.normal(0, 1, 3000)})
    cur = pd.DataFrame({"x": rng.normal(shift, scale, 5000)})
    ref, sketch = _sketch(ref_frame, cur, "x", keep=10, pieces=3)
    assert not sketch.exact
    exact = column_drift("x", ref, cur["x"], DriftConfig())  # type: ignore[arg-type]
    got = sketch_drift("x", ref, sketch, DriftConfig())  # type: ignore[arg-type]
    assert exact.statistic is not None
    assert got.statistic is not None
    # The exact form's midpoint rule is itself within (max - min) / n of W1.
    span = float(cur["x"].max() - cur["x"].min()) / 5000
    assert abs(got.statistic - exact.statistic) <= sketch.error_bound + span + 1e-9


def test_unseen_categories_and_nulls_are_counted() -> None:
    ref_frame = pd.DataFrame({"cat": ["a", "b"] * 50})
    profile = build_profile(ref_frame, infer_schema(ref_frame, target=None))
    sketch = ColumnSketch(profile.features["cat"], keep=0)
    sketch.add(np.array(["a", "z", None, "z", 3.0], dtype=object))
    assert sketch.rows == 5
    assert sketch.nulls == 1
    assert sketch.counts == {"a": 1, "z": 2, "3": 1}
    assert unseen_count(profile.features["cat"], sketch) == 3


def test_values_outside_the_reference_range_count_exactly() -> None:
    ref_frame = pd.DataFrame({"x": np.linspace(0.0, 1.0, 1001)})
    profile = build_profile(ref_frame, infer_schema(ref_frame, target=None))
    sketch = ColumnSketch(profile.features["x"], keep=0)
    sketch.add(np.full(100, 11.0))
    # Every value is 10 above the maximum: W1 is 10 + the mean distance of the reference to 1.
    ref = profile.features["x"]
    assert isinstance(ref, NumericProfile)
    assert sketch.wasserstein(np.asarray(ref.quantiles)) == pytest.approx(10.5, rel=1e-3)
