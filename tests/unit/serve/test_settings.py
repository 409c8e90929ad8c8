"""The server's settings: the body-rate knobs have safe defaults and refuse bad values, naming
the flag."""

from __future__ import annotations

import pytest

from mlgate.cli import main
from mlgate.errors import UsageError
from mlgate.serve.app import limits_of
from mlgate.serve.server import make_settings
from mlgate.serve.settings import ServeSettings

pytestmark = pytest.mark.unit


def test_the_minimum_body_rate_is_on_by_default() -> None:
    settings = ServeSettings()
    assert settings.min_body_rate == 4096
    assert settings.body_rate_grace == 5.0
    assert make_settings({"min_body_rate": 0}).min_body_rate == 0  # 0 turns it off


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("min_body_rate", -1, "--min-body-rate"),
        ("body_rate_grace", 0.0, "--body-rate-grace"),
        ("body_rate_grace", "soon", "--body-rate-grace"),
    ],
)
def test_a_bad_value_names_the_flag(field: str, value: object, flag: str) -> None:
    with pytest.raises(UsageError, match=flag):
        make_settings({field: value})


def test_the_body_rate_settings_reach_the_protocols_limits() -> None:
    limits = limits_of(make_settings({"min_body_rate": 7, "body_rate_grace": 0.5}))
    assert (limits.min_body_rate, limits.body_rate_grace) == (7, 0.5)


def test_serve_takes_the_body_rate_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--min-body-rate" in out
    assert "--body-rate-grace" in out
