"""Alertmanager API v2: postable alerts, re-sent while firing, ended on resolution. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from monitor.alerts.alert import Alert
from monitor.alerts.engine import AlertEvent, FiringAlert
from monitor.alerts.sinks.http import SinkRequest, json_headers
from monitor.config import SinkConfig
from monitor.timefmt import rfc3339

# A firing alert posted to Alertmanager stays firing this long unless posted again; we post
# every minute, so it only lapses when every monitor replica is gone.
ALERTMANAGER_RESEND_SECONDS = 60.0
ALERTMANAGER_VALIDITY_SECONDS = 4 * ALERTMANAGER_RESEND_SECONDS
_API_PATH = "/api/v2/alerts"

# (alert, starts_at, ended_at or None while firing)
_Item = tuple[Alert, float, float | None]


def request(sink: SinkConfig, event: AlertEvent, external_url: str, now: float) -> SinkRequest:
    """POST the event's alert. After a severity change, the end of the alert under its old
    severity is an event of its own, held back a grace (see outbox.notifications_for)."""
    items: list[_Item] = [(event.alert, event.starts_at_unix, event.ends_at_unix)]
    body = alertmanager_body(items, now, external_url)
    return SinkRequest(sink.url.reveal() + _API_PATH, body, json_headers(event.id))


def resend_request(
    sink: SinkConfig, firing: Sequence[FiringAlert], external_url: str, now: float
) -> SinkRequest:
    """The periodic re-send of everything firing, which keeps it alive in Alertmanager."""
    items: list[_Item] = [(f.alert, f.starts_at_unix, None) for f in firing]
    body = alertmanager_body(items, now, external_url)
    return SinkRequest(sink.url.reveal() + _API_PATH, body, json_headers(None))


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
