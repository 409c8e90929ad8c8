"""`Frozen`: a value model that cannot be changed and refuses keys it does not declare."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlgate.core.frozen import Frozen

pytestmark = pytest.mark.unit


class Point(Frozen):
    x: int
    label: str = "origin"


def test_a_field_cannot_be_assigned() -> None:
    point = Point(x=1)
    with pytest.raises(ValidationError, match="frozen"):
        point.x = 2  # type: ignore[misc]
    assert point.x == 1


def test_an_undeclared_field_cannot_be_added_by_assignment() -> None:
    point = Point(x=1)
    with pytest.raises(ValidationError):
        point.extra = 3  # type: ignore[attr-defined]
    assert not hasattr(point, "extra")


def test_an_unknown_key_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match="unexpected_key") as info:
        Point.model_validate({"x": 1, "unexpected_key": 2})
    (error,) = info.value.errors()
    assert error["type"] == "extra_forbidden"
    assert error["loc"] == ("unexpected_key",)


def test_equal_values_are_equal_and_hashable() -> None:
    assert Point(x=1) == Point(x=1, label="origin")
    assert len({Point(x=1), Point(x=1), Point(x=2)}) == 2


def test_a_changed_copy_leaves_the_original_alone() -> None:
    point = Point(x=1)
    moved = point.model_copy(update={"x": 5})
    assert (point.x, moved.x) == (1, 5)
