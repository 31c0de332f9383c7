"""Notifications waiting for delivery, one per (event, sink), and the retry schedule. Pure."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.alerts.engine import AlertEvent, AlertStatus, Reason
from monitor.config import Severity, SinkConfig, SinkType
from monitor.retry import backoff_seconds

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0  # exponential backoff capped at 5 min (docs/notifications.md)
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
    if event.status is AlertStatus.RESOLVED:
        return sink.send_resolved and event.peak_severity.rank >= sink.min_severity.rank
    return event.alert.severity.rank >= sink.min_severity.rank


def notifications_for(
    events: Sequence[AlertEvent], sinks: Iterable[SinkConfig], now: float
) -> list[Notification]:
    """One notification per event and sink that wants it, in event order, due at `now`; for
    an alertmanager sink, see `_for_alertmanager`."""
    sinks = list(sinks)
    out: list[Notification] = []
    for event in events:
        for sink in sinks:
            if sink.type is SinkType.ALERTMANAGER:
                out.extend(_for_alertmanager(event, sink, now))
            elif wanted_by(event, sink):
                out.append(Notification(event, sink.name, 0, now))
    return out


def _for_alertmanager(event: AlertEvent, sink: SinkConfig, now: float) -> list[Notification]:
    """Alertmanager tells alerts apart by every label, severity included, so a severity change
    also ends the alert under its old severity (an event of its own here). Every end is held
    back `resolve_grace` (its endsAt stays the moment it ended): Prometheus rules raising the
    same alert into the same Alertmanager see the change a scrape and an evaluation later, and
    re-send the alert as firing until then. Sent at once, an end would let such a re-send
    bring the alert back, resolved then firing again; held back, it arrives after the rules'
    own resolution, which Alertmanager keeps, and only ends the alert by itself when no rule
    raises it. Held ends do not delay other notifications (see `Delivery`)."""
    grace = sink.resolve_grace.total_seconds()
    out = []
    if wanted_by(event, sink):
        due = now + grace if event.status is AlertStatus.RESOLVED else now
        out.append(Notification(event, sink.name, 0, due))
    if event.reason is Reason.SEVERITY_CHANGED:
        old = Severity.WARNING if event.alert.severity is Severity.CRITICAL else Severity.CRITICAL
        ended = AlertEvent(
            id=hashlib.sha256(f"{event.id}|{old.value}|ended".encode()).hexdigest()[:32],
            status=AlertStatus.RESOLVED,
            reason=Reason.RESOLVED,
            alert=dataclasses.replace(event.alert, severity=old),
            starts_at_unix=event.starts_at_unix,
            ends_at_unix=event.at_unix,
            at_unix=event.at_unix,
            peak_severity=event.peak_severity,
        )
        out.append(Notification(ended, sink.name, 0, now + grace))
    return out


def held_back(notification: Notification, now: float) -> bool:
    """An end an alertmanager sink holds back (`_for_alertmanager`): never tried yet, and not
    due. It waits without holding up the notifications behind it."""
    return (
        notification.attempts == 0
        and notification.event.status is AlertStatus.RESOLVED
        and notification.next_attempt_unix > now
    )


def alertmanager_identity(notification: Notification) -> tuple[str, str]:
    """What Alertmanager tells alerts apart by: fingerprint (alertname, source, account) and
    severity."""
    alert = notification.event.alert
    return alert.fingerprint, alert.severity.value


def retry_delay(
    attempts: int,
    retry_after_seconds: float | None,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with jitter after `attempts` failed attempts, capped; a
    Retry-After from the receiver is honoured when it asks for longer, up to the same cap: a
    receiver asking for an hour must not hold up its sink's outbox for one."""
    delay = backoff_seconds(attempts, base=base, cap=cap, rng=rng)
    if retry_after_seconds is not None:
        return max(delay, min(retry_after_seconds, cap))
    return delay
