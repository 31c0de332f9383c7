"""The retry rule (408, 429, 5xx), Retry-After in both of its forms, capped jittered backoff."""

from __future__ import annotations

import random

import pytest

from monitor.errors import DeliveryFailure
from monitor.retry import backoff_seconds, retry_after_seconds, retryable_status

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
