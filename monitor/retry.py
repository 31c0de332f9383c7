"""Retrying, shared by the upstream client and alert delivery: which HTTP statuses are worth
another attempt, `Retry-After` as RFC 9110 defines it, exponential backoff with jitter, and the
one rule that combines the two. Pure: `now` and randomness are passed in."""

from __future__ import annotations

import random
import re
from typing import NamedTuple

from monitor.timefmt import MAX_DURATION, http_date_unix

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
    when = http_date_unix(text, now_unix)
    if when is None:
        return RetryAfter(None, repr(value[:_QUOTED_CHARACTERS]))
    return RetryAfter(min(max(0.0, when - now_unix), _LONGEST_SECONDS))


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
