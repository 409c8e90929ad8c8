"""How `mlgate deploy --target local` names the way a release ended."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from rich.console import Console

from mlgate.cli import render

pytestmark = pytest.mark.unit


@dataclass
class Ended:
    ended_as: str
    candidate: str = "churn v2"
    strategy: str = "canary"
    reason: str = "because"
    url: str = "http://127.0.0.1:8080"
    registry_note: str | None = None
    report: str | None = None


@pytest.mark.parametrize(
    ("ended_as", "shown"),
    [
        ("promoted", "PROMOTED churn v2"),
        ("not promoted", "NOT PROMOTED churn v2"),
        ("stopped", "STOPPED churn v2"),
        ("rolled back", "ROLLED BACK churn v2"),
    ],
)
def test_each_ending_has_its_own_word(ended_as: str, shown: str) -> None:
    out = io.StringIO()
    render.release_outcome(Console(file=out, width=200, color_system=None), Ended(ended_as))
    assert out.getvalue().splitlines()[0] == f"{shown} (canary)"
