"""The reference profile: statistics, file format, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgate.core.infer import infer_schema
from mlgate.core.profile import (
    QUANTILE_POINTS,
    CategoricalProfile,
    NumericProfile,
    Profile,
    build_profile,
)
from mlgate.errors import DataError
from mlgate.store.files import read_profile, write_profile

pytestmark = pytest.mark.unit


def _frame(n: int = 1000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.normal(100.0, 15.0, n)
    amount[: n // 10] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "level": rng.integers(1, 4, n),
            "member": rng.random(n) < 0.25,
            "city": pd.Series(rng.choice(["paris", "lyon"], n, p=[0.7, 0.3]), dtype="str"),
            "label": rng.integers(0, 2, n),
        }
    )


def _numeric(profile: Profile, name: str) -> NumericProfile:
    feature = profile.features[name]
    assert isinstance(feature, NumericProfile)
    return feature


def test_profile_covers_features_only_with_their_statistics() -> None:
    frame = _frame()
    profile = build_profile(frame, infer_schema(frame, target="label"))

    assert profile.rows == len(frame)
    assert list(profile.features) == ["amount", "level", "member", "city"]
    amount = _numeric(profile, "amount")
    values = frame["amount"].dropna().to_numpy()
    assert amount.null_fraction == pytest.approx(0.1)
    assert amount.count == values.size
    assert amount.mean == pytest.approx(values.mean())
    assert amount.std == pytest.approx(values.std())
    assert len(amount.quantiles) == QUANTILE_POINTS
    assert amount.quantiles[0] == amount.min == values.min()
    assert amount.quantiles[-1] == amount.max == values.max()
    assert np.allclose(amount.quantiles, np.quantile(values, np.linspace(0, 1, QUANTILE_POINTS)))
    assert sum(amount.hist_counts) == values.size
    assert len(amount.hist_counts) == len(amount.hist_edges) + 1
    # Decile bins: every bin holds about a tenth of the reference.
    assert max(amount.hist_counts) <= values.size * 0.11
    assert amount.values is None


def test_few_valued_and_boolean_features_keep_value_counts() -> None:
    frame = _frame()
    profile = build_profile(frame, infer_schema(frame, target="label"))

    level = _numeric(profile, "level")
    assert level.values == {str(v): int(c) for v, c in frame["level"].value_counts().items()}
    member = _numeric(profile, "member")
    assert member.kind == "boolean"
    assert member.values == {"0": int((~frame["member"]).sum()), "1": int(frame["member"].sum())}
    city = profile.features["city"]
    assert isinstance(city, CategoricalProfile)
    assert city.counts == {k: int(v) for k, v in frame["city"].value_counts().items()}


def test_all_null_feature_profiles_as_empty() -> None:
    frame = pd.DataFrame({"x": [np.nan] * 4, "y": [0, 1, 0, 1]})
    # Inference would make an empty column `ignored`; a schema may still declare it a feature.
    profile = build_profile(frame, infer_schema(frame, target="y", roles={"x": "feature"}))
    x = _numeric(profile, "x")
    assert (x.count, x.null_fraction, x.quantiles, x.mean) == (0, 1.0, (), None)


def test_profile_of_a_frame_without_a_schema_feature_is_a_data_error() -> None:
    frame = _frame()
    schema = infer_schema(frame, target="label")
    with pytest.raises(DataError, match="'city'"):
        build_profile(frame.drop(columns=["city"]), schema)


def test_write_is_atomic_and_reads_back(tmp_path: Path) -> None:
    frame = _frame()
    profile = build_profile(frame, infer_schema(frame, target="label"))
    path = tmp_path / "reference" / "profile.json"
    write_profile(profile, path)
    assert [p.name for p in path.parent.iterdir()] == ["profile.json"]
    assert read_profile(path) == profile


def test_missing_profile_is_a_data_error_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "profile.json"
    with pytest.raises(DataError, match=r"profile\.json") as info:
        read_profile(path)
    assert "mlgate schema infer" in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"rows": 3}',
        '{"rows": 3, "features": {"x": {"kind": "text"}}}',
        '{"rows": 3, "features": {"x": {"kind": "numeric", "null_fraction": 0, "count": 3}}}',
    ],
)
def test_invalid_profile_is_a_data_error_naming_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "profile.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=r"invalid reference profile .*profile\.json"):
        read_profile(path)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    numbers=st.lists(
        st.one_of(st.none(), st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)),
        min_size=1,
        max_size=300,
    ),
    labels=st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=1, max_size=300),
)
def test_profile_json_round_trip_is_exact(
    tmp_path: Path, numbers: list[float | None], labels: list[str | None]
) -> None:
    n = min(len(numbers), len(labels))
    frame = pd.DataFrame(
        {
            "x": pd.Series(numbers[:n], dtype="float64"),
            "k": pd.Series(labels[:n], dtype="str"),
        }
    )
    profile = build_profile(frame, infer_schema(frame, target=None))
    path = tmp_path / "profile.json"
    write_profile(profile, path)
    assert read_profile(path) == profile
    assert Profile.model_validate_json(profile.model_dump_json()) == profile


def test_histogram_from_sorted_positions_equals_the_bin_search() -> None:
    """Discrete values sit on the edges: ties must land in the bin that ends at the edge."""
    from mlgate.core.profile import histogram_counts

    rng = np.random.default_rng(3)
    for values in (rng.poisson(2, 5000).astype(float), rng.normal(size=5000).round(1)):
        frame = pd.DataFrame({"v": values, "y": rng.integers(0, 2, 5000)})
        profile = build_profile(frame, infer_schema(frame, target="y"))
        v = _numeric(profile, "v")
        assert list(v.hist_counts) == histogram_counts(values, v.hist_edges)
