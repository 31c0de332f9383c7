"""The retry rule (408, 429, 5xx), Retry-After as RFC 9110 defines it (ASCII digits or an
HTTP-date, anything else ignored), capped jittered backoff."""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.errors import DeliveryFailure
from monitor.retry import backoff_seconds, read_retry_after, retry_delay, retryable_status
from monitor.timefmt import MAX_DURATION

NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT


@pytest.mark.parametrize(
    ("status", "retryable", "reason"),
    [
        (408, True, DeliveryFailure.HTTP_408),
        (429, True, DeliveryFailure.HTTP_429),
        (500, True, DeliveryFailure.HTTP_5XX),
        (503, True, DeliveryFailure.HTTP_5XX),
        (599, True, DeliveryFailure.HTTP_5XX),
        (400, False, DeliveryFailure.HTTP_4XX),
        (401, False, DeliveryFailure.HTTP_4XX),
        (404, False, DeliveryFailure.HTTP_4XX),
        (409, False, DeliveryFailure.HTTP_4XX),
        (499, False, DeliveryFailure.HTTP_4XX),
        (301, False, DeliveryFailure.HTTP_OTHER),
        (304, False, DeliveryFailure.HTTP_OTHER),
        (600, False, DeliveryFailure.HTTP_OTHER),
        (999, False, DeliveryFailure.HTTP_OTHER),
    ],
)
def test_the_one_retry_rule_and_the_failure_reason_of_a_status(
    status: int, retryable: bool, reason: DeliveryFailure
) -> None:
    assert retryable_status(status) is retryable
    assert DeliveryFailure.of_status(status) is reason


TEN_YEARS = MAX_DURATION.total_seconds()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("\t120", 120.0),
        ("007", 7.0),
        ("99999999999", TEN_YEARS),  # capped at the longest duration anything may have
        ("9" * 5000, TEN_YEARS),  # never handed to int()
        ("Fri, 15 Jan 2027 08:00:42 GMT", 42.0),  # IMF-fixdate
        ("Friday, 15-Jan-27 08:00:42 GMT", 42.0),  # the obsolete RFC 850 form
        ("Fri Jan 15 08:00:42 2027", 42.0),  # asctime
        ("Fri Jan  5 08:00:00 2027", 0.0),  # asctime pads the day with a space; past: now
        ("Fri, 15 Jan 2027 07:59:00 GMT", 0.0),  # in the past: now
        ("Fri, 15 Jan 2027 08:00:60 GMT", 59.0),  # a leap second
    ],
)
def test_retry_after_per_rfc_9110(header: str, seconds: float) -> None:
    assert read_retry_after(header, NOW) == (seconds, None)


def test_no_retry_after_is_not_an_ignored_one() -> None:
    assert read_retry_after(None, NOW) == (None, None)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "soon",
        "-5",
        "1.5",
        "+5",
        "1e3",
        "5 s",
        "²",  # str.isdigit() says yes; it is no ASCII digit
        "٣",  # ARABIC-INDIC DIGIT THREE: int() reads it; RFC 9110 does not
        "\uff11\uff12",  # FULLWIDTH DIGIT ONE, TWO
        "Fri, 15 Jan 2027 08:00:42 +0000",  # an HTTP-date is in GMT, written so
        "Fri, 15 Jan 2027 08:00:42 UTC",
        "fri, 15 jan 2027 08:00:42 gmt",
        "Fri, 31 Feb 2027 08:00:42 GMT",
        "Fri, 15 Jan 2027 25:00:42 GMT",
        "Fri, 15 Jan 0000 08:00:42 GMT",
        "Fri, 15 Jan 2027 08:00:42 GMT trailing",
        "2027-01-15T08:00:42Z",
        "\x00",
    ],
)
def test_anything_else_is_ignored_and_quoted(header: str) -> None:
    read = read_retry_after(header, NOW)
    assert read.seconds is None
    assert read.ignored == repr(header)


@given(st.text(max_size=80))
def test_any_header_text_is_read_or_ignored_never_raises(header: str) -> None:
    read = read_retry_after(header, NOW)
    if read.seconds is None:
        assert read.ignored is not None and len(read.ignored) <= 64 * 4 + 2
    else:
        assert read.ignored is None
        assert 0.0 <= read.seconds <= TEN_YEARS
        # Accepted only when it is 1*DIGIT in ASCII (around optional blanks) or a date.
        text = header.strip(" \t")
        assert set(text) <= set(string.digits) or text[-3:] == "GMT" or text[-4:].isdigit()


@given(st.integers(min_value=0, max_value=10**30))
def test_any_delay_seconds_is_read_and_capped(seconds: int) -> None:
    assert read_retry_after(str(seconds), NOW).seconds == min(float(seconds), TEN_YEARS)


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [
        (1, 0.5, 1.0),
        (2, 1.0, 2.0),
        (3, 2.0, 4.0),
        (9, 128.0, 256.0),
        (10, 150.0, 300.0),
        (50, 150.0, 300.0),
    ],
)
def test_backoff_doubles_and_is_capped(failures: int, low: float, high: float) -> None:
    rng = random.Random(1)
    for _ in range(200):
        assert low <= backoff_seconds(failures, base=1.0, cap=300.0, rng=rng) <= high


@given(
    failures=st.integers(1, 30),
    asked=st.none() | st.floats(0, 1e9, allow_nan=False),
    asked_cap=st.none() | st.floats(0, 1e6, allow_nan=False),
)
def test_one_rule_combines_backoff_and_what_the_server_asks(
    failures: int, asked: float | None, asked_cap: float | None
) -> None:
    """The upstream client and every sink wait by it: the backoff, or what the server asked
    for when longer, up to its own cap."""
    base, cap = 1.0, 300.0
    backoff = backoff_seconds(failures, base=base, cap=cap, rng=random.Random(7))
    delay = retry_delay(
        failures, asked, base=base, cap=cap, asked_cap=asked_cap, rng=random.Random(7)
    )
    if asked is None:
        assert delay == backoff
    else:
        limit = cap if asked_cap is None else asked_cap
        assert delay == max(backoff, min(asked, limit))
        assert delay >= backoff
        assert delay <= max(backoff, limit)
