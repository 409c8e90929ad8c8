"""Release and monitoring policies: durations as Flagger writes them, errors that name the key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mlgate.core.policy import CanaryConfig, MonitorConfig, duration_seconds, parse_duration

pytestmark = pytest.mark.unit

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple[int | str, ...], str]:
    """The location and message of the one error pydantic raised."""
    (error,) = exc.value.errors()
    return tuple(error["loc"]), str(error["msg"])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1.5m", 90.0),
        ("2h", 7200.0),
        ("500ms", 0.5),
        ("1m30s", 90.0),
        ("1h0m5s", 3605.0),
        (" 45 ", 45.0),
        ("2.5", 2.5),
    ],
)
def test_parse_duration_reads_flagger_and_prometheus_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_parse_duration_passes_numbers_on_for_pydantic() -> None:
    assert parse_duration(12) == 12
    assert parse_duration(None) is None


@pytest.mark.parametrize("text", ["abc", "1h30", "5 m", "-5s", "1.5.5m", "2d", "s", ""])
def test_parse_duration_refuses_other_text_naming_the_value(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration") as exc:
        parse_duration(text)
    assert repr(text) in str(exc.value)


@given(
    parts=st.lists(
        st.tuples(
            st.decimals(min_value=0, max_value=10_000, places=3).map(str),
            st.sampled_from(sorted(UNIT_SECONDS)),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_a_duration_is_the_sum_of_its_parts(parts: list[tuple[str, str]]) -> None:
    text = "".join(n + u for n, u in parts)
    expected = sum(float(n) * UNIT_SECONDS[u] for n, u in parts)
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("1.5m", 90.0), ("24h", 86400.0), ("7d", 604800.0), ("2w", 1209600.0)],
)
def test_duration_seconds_of_the_monitor_s_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["90x", "500ms", "1m30s", "h", "1.m"])
def test_monitor_durations_outside_the_pattern_are_refused_naming_the_key(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        MonitorConfig(since=text)
    loc, _ = _error(exc)
    assert loc == ("since",)
    assert repr(text) in str(exc.value)


def test_the_monitor_s_default_durations_read() -> None:
    config = MonitorConfig()
    assert duration_seconds(config.since) == 86400.0
    assert duration_seconds(config.window) == 3600.0


def test_canary_interval_takes_a_number_or_a_duration() -> None:
    assert CanaryConfig().interval == 60.0
    assert CanaryConfig(interval="30s").interval == 30.0
    assert CanaryConfig(interval="1m30s").interval == 90.0
    assert CanaryConfig(interval=5).interval == 5.0


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("interval", "soon", "'soon' is not a duration"),
        ("interval", "0s", "greater than 0"),
        ("interval", -5, "greater than 0"),
        ("interval", "nan", "greater than 0"),
        ("threshold", 0, "greater than or equal to 1"),
        ("step_weight", 0, "greater than or equal to 1"),
        ("step_weight", 101, "less than or equal to 100"),
        ("max_weight", 0, "greater than or equal to 1"),
        ("ab_weight", 100, "less than or equal to 99"),
        ("max_error_rate", 101.0, "less than or equal to 100"),
        ("max_p99_ms", 0.0, "greater than 0"),
        ("divergence", "kl", "'jensenshannon' or 'psi'"),
        ("max_divergence", 0.0, "greater than 0"),
        ("max_drift_share", 1.5, "less than or equal to 1"),
        ("min_labels", 0, "greater than or equal to 1"),
        ("stepWeight", 10, "Extra inputs are not permitted"),
    ],
)
def test_canary_config_refuses_a_bad_value_naming_the_key(
    key: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        CanaryConfig.model_validate({key: value})
    loc, msg = _error(exc)
    assert loc == (key,)
    assert message in msg


def test_configs_are_frozen() -> None:
    config = CanaryConfig()
    with pytest.raises(ValidationError, match="frozen"):
        config.interval = 5.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        MonitorConfig().min_rows = 1  # type: ignore[misc]


def test_canary_interval_refuses_infinity() -> None:
    with pytest.raises(ValidationError):
        CanaryConfig(interval="inf")
