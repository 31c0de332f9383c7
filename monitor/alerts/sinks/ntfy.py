"""ntfy: the message as plain text POSTed to the topic URL, with Title, Priority, Tags and
Click headers, within ntfy's 4,096 bytes (beyond, ntfy makes the message an attachment).
Pure but for the HTTP attempt it shares."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Context
from monitor.alerts.sinks.http import HttpChannel, SinkRequest
from monitor.alerts.sinks.plaintext import text_of
from monitor.alerts.sinks.wording import MARKS, AlertLines, Digest, digest, longest_rest_text
from monitor.config import SinkConfig, SinkType

MAX_MESSAGE_BYTES = 4096  # ntfy's limit for a message; a longer one becomes an attachment
# One alert's part of a message, at most: so that the most urgent always fits, cut short.
MAX_ALERT_BYTES = 1024
# ntfy's priorities (1 min .. 5 max): a critical alert is urgent, a warning high; a message
# with nothing but resolutions makes no noise beyond the default.
_PRIORITY = {"CRITICAL": "5", "WARNING": "4", "RESOLVED": "3"}
# Emoji shortcodes ntfy shows in front of the title.
_TAGS = {"CRITICAL": "rotating_light", "WARNING": "warning", "RESOLVED": "white_check_mark"}
# RFC 2047 encoded words are at most 75 characters: 45 bytes of UTF-8 make 60 in base64.
_WORD_BYTES = 45


class Ntfy(HttpChannel):
    """A push message to an ntfy topic: its URL names the topic (and is as good as a
    password), an optional access token is sent as Bearer."""

    type = SinkType.NTFY

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        worst_rest = longest_rest_text(len(notification.events))
        said = digest(
            notification.events,
            context.now,
            context.external_url,
            fits=lambda shown: (
                len(_body(shown, worst_rest, context.external_url + "/")) <= MAX_MESSAGE_BYTES
            ),
        )
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": header_value(said.title),
            "Priority": _PRIORITY[said.loudest],
            "Tags": _TAGS[said.loudest],
            "Click": said.link,
            "Idempotency-Key": notification.id,
        }
        if sink.token is not None:
            headers["Authorization"] = f"Bearer {sink.token.reveal()}"
        body = ntfy_body(said)
        return [SinkRequest(sink.url.reveal(), body, headers)]


def ntfy_body(said: Digest) -> bytes:
    """The message: each detailed alert, then the rest counted, then where all of them are."""
    return _body(said.shown, said.rest_text(), said.link)


def _body(shown: Sequence[AlertLines], rest: str, link: str) -> bytes:
    return text_of(shown, rest, link, _alert_text).encode()


def _alert_text(lines: AlertLines) -> str:
    text = "\n".join(
        [
            f"{MARKS[lines.state]} {lines.state} · {lines.alertname}",
            f"{lines.subject} · {lines.where}",
            lines.headline,
            *([" · ".join(f"{k}: {v}" for k, v in lines.figures)] if lines.figures else []),
            lines.detail,
        ]
    )
    encoded = text.encode()
    if len(encoded) <= MAX_ALERT_BYTES:
        return text
    return encoded[: MAX_ALERT_BYTES - 3].decode("utf-8", "ignore") + "…"


def header_value(text: str) -> str:
    """A header value ntfy reads back as `text`: as it is when ASCII, else RFC 2047 encoded
    words (UTF-8, base64), which ntfy decodes (its docs: "you may also encode any header as
    RFC 2047"). HTTP headers carry ASCII only."""
    if text.isascii() and text.isprintable():
        return text
    raw = text.encode()
    words = []
    while raw:
        cut = min(len(raw), _WORD_BYTES)
        while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:  # never inside a character
            cut -= 1
        words.append(f"=?UTF-8?B?{base64.b64encode(raw[:cut]).decode()}?=")
        raw = raw[cut:]
    return " ".join(words)
