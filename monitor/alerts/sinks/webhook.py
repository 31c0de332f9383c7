"""The generic webhook: Alertmanager webhook v4 bodies, at most 200 alerts each, and the HMAC
signature header. Pure but for the HTTP attempt it shares."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from monitor.alerts.engine import AlertEvent, AlertStatus
from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Context
from monitor.alerts.sinks.http import HttpChannel, SinkRequest, json_headers
from monitor.config import SinkConfig, SinkType, route_key
from monitor.timefmt import rfc3339

SIGNATURE_HEADER = "X-Pixverse-Monitor-Signature"
ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager sends as endsAt of a firing alert
# Alerts in one POST; a notification with more is sent as several, in order. Receivers built
# for Alertmanager are used to groups of about this size, and a body stays well under 1 MB.
MAX_ALERTS_PER_POST = 200


class Webhook(HttpChannel):
    """The Alertmanager webhook payload, POSTed to the configured URL, signed when the sink
    has a secret: one payload per notification, or one per 200 of its alerts."""

    type = SinkType.WEBHOOK

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        events = notification.events
        parts = [
            events[i : i + MAX_ALERTS_PER_POST] for i in range(0, len(events), MAX_ALERTS_PER_POST)
        ]
        group_key = f"{route_key(sink.matchers)}:{{}}"
        return [
            _signed(
                sink,
                webhook_body(part, sink.name, context.external_url, group_key),
                part_key(notification.id, number, len(parts)),
                context.now,
            )
            for number, part in enumerate(parts, 1)
        ]


def part_key(notification_id: str, number: int, parts: int) -> str:
    """The Idempotency-Key of one POST of a notification: its id, and for a notification
    sent as several POSTs, which of them (`<id>-2of3`), the same at every retry and across
    restarts."""
    return notification_id if parts == 1 else f"{notification_id}-{number}of{parts}"


def _signed(sink: SinkConfig, body: bytes, key: str, now: float) -> SinkRequest:
    headers = json_headers(key)
    if sink.secret is not None:
        # Signed at each attempt: the timestamp tells the receiver how fresh it is.
        headers[SIGNATURE_HEADER] = signature(sink.secret.reveal(), int(now), body)
    return SinkRequest(sink.url.reveal(), body, headers)


def webhook_body(
    events: Sequence[AlertEvent], receiver: str, external_url: str, group_key: str
) -> bytes:
    """The Alertmanager webhook payload (version 4) of these events, as Alertmanager writes
    it for a route with the sink's matchers and `group_by: []`: every alert of the burst in
    one group, so no group labels, and common labels and annotations those all share."""
    alerts = [_alert(event, external_url) for event in events]
    firing = any(event.status is AlertStatus.FIRING for event in events)
    document = {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": AlertStatus.FIRING.value if firing else AlertStatus.RESOLVED.value,
        "receiver": receiver,
        "groupLabels": {},
        "commonLabels": _common(a["labels"] for a in alerts),
        "commonAnnotations": _common(a["annotations"] for a in alerts),
        "externalURL": external_url,
        "alerts": alerts,
    }
    return orjson.dumps(document)


def _alert(event: AlertEvent, external_url: str) -> dict[str, Any]:
    alert = event.alert
    ends = event.ends_at_unix if event.status is AlertStatus.RESOLVED else None
    return {
        "status": event.status.value,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": rfc3339(event.starts_at_unix),
        "endsAt": rfc3339(ends) if ends is not None else ZERO_TIME,
        "generatorURL": f"{external_url}/metrics",
        "fingerprint": alert.fingerprint,
    }


def _common(mappings: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every mapping has (Alertmanager's commonLabels, commonAnnotations)."""
    found = iter(mappings)
    common = dict(next(found, {}))
    for mapping in found:
        common = {k: v for k, v in common.items() if mapping.get(k) == v}
    return common


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: receivers recompute and compare."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str, body: bytes, now: float, tolerance_seconds: float = 300
) -> bool:
    """What a receiver does with the signature header: recompute, compare in constant time,
    and refuse old timestamps (replays)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp = fields.get("t", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_seconds:
        return False
    expected = signature(secret, int(timestamp), body)
    return hmac.compare_digest(expected, header)
