"""Durations as the config writes them, and as tables show them; HTTP dates as servers write
them."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.timefmt import (
    MAX_DURATION,
    format_duration,
    format_time_left,
    format_ttl,
    http_date_unix,
    parse_duration,
    readable_utc,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("72h", 259200),
        ("7d", 604800),
        ("1w", 604800),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1.5h", 5400),
        ("0.001ms", 0.000001),
        ("1s0.5ms", 1.0005),
        ("0.1s", 0.1),
        (300, 300),
        ("300", 300),
        (" 15s ", 15),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "bad",
    ["", "5", "5x", "m5", "5 m", "-5m", -1, True, 1.5, None, [], "1h-5m", "²", 10**18, "9" * 30],
)
def test_parse_duration_rejects(bad: object) -> None:
    if bad == "5":  # bare digits are seconds, as integers are
        assert parse_duration(bad) == timedelta(seconds=5)
        return
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@given(st.timedeltas(min_value=timedelta(0), max_value=MAX_DURATION))
def test_format_duration_round_trips_exactly(delta: timedelta) -> None:
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(
    "huge", ["3650d1us", "3651d", "999999999999d", "9" * 400 + "s", "9" * 40, 2**63 - 1, 10**400]
)
def test_durations_past_ten_years_are_refused(huge: object) -> None:
    # Past it a duration is a typo, and the date arithmetic it feeds would overflow.
    if huge == "3650d1us":
        huge = format_duration(MAX_DURATION + timedelta(microseconds=1))
    with pytest.raises(ValueError, match="at most 3650d"):
        parse_duration(huge)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=5400), "1h30m"),
        (timedelta(days=8, seconds=1), "8d1s"),
        (timedelta(milliseconds=1500), "1s500ms"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(microseconds=1), "0.001ms"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2 * 86400 + 3 * 3600 + 59, "2d 3h"),
        (5 * 3600 + 12 * 60 + 5, "5h 12m"),
        (125, "2m 5s"),
        (42.9, "42s"),
        (0, "0s"),
        (-(3 * 3600 + 5 * 60), "-3h 5m"),
    ],
)
def test_format_ttl(seconds: float, text: str) -> None:
    assert format_ttl(seconds) == text


NOV_6_1994 = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate, what servers send
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850, obsolete
        "Sun Nov  6 08:49:37 1994",  # asctime, obsolete
        " Sun, 06 Nov 1994 08:49:37 GMT ",
    ],
)
def test_the_three_forms_of_an_http_date(text: str) -> None:
    assert http_date_unix(text, NOV_6_1994) == NOV_6_1994


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37 +0200",  # not GMT
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 31 Feb 1994 08:49:37 GMT",  # no such day
        "Sun, 06 Nov 1994 25:00:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, \uff10\uff16 Nov 1994 08:49:37 GMT",  # full-width digits
        "Sun, 06 Nov 99999 08:49:37 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT junk",
        "3600",  # a Retry-After, not a date
    ],
)
def test_anything_else_is_no_http_date(text: str | None) -> None:
    assert http_date_unix(text, NOV_6_1994) is None


def test_a_two_digit_year_is_the_one_at_most_50_years_ahead() -> None:
    in_2026 = datetime(2026, 12, 6, tzinfo=UTC).timestamp()
    assert http_date_unix("Sunday, 06-Nov-94 08:49:37 GMT", in_2026) == NOV_6_1994
    nov_2026 = datetime(2026, 11, 6, 8, 49, 37, tzinfo=UTC).timestamp()
    assert http_date_unix("Friday, 06-Nov-26 08:49:37 GMT", in_2026) == nov_2026


def test_a_leap_second_is_the_last_of_its_minute() -> None:
    last = datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert http_date_unix("Sat, 31 Dec 2016 23:59:60 GMT", last) == last


@given(st.integers(min_value=0, max_value=253_402_300_799))
def test_an_http_date_reads_back_as_written(unix: int) -> None:
    assert http_date_unix(email.utils.formatdate(unix, usegmt=True), unix) == unix


@pytest.mark.parametrize(
    ("ttl", "words"),
    [
        (None, "unknown"),
        (2 * 86400 + 3 * 3600 + 59, "2d 3h"),
        (5 * 3600 + 12 * 60, "5h 12m"),
        (42.9, "42s"),
        (0.0, "expired 0s ago"),
        (-(3 * 3600 + 5 * 60), "expired 3h 5m ago"),
    ],
)
def test_time_left_in_words(ttl: float | None, words: str) -> None:
    assert format_time_left(ttl) == words


def test_a_readable_utc_time() -> None:
    assert readable_utc(1_800_000_005.9) == "2027-01-15 08:00 UTC"
    assert readable_utc(1_800_000_005.9, seconds=True) == "2027-01-15 08:00:05 UTC"
    # For a column whose heading says UTC (check's table).
    assert readable_utc(1_800_000_005.9, seconds=True, zone=False) == "2027-01-15 08:00:05"
