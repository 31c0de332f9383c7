"""Slack incoming-webhook messages: one per notification, a `text` fallback plus at most 50
`blocks`, detailing the most urgent alerts (20 at most) and counting the rest. Pure but for
the HTTP attempt it shares."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Context
from monitor.alerts.sinks.http import HttpChannel, SinkRequest, json_headers
from monitor.alerts.sinks.wording import AlertLines, Digest, digest
from monitor.config import SinkConfig, SinkType

MAX_BLOCKS = 50  # Slack's limit for one message
MAX_SECTION_TEXT = 3000  # ... for the text of one section block
MAX_HEADER_TEXT = 150  # ... for a header block
_EMOJI = {"CRITICAL": ":rotating_light:", "WARNING": ":warning:", "RESOLVED": ":white_check_mark:"}
# Blocks around the alerts: the header, the line counting the rest, the context line.
_FRAME_BLOCKS = 3
_MRKDWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_PARTIAL_ESCAPE = re.compile(r"&[a-z]{0,3}$")


class Slack(HttpChannel):
    """A message POSTed to the incoming-webhook URL (which is itself the credential)."""

    type = SinkType.SLACK

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        said = digest(notification.events, context.now, context.external_url, fits=_fits)
        body = slack_body(said, notification.id)
        return [SinkRequest(sink.url.reveal(), body, json_headers(notification.id))]


def _fits(shown: Sequence[AlertLines]) -> bool:
    return _FRAME_BLOCKS + 2 * len(shown) - 1 <= MAX_BLOCKS  # a divider between two alerts


def escape(text: str) -> str:
    """Text as Slack's mrkdwn shows it as it is: `&`, `<` and `>` escaped, the three it
    would read as markup (a link, a mention)."""
    return text.translate(_MRKDWN)


def slack_body(said: Digest, notification_id: str) -> bytes:
    """`text` for notifications and old clients, `blocks` for the channel."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": said.title[:MAX_HEADER_TEXT]}}
    ]
    for index, lines in enumerate(said.shown):
        if index:
            blocks.append({"type": "divider"})
        blocks.append(_section(_alert_text(lines)))
    link = f"<{escape(said.link)}|status page>"
    if said.rest:
        blocks.append(_section(f"…and {escape(said.rest_text())}. All of them on the {link}."))
    else:
        blocks.append(_section(f"Every alert on the {link}."))
    context = f"notification {notification_id}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    first = said.shown[0].headline if said.shown else ""
    text = escape(f"{said.title}: {first}" if len(said.shown) == 1 else said.title)
    return orjson.dumps({"text": f"{_EMOJI[said.loudest]} {text}", "blocks": blocks})


def _alert_text(lines: AlertLines) -> str:
    """One alert: what and who, where, what happened, the figures, what to do."""
    parts = [
        f"{_EMOJI[lines.state]} *{lines.state}* · {escape(lines.alertname)}",
        f"*{escape(lines.subject)}* · {escape(lines.where)}",
        escape(lines.headline),
    ]
    if lines.figures:
        parts.append(" · ".join(f"{escape(k)}: *{escape(v)}*" for k, v in lines.figures))
    parts.append(escape(lines.detail))
    text = "\n".join(parts)
    if len(text) <= MAX_SECTION_TEXT:
        return text
    # Cut short, never inside an escape (which would show as text).
    return _PARTIAL_ESCAPE.sub("", text[: MAX_SECTION_TEXT - 1]) + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
