"""The one date parser: text or parsed dates in, naive UTC timestamps out, NaT for the rest."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.core.dates import parse_dates

pytestmark = pytest.mark.unit

NS = "datetime64[ns]"


def test_iso_text_becomes_naive_utc() -> None:
    text = pd.Series(["2024-01-02", "2024-01-02T03:04:05", "2024-01-02T03:04:05+02:00"])
    parsed = parse_dates(text, None)
    assert parsed.dtype == NS
    assert parsed.tolist() == [
        pd.Timestamp("2024-01-02 00:00:00"),
        pd.Timestamp("2024-01-02 03:04:05"),
        pd.Timestamp("2024-01-02 01:04:05"),
    ]


def test_what_does_not_parse_is_missing() -> None:
    text = pd.Series(["2024-01-02", "garbage", None, np.nan, "2024-13-01", "03/04/2024"])
    parsed = parse_dates(text, None)
    assert parsed.dtype == NS
    assert parsed.isna().tolist() == [False, True, True, True, True, True]


def test_a_format_reads_its_own_text_form() -> None:
    text = pd.Series(["02/01/2024", "31/12/2023", "2024-01-02", "x"])
    parsed = parse_dates(text, "%d/%m/%Y")
    assert parsed.tolist()[:2] == [pd.Timestamp("2024-01-02"), pd.Timestamp("2023-12-31")]
    assert parsed.isna().tolist() == [False, False, True, True]


def test_parsed_dates_keep_their_instant_and_lose_their_zone() -> None:
    paris = pd.Series(pd.to_datetime(["2024-01-02 05:00", "2024-07-02 05:00"], utc=True))
    parsed = parse_dates(paris.dt.tz_convert("Europe/Paris"), None)
    assert parsed.dtype == NS
    assert parsed.tolist() == [pd.Timestamp("2024-01-02 05:00"), pd.Timestamp("2024-07-02 05:00")]


def test_naive_parsed_dates_pass_at_nanosecond_resolution() -> None:
    seconds = pd.Series([pd.Timestamp("2024-01-02 03:04:05"), pd.NaT]).astype("datetime64[s]")
    parsed = parse_dates(seconds, None)
    assert parsed.dtype == NS
    assert parsed.iloc[0] == pd.Timestamp("2024-01-02 03:04:05")
    assert pd.isna(parsed.iloc[1])


def test_python_dates_and_text_mixed_in_one_column() -> None:
    mixed = pd.Series([dt.date(2024, 1, 2), "2024-01-03", dt.datetime(2024, 1, 4, 5, 6)])
    assert parse_dates(mixed, None).tolist() == [
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-03"),
        pd.Timestamp("2024-01-04 05:06"),
    ]


def test_string_dtype_and_empty_columns() -> None:
    text = pd.Series(["2024-01-02", None], dtype="str")
    assert parse_dates(text, None).tolist()[0] == pd.Timestamp("2024-01-02")
    assert parse_dates(text, None).isna().tolist() == [False, True]
    empty = parse_dates(pd.Series([], dtype="object"), None)
    assert empty.dtype == NS
    assert empty.empty


@given(
    instant=st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1)),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
)
def test_iso_text_of_any_instant_round_trips_to_utc(
    instant: dt.datetime, offset_minutes: int
) -> None:
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    local = instant.replace(tzinfo=dt.UTC).astimezone(zone)
    parsed = parse_dates(pd.Series([local.isoformat()]), None)
    assert parsed.iloc[0] == pd.Timestamp(instant)
