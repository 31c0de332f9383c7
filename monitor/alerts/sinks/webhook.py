"""The generic webhook: Alertmanager webhook v4 bodies and the HMAC signature header. Pure."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import orjson

from monitor.alerts.engine import AlertEvent
from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Context
from monitor.alerts.sinks.http import HttpChannel, SinkRequest, json_headers
from monitor.config import SinkConfig, SinkType
from monitor.timefmt import rfc3339

SIGNATURE_HEADER = "X-Pixverse-Monitor-Signature"
ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager sends as endsAt of a firing alert


class Webhook(HttpChannel):
    """The Alertmanager webhook payload, POSTed to the configured URL, signed when the sink
    has a secret."""

    type = SinkType.WEBHOOK

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        return [
            _signed(
                sink,
                webhook_body(event, sink.name, context.external_url),
                notification.id,
                context.now,
            )
            for event in notification.events
        ]


def _signed(sink: SinkConfig, body: bytes, key: str, now: float) -> SinkRequest:
    headers = json_headers(key)
    if sink.secret is not None:
        # Signed at each attempt: the timestamp tells the receiver how fresh it is.
        headers[SIGNATURE_HEADER] = signature(sink.secret.reveal(), int(now), body)
    return SinkRequest(sink.url.reveal(), body, headers)


def _group_key(labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{{}}:{{{inner}}}"


def webhook_body(event: AlertEvent, receiver: str, external_url: str) -> bytes:
    """The Alertmanager webhook payload (version 4) of one notification: one alert per
    notification, so grouping and common labels are that alert's."""
    alert = event.alert
    labels = alert.labels
    annotations = alert.annotations
    document = {
        "version": "4",
        "groupKey": _group_key(labels),
        "truncatedAlerts": 0,
        "status": event.status.value,
        "receiver": receiver,
        "groupLabels": labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": event.status.value,
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(event.starts_at_unix),
                "endsAt": rfc3339(event.ends_at_unix) if event.ends_at_unix else ZERO_TIME,
                "generatorURL": f"{external_url}/metrics",
                "fingerprint": alert.fingerprint,
            }
        ],
    }
    return orjson.dumps(document)


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
