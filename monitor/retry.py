"""Retrying, shared by the upstream client and alert delivery: which HTTP statuses are worth
another attempt, `Retry-After` as the server means it, and exponential backoff with jitter.
Pure: `now` and randomness are passed in."""

from __future__ import annotations

import email.utils
import random


def retryable_status(status: int) -> bool:
    """408 Request Timeout, 429 Too Many Requests and every 5xx: the server may well answer
    the same request later. Any other status will not change by asking again."""
    return status in (408, 429) or 500 <= status < 600


def retry_after_seconds(value: str | None, now_unix: float) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date); None when
    absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_unix)


def backoff_seconds(
    failures: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """After `failures` failed attempts: base * 2^(failures-1), capped, then jittered down by
    up to half so that many clients do not retry in step."""
    exponential = min(cap, base * 2.0 ** max(0, failures - 1))
    return exponential * (0.5 + (rng or random).random() / 2)
