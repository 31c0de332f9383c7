"""Telegram: a Bot API `sendMessage` to a chat (and forum topic), in its HTML parse mode, at
most 4,096 characters after entities are parsed, detailing the most urgent alerts that fit and
counting the rest. Pure but for the HTTP attempt it shares.

Telegram Bot API, https://core.telegram.org/bots/api#sendmessage (`chat_id`,
`message_thread_id`, `text` "1-4096 characters after entities parsing", `parse_mode`,
`disable_web_page_preview`) and #html-style (the tags it allows; "All <, > and & symbols that
are not a part of a tag or an HTML entity must be replaced with the corresponding HTML
entities"; only `&lt;`, `&gt;`, `&amp;` and `&quot;` among named entities). A refusal is
`{"ok": false, "error_code": N, "description": "..."}`; a rate limit adds
`"parameters": {"retry_after": seconds}` (#responseparameters)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import orjson

from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Context
from monitor.alerts.sinks.http import (
    Answer,
    HttpChannel,
    SinkRequest,
    body_int,
    body_retry_after,
    body_text,
    json_headers,
)
from monitor.alerts.sinks.textlimits import clip, utf16_length
from monitor.alerts.sinks.wording import MARKS, AlertLines, Digest, digest, longest_rest_text
from monitor.config import SinkConfig, SinkType
from monitor.retry import RetryAfter

MAX_MESSAGE_LENGTH = 4096  # Telegram's limit for a message's text, after entities are parsed
# One alert's texts, at most (before escaping): so that the most urgent always fits, cut short.
_MOST = {"subject": 256, "where": 512, "headline": 512, "figure": 256, "detail": 1024}
_TAG = re.compile(r"<[^>]*>")


class Telegram(HttpChannel):
    """A message the bot sends to the chat; the bot's token is in the URL's path."""

    type = SinkType.TELEGRAM

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        events, now, url = notification.events, context.now, context.external_url
        worst_rest = longest_rest_text(len(events))
        title = digest(events, now, url, most=0).title

        def fits(shown: Sequence[AlertLines]) -> bool:
            text = _message(title, shown, worst_rest, f"{url}/")
            return visible_length(text) <= MAX_MESSAGE_LENGTH

        said = digest(events, now, url, fits=fits)
        payload: dict[str, object] = {
            "chat_id": sink.chat_id,
            "text": telegram_text(said),
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        if sink.message_thread_id is not None:
            payload["message_thread_id"] = sink.message_thread_id
        body = orjson.dumps(payload)
        return [SinkRequest(sink.url.reveal(), body, json_headers(notification.id))]

    def retry_after(self, answer: Answer, now: float) -> RetryAfter:
        return body_retry_after(answer, now, "parameters", "retry_after")

    def refusal(self, answer: Answer) -> str:
        """ "HTTP 400: Bad Request: chat not found", and where a group went when it became a
        supergroup (its chat_id changed)."""
        said = f"HTTP {answer.status}"
        description = body_text(answer, "description")
        if description:
            said += f": {description}"
        moved = body_int(answer, "parameters", "migrate_to_chat_id")
        if moved is not None:
            said += f"; the chat is now chat_id {moved}: set it in the sink"
        return said


def visible_length(text: str) -> int:
    """How long Telegram counts a message in HTML parse mode: its text once the tags are
    taken out and the entities read, in UTF-16 code units."""
    return utf16_length(html.unescape(_TAG.sub("", text)))


def telegram_text(said: Digest) -> str:
    """The message: the title, each detailed alert, the rest counted, the status page."""
    return _message(said.title, said.shown, said.rest_text(), said.link, said.loudest)


def _message(
    title: str, shown: Sequence[AlertLines], rest: str, link: str, loudest: str = "CRITICAL"
) -> str:
    parts = [f"{MARKS[loudest]} <b>{escape(clip(title, 512))}</b>"] if title else []
    parts += [_alert_text(lines) for lines in shown]
    tail = [f"…and {escape(rest)}."] if rest else []
    tail.append(f'<a href="{escape(link, quote=True)}">All alerts on the status page</a>')
    parts.append("\n".join(tail))
    return "\n\n".join(parts)


def escape(text: str, *, quote: bool = False) -> str:
    """Text as Telegram's HTML shows it as it is: `&`, `<` and `>` as entities (and `"` in an
    attribute), the only ones it reads."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


def _alert_text(lines: AlertLines) -> str:
    """One alert: what and who, where, what happened, the figures, what it means."""
    out = [
        f"{MARKS[lines.state]} <b>{lines.state}</b> · {escape(lines.alertname)}",
        f"<b>{escape(clip(lines.subject, _MOST['subject']))}</b> · "
        + escape(clip(lines.where, _MOST["where"])),
        escape(clip(lines.headline, _MOST["headline"])),
    ]
    if lines.figures:
        out.append(
            " · ".join(
                f"{escape(k)}: <b>{escape(clip(v, _MOST['figure']))}</b>" for k, v in lines.figures
            )
        )
    out.append(f"<i>{escape(clip(lines.detail, _MOST['detail']))}</i>")
    return "\n".join(out)
