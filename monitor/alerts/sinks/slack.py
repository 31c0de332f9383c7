"""Slack incoming-webhook messages: a `text` fallback plus `blocks`. Pure."""

from __future__ import annotations

from typing import Any

import orjson

from monitor.alerts.engine import AlertEvent
from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Context
from monitor.alerts.sinks.http import HttpChannel, SinkRequest, json_headers
from monitor.config import SinkConfig, SinkType
from monitor.timefmt import rfc3339

_EMOJI = {("firing", "critical"): ":rotating_light:", ("firing", "warning"): ":warning:"}


class Slack(HttpChannel):
    """A message POSTed to the incoming-webhook URL (which is itself the credential)."""

    type = SinkType.SLACK

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        return [
            SinkRequest(sink.url.reveal(), slack_body(event), json_headers(notification.id))
            for event in notification.events
        ]


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
