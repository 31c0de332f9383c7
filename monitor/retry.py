"""Retrying, shared by the upstream client and alert delivery: which HTTP statuses are worth
another attempt, `Retry-After` as RFC 9110 defines it, exponential backoff with jitter, and the
one rule that combines the two. Pure: `now` and randomness are passed in."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from typing import NamedTuple

from monitor.timefmt import MAX_DURATION

_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_LONG_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "|".join(_MONTHS)
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
# RFC 9110 section 5.6.7: the three forms of an HTTP-date a recipient must accept, ASCII only.
# Groups: day, month, year, hour, minute, second.
_IMF_FIXDATE = re.compile(rf"(?:{_DAYS}), ([0-9]{{2}}) ({_MONTH}) ([0-9]{{4}}) {_TIME} GMT")
_RFC850_DATE = re.compile(rf"(?:{_LONG_DAYS}), ([0-9]{{2}})-({_MONTH})-([0-9]{{2}}) {_TIME} GMT")
_ASCTIME_DATE = re.compile(rf"(?:{_DAYS}) ({_MONTH}) ([0-9 ][0-9]) {_TIME} ([0-9]{{4}})")
_DELAY_SECONDS = re.compile(r"[0-9]+")  # 1*DIGIT, and DIGIT is %x30-39: "²" is no digit
_LONGEST_SECONDS = MAX_DURATION.total_seconds()
# What an ignored header is quoted as in a log line: enough to recognise it, never a flood.
_QUOTED_CHARACTERS = 64


class RetryAfter(NamedTuple):
    """A `Retry-After` header as read: the seconds it asks for, or why it was ignored."""

    seconds: float | None  # None when absent or ignored
    ignored: str | None = None  # the header, quoted (repr, cut short), when it was unreadable


def retryable_status(status: int) -> bool:
    """408 Request Timeout, 429 Too Many Requests and every 5xx: the server may well answer
    the same request later. Any other status will not change by asking again."""
    return status in (408, 429) or 500 <= status < 600


def read_retry_after(value: str | None, now_unix: float) -> RetryAfter:
    """A `Retry-After` header (RFC 9110 section 10.2.3): delay-seconds (ASCII digits) or an
    HTTP-date, capped at the longest duration a setting may have (a date in the past is 0).
    Anything else is ignored, never an error: the caller falls back on its backoff, and says
    so with `ignored`."""
    if value is None:
        return RetryAfter(None)
    text = value.strip(" \t")
    if _DELAY_SECONDS.fullmatch(text):
        # Compared as text first: int() of thousands of digits is slow, then refused.
        if len(text) > len(str(int(_LONGEST_SECONDS))):
            return RetryAfter(_LONGEST_SECONDS)
        return RetryAfter(min(float(int(text)), _LONGEST_SECONDS))
    when = _http_date(text, now_unix)
    if when is None:
        return RetryAfter(None, repr(value[:_QUOTED_CHARACTERS]))
    return RetryAfter(min(max(0.0, when - now_unix), _LONGEST_SECONDS))


def _http_date(text: str, now_unix: float) -> float | None:
    """An HTTP-date in any of its three forms as Unix seconds; None for anything else."""
    if found := _IMF_FIXDATE.fullmatch(text):
        day, month, year, hour, minute, second = found.groups()
    elif found := _RFC850_DATE.fullmatch(text):
        day, month, short_year, hour, minute, second = found.groups()
        # RFC 9110: a two-digit year more than 50 years in the future is in the past century.
        this_year = datetime.fromtimestamp(max(0.0, now_unix), UTC).year
        year = str(2000 + int(short_year))
        if int(year) > this_year + 50:
            year = str(int(year) - 100)
    elif found := _ASCTIME_DATE.fullmatch(text):
        month, day, hour, minute, second, year = found.groups()
    else:
        return None
    try:
        # A leap second (60) is the last second of its minute: datetime has no 60.
        when = datetime(
            int(year),
            _MONTHS.index(month) + 1,
            int(day),
            int(hour),
            int(minute),
            min(int(second), 59),
            tzinfo=UTC,
        )
    except ValueError:  # 31 Feb, hour 25, year 0
        return None
    return when.timestamp()


def backoff_seconds(
    failures: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """After `failures` failed attempts: base * 2^(failures-1), capped, then jittered down by
    up to half so that many clients do not retry in step."""
    exponential = min(cap, base * 2.0 ** max(0, failures - 1))
    return exponential * (0.5 + (rng or random).random() / 2)


def retry_delay(
    failures: int,
    asked_seconds: float | None,
    *,
    base: float,
    cap: float,
    asked_cap: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """How long to wait after `failures` failed attempts: the backoff, or what the server
    asked for (its `Retry-After`, or a channel's own rate-limit answer) when that is longer,
    up to `asked_cap` (default `cap`): a server asking for an hour must not stall its caller
    for one. The upstream client and every sink wait by this rule."""
    delay = backoff_seconds(failures, base=base, cap=cap, rng=rng)
    if asked_seconds is None:
        return delay
    return max(delay, min(asked_seconds, cap if asked_cap is None else asked_cap))
