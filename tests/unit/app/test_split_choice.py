"""The split `mlgate init` writes: a holdout that reaches `evaluation.min_holdout_rows` of the
rows with a target, from the smallest fraction that does (never over half the rows), and on a
table too small for that, half of it with the minimum lowered and a warning."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.app.config_text import MAX_TEST_SIZE, choose_split, config_text, default_gates
from mlgate.core.config import parse_config
from mlgate.store.yamlfile import parse_yaml

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("labelled", "test_size", "holdout"),
    [
        (10_000, 0.2, 2000),
        (150, 0.2, 30),  # the default just reaches 30
        (149, 0.2, 30),  # ceil(29.8)
        (145, 0.21, 31),
        (116, 0.26, 31),  # airquality: 153 rows, 37 without Ozone
        (60, 0.49, 30),  # ceil(29.4)
        (59, 0.5, 30),  # ceil(29.5)
    ],
)
def test_the_smallest_fraction_whose_holdout_reaches_the_minimum(
    labelled: int, test_size: float, holdout: int
) -> None:
    choice = choose_split(labelled)
    assert (choice.test_size, choice.holdout_rows, choice.min_holdout_rows) == (
        test_size,
        holdout,
        30,
    )
    assert choice.warning is None
    assert (choice.note is None) == (test_size == 0.2)


def test_a_table_too_small_for_the_minimum_gets_half_and_a_warning() -> None:
    choice = choose_split(32)  # mtcars
    assert (choice.test_size, choice.holdout_rows, choice.min_holdout_rows) == (0.5, 16, 16)
    assert choice.warning is not None
    assert "only 32 rows have a target" in choice.warning
    assert "evaluation.min_holdout_rows is lowered to 16" in choice.warning


@given(st.integers(min_value=1, max_value=100_000))
def test_the_holdout_always_reaches_the_minimum_written(labelled: int) -> None:
    choice = choose_split(labelled)
    holdout = math.ceil(labelled * choice.test_size)
    assert holdout == choice.holdout_rows >= choice.min_holdout_rows >= 1
    assert 0.2 <= choice.test_size <= MAX_TEST_SIZE
    # The minimum stays the default whenever half the table can hold it.
    assert (choice.min_holdout_rows == 30) == (math.ceil(labelled * MAX_TEST_SIZE) >= 30)
    if choice.test_size > 0.2 and choice.min_holdout_rows == 30:
        assert math.ceil(labelled * (choice.test_size - 0.01)) < 30  # none smaller would do


@pytest.mark.parametrize("labelled", [10_000, 116, 32])
def test_the_config_written_reads_back_with_that_split(labelled: int) -> None:
    choice = choose_split(labelled)
    text = config_text(
        "m", "data/d.csv", "y", (), "regression", default_gates("regression"), split=choice
    )
    config = parse_config(parse_yaml(text, "mlgate.yaml"), "mlgate.yaml")
    assert config.split.test_size == choice.test_size
    assert config.evaluation.min_holdout_rows == choice.min_holdout_rows
    assert ("min_holdout_rows" in text) == (choice.min_holdout_rows != 30)
