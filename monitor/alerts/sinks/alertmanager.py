"""Alertmanager API v2: postable alerts, re-sent while firing, ended on resolution, each end
held back the sink's `resolve_grace`. Pure but for the HTTP attempt it shares."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from monitor.alerts.alert import Alert
from monitor.alerts.engine import AlertEvent, AlertStatus, FiringAlert, Reason
from monitor.alerts.outbox import Batch, Notification, routes, routes_alert
from monitor.alerts.sinks.channel import Context
from monitor.alerts.sinks.http import HttpChannel, SinkRequest, json_headers
from monitor.config import SinkConfig, SinkType
from monitor.timefmt import rfc3339

# A firing alert posted to Alertmanager stays firing this long unless posted again; we post
# every minute, so it only lapses when every monitor replica is gone.
ALERTMANAGER_RESEND_SECONDS = 60.0
ALERTMANAGER_VALIDITY_SECONDS = 4 * ALERTMANAGER_RESEND_SECONDS
_API_PATH = "/api/v2/alerts"

# (alert, starts_at, ended_at or None while firing)
_Item = tuple[Alert, float, float | None]


class Alertmanager(HttpChannel):
    """Alertmanager does routing, grouping, silences and dedup across monitor replicas; this
    keeps what it holds equal to what fires here: what starts firing in one POST, what ends
    in another, `resolve_grace` later, and everything firing again every minute."""

    type = SinkType.ALERTMANAGER
    resend_seconds = ALERTMANAGER_RESEND_SECONDS

    def batches(self, sink: SinkConfig, events: Sequence[AlertEvent], now: float) -> list[Batch]:
        """Firing alerts at once; every end held back `resolve_grace` (its endsAt stays the
        moment it ended). Prometheus rules raising the same alert into the same Alertmanager
        see the change a scrape and an evaluation later, and re-send the alert as firing until
        then. Sent at once, an end would let such a re-send bring the alert back, resolved
        then firing again; held back, it arrives after the rules' own resolution, which
        Alertmanager keeps, and only ends the alert by itself when no rule raises it.
        Alertmanager tells alerts apart by every label, so an alert whose labels changed is
        posted under the new ones at once and ended under the old ones, or Alertmanager would
        show both for minutes: held back too after a severity change (rules raise that), at
        once after a change of its [[accounts]] labels alone (a reload)."""
        firing: list[AlertEvent] = []  # and the ends of what only changed its own labels
        ends: list[AlertEvent] = []  # held back the grace
        for event in events:
            if routes(event, sink):
                (ends if event.status is AlertStatus.RESOLVED else firing).append(event)
            old = event.replaces
            if old is not None and routes_alert(old, sink):  # it was posted under the old
                # The shipped rules raise alerts under alertname, severity, source and
                # account only: an end under the old [[accounts]] labels can go at once.
                held = old.severity is not event.alert.severity
                (ends if held else firing).append(_ended(event, old))
        grace = sink.resolve_grace.total_seconds()
        if not grace:  # nothing held back: all of it in one POST
            return [Batch((*firing, *ends), now)] if firing or ends else []
        out = [Batch(tuple(firing), now)] if firing else []
        if ends:
            out.append(Batch(tuple(ends), now + grace, held=True))
        return out

    def supersede(
        self, held: tuple[AlertEvent, ...], new: Sequence[AlertEvent]
    ) -> tuple[AlertEvent, ...]:
        """An alert that ends and starts again within the grace: its held-back end is dropped,
        so Alertmanager, which still holds it firing, sees it go on rather than end and start
        again."""
        starting = {_identity(e.alert) for e in new if e.status is AlertStatus.FIRING}
        return tuple(e for e in held if _identity(e.alert) not in starting)

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        items: list[_Item] = [
            (e.alert, e.starts_at_unix, e.ends_at_unix) for e in notification.events
        ]
        body = alertmanager_body(items, context.now, context.external_url)
        return [SinkRequest(sink.url.reveal() + _API_PATH, body, json_headers(notification.id))]

    def resend(
        self, sink: SinkConfig, firing: Sequence[FiringAlert], context: Context
    ) -> SinkRequest | None:
        """Everything firing, which keeps it alive in Alertmanager."""
        if not firing:
            return None
        items: list[_Item] = [(f.alert, f.starts_at_unix, None) for f in firing]
        body = alertmanager_body(items, context.now, context.external_url)
        return SinkRequest(sink.url.reveal() + _API_PATH, body, json_headers(None))


def _identity(alert: Alert) -> frozenset[tuple[str, str]]:
    """What Alertmanager tells alerts apart by: all their labels."""
    return frozenset(alert.labels.items())


def _ended(event: AlertEvent, old: Alert) -> AlertEvent:
    """The end of `old`, the alert under the labels it had before `event`."""
    key = f"{event.id}|{sorted(old.labels.items())}|ended"
    return AlertEvent(
        id=hashlib.sha256(key.encode()).hexdigest()[:32],
        status=AlertStatus.RESOLVED,
        reason=Reason.RESOLVED,
        alert=old,
        starts_at_unix=event.starts_at_unix,
        ends_at_unix=event.at_unix,
        at_unix=event.at_unix,
        peak_severity=event.peak_severity,
    )


def alertmanager_alert(
    alert: Alert, starts_at_unix: float, ends_at_unix: float, external_url: str
) -> dict[str, Any]:
    """One postable alert of Alertmanager's API v2."""
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339(starts_at_unix),
        "endsAt": rfc3339(ends_at_unix),
        "generatorURL": f"{external_url}/metrics",
    }


def alertmanager_body(events: Sequence[_Item], now: float, external_url: str) -> bytes:
    """POST /api/v2/alerts body: firing alerts valid for a few re-send periods, resolved ones
    with their end."""
    return orjson.dumps(
        [
            alertmanager_alert(
                alert,
                starts,
                ended if ended is not None else now + ALERTMANAGER_VALIDITY_SECONDS,
                external_url,
            )
            for alert, starts, ended in events
        ]
    )
