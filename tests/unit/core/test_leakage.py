"""Leakage warnings: a column that is the answer, and a file sorted by the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlgate.core.infer import infer_schema
from mlgate.core.leakage import find_leaks

pytestmark = pytest.mark.unit


def _frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (x + rng.normal(0, 1.0, n) > 0).astype(int)
    return pd.DataFrame(
        {
            "x": x,
            "noise": rng.normal(size=n),
            "refund_issued": np.where(y == 1, "yes", "no"),  # recorded after the outcome
            "y": y,
        }
    )


def _leaks(frame: pd.DataFrame, target: str, classify: bool) -> list[str]:
    schema = infer_schema(frame, target=target)
    return find_leaks(
        frame, target, [c for c in schema.columns if c.role != "target"], classify=classify
    )


def test_a_copy_of_the_outcome_is_named_and_honest_features_are_not() -> None:
    (warning,) = _leaks(_frame(), "y", classify=True)
    assert "'refund_issued' (a feature) alone predicts 'y'" in warning
    assert "balanced accuracy 1.000" in warning


def test_a_file_sorted_by_the_target_names_its_row_number() -> None:
    frame = _frame().drop(columns=["refund_issued"])
    frame["amount"] = frame["x"] * 10 + np.random.default_rng(1).normal(0, 10, len(frame))
    frame = frame.sort_values("amount").reset_index(drop=True)
    frame.insert(0, "rownames", np.arange(1, len(frame) + 1))
    warnings = _leaks(frame.drop(columns=["y"]), "amount", classify=False)
    assert any("'rownames' (role id, not used)" in w for w in warnings)
    (order,) = [w for w in warnings if "sorted by 'amount'" in w]
    assert "'rownames' counts the rows" in order
    assert (
        _leaks(
            frame.sample(frac=1.0, random_state=0).drop(columns=["y", "rownames"]),
            "amount",
            classify=False,
        )
        == []
    )
