"""What each sink type receives: Alertmanager webhook v4 bodies, Slack messages, Alertmanager
API v2 alerts, and the HMAC signature header. Pure: bytes out of events."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from monitor.alerts import Alert, AlertEvent

SIGNATURE_HEADER = "X-Pixverse-Monitor-Signature"
ZERO_TIME = "0001-01-01T00:00:00Z"  # what Alertmanager sends as endsAt of a firing alert
# A firing alert posted to Alertmanager stays firing this long unless posted again; we post
# every minute, so it only lapses when every monitor replica is gone.
ALERTMANAGER_RESEND_SECONDS = 60.0
ALERTMANAGER_VALIDITY_SECONDS = 4 * ALERTMANAGER_RESEND_SECONDS


def rfc3339(unix: float) -> str:
    return (
        datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


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


_EMOJI = {("firing", "critical"): ":rotating_light:", ("firing", "warning"): ":warning:"}


def slack_body(event: AlertEvent) -> bytes:
    """An incoming-webhook message: `text` for notifications and old clients, `blocks` for
    the channel."""
    alert = event.alert
    state = event.status.value
    emoji = _EMOJI.get((state, alert.severity.value), ":white_check_mark:")
    title = f"[{state.upper()}:{alert.severity.value}] {alert.name.value}"
    where = f"{alert.source}/{alert.account}" if alert.account else alert.source
    text = f"{emoji} {title} {where}: {alert.summary}"
    fields = [f"*Source*\n{alert.source}"]
    if alert.account:
        fields.append(f"*Account*\n{alert.account}")
    for key, name in (
        ("expires_at", "Expires at"),
        ("ttl_seconds", "TTL (s)"),
        ("max_jobs", "maxJobs"),
    ):
        value = alert.details.get(key)
        if value:
            fields.append(f"*{name}*\n{value}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{title}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} *{alert.summary}*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.description}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{event.reason.value} at {rfc3339(event.at_unix)} · id {event.id}",
                }
            ],
        },
    ]
    return orjson.dumps({"text": text, "blocks": blocks})


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


def alertmanager_body(
    events: Sequence[tuple[Alert, float, float | None]], now: float, external_url: str
) -> bytes:
    """POST /api/v2/alerts body: firing alerts valid for a few re-send periods, resolved ones
    with their end. Each item is (alert, starts_at, ended_at or None)."""
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
