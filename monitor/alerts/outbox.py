"""Notifications waiting for delivery, one per (event, sink), and the retry schedule. Pure."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.alerts.engine import AlertEvent, Status
from monitor.config import SinkConfig
from monitor.retry import backoff_seconds

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0  # the contract: exponential backoff capped at 5 min
RETRY_AFTER_CAP_SECONDS = 3600.0
# Per sink; beyond it the oldest notification is evicted (counted as failed), so a sink that
# is gone for good cannot grow the state file without bound.
MAX_PENDING_PER_SINK = 10_000


@dataclass(frozen=True, slots=True)
class Notification:
    """One event on its way to one sink. `id` is the event's id: the same across retries."""

    event: AlertEvent
    sink: str
    attempts: int = 0
    next_attempt_unix: float = 0.0

    @property
    def id(self) -> str:
        return self.event.id


def wanted_by(event: AlertEvent, sink: SinkConfig) -> bool:
    """`min_severity` and `send_resolved`: a resolution goes where its alert was loud enough."""
    if event.status is Status.RESOLVED:
        return sink.send_resolved and event.peak_severity.rank >= sink.min_severity.rank
    return event.alert.severity.rank >= sink.min_severity.rank


def notifications_for(
    events: Sequence[AlertEvent], sinks: Iterable[SinkConfig], now: float
) -> list[Notification]:
    """One notification per event and sink that wants it, in event order, due at `now`."""
    sinks = list(sinks)
    return [
        Notification(event, sink.name, 0, now)
        for event in events
        for sink in sinks
        if wanted_by(event, sink)
    ]


def retry_delay(
    attempts: int,
    retry_after_seconds: float | None,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with jitter after `attempts` failed attempts, capped; a
    Retry-After from the receiver is honoured when it asks for longer."""
    delay = backoff_seconds(attempts, base=base, cap=cap, rng=rng)
    if retry_after_seconds is not None:
        return max(delay, min(retry_after_seconds, RETRY_AFTER_CAP_SECONDS))
    return delay
