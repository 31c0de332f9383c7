"""Retry timing: Retry-After in both of its forms, and capped jittered backoff."""

from __future__ import annotations

import random

import pytest

from monitor.retry import backoff_seconds, retry_after_seconds

NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Fri, 15 Jan 2027 08:00:42 GMT", 42.0),
        ("Fri, 15 Jan 2027 07:59:00 GMT", 0.0),  # in the past: now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header, NOW) == seconds


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
