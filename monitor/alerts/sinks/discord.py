"""Discord: an execute-webhook request with a line of `content` and one embed per detailed
alert, within Discord's limits, every upstream text escaped for its markdown and no mention
ever parsed. Pure but for the HTTP attempt it shares.

Discord's docs: Execute Webhook, https://discord.com/developers/docs/resources/webhook#execute-webhook
(`content` up to 2,000 characters, up to 10 `embeds`, `allowed_mentions`, `?wait=true` to be
answered with the message or the error); Embed Limits,
https://discord.com/developers/docs/resources/message#embed-object-embed-limits (title 256,
description 4,096, up to 25 fields, field name 256 and value 1,024, footer 2,048, and 6,000
characters across every embed of a message); Allowed Mentions (`"parse": []` pings no one);
Rate Limits, https://discord.com/developers/docs/topics/rate-limits (a 429 says
`retry_after`, seconds as a float, in its JSON body and in `Retry-After`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

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
from monitor.alerts.sinks.textlimits import clip, clip_escaped, utf16_length
from monitor.alerts.sinks.wording import MARKS, AlertLines, Digest, digest
from monitor.config import SinkConfig, SinkType
from monitor.retry import RetryAfter

MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000  # characters across the embeds of one message
MAX_CONTENT = 2000
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
# One alert's texts, at most (before escaping, which may double them): so that the most urgent
# always fits, cut short.
_MOST_TEXT = 300
_MOST_FIGURE = 100
_COLOUR = {"CRITICAL": 0xE01E5A, "WARNING": 0xECB22E, "RESOLVED": 0x2EB67D}
# What Discord's markdown reads anywhere (emphasis, spoilers, code, links, a <@mention> or
# <t:timestamp>, an @everyone), and at the start of a line (a heading, a quote, a list, -#
# subtext); a backslash before one shows it as it is.
_MARKDOWN = re.compile(r"([\\*_~`|\[\]()<]|@(?=everyone|here))")
_LINE_START = re.compile(r"^(\s*)([-#>+]|[0-9]+(?=[.)]))", re.MULTILINE)


class Discord(HttpChannel):
    """A message POSTed to the webhook URL (which is itself the credential)."""

    type = SinkType.DISCORD

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        said = digest(notification.events, context.now, context.external_url, fits=_fits)
        body = orjson.dumps(discord_payload(said))
        return [SinkRequest(_waiting(sink.url.reveal()), body, json_headers(notification.id))]

    def retry_after(self, answer: Answer, now: float) -> RetryAfter:
        return body_retry_after(answer, now, "retry_after")

    def refusal(self, answer: Answer) -> str:
        """ "HTTP 404: Unknown Webhook (10015)": Discord's message and error code."""
        said = f"HTTP {answer.status}"
        message = body_text(answer, "message")
        if message:
            said += f": {message}"
            code = body_int(answer, "code")
            if code is not None:
                said += f" ({code})"
        return said


def _waiting(url: str) -> str:
    """The webhook URL with `wait=true`: Discord then answers whether the message was made
    (and why not), rather than 204 before it tried."""
    return url + ("&" if "?" in url else "?") + "wait=true"


def _fits(shown: Sequence[AlertLines]) -> bool:
    embeds = [_embed(lines, "") for lines in shown]
    return len(embeds) <= MAX_EMBEDS and sum(map(embed_length, embeds)) <= MAX_EMBED_TOTAL


def escape(text: str) -> str:
    """Text as Discord's markdown shows it as it is: every character it could read as
    markup (emphasis, a heading, a list, a quote, a link, a mention, an emoji) escaped."""
    return _LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", text))


def embed_length(embed: dict[str, Any]) -> int:
    """What an embed counts towards the 6,000 characters of a message."""
    texts = [embed.get("title", ""), embed.get("description", "")]
    texts += [embed.get("footer", {}).get("text", ""), embed.get("author", {}).get("name", "")]
    for field in embed.get("fields", []):
        texts += [field["name"], field["value"]]
    return sum(map(utf16_length, texts))


def discord_payload(said: Digest) -> dict[str, Any]:
    """`content` says what this is and where every alert is; an embed details each alert."""
    link = f"[status page](<{said.link}>)"
    rest = f"…and {escape(said.rest_text())}. All of them on the {link}."
    tail = rest if said.rest else f"Every alert on the {link}."
    head = clip_escaped(escape(said.title), MAX_CONTENT - len(tail) - 16)
    return {
        "content": f"{MARKS[said.loudest]} **{head}**\n{tail}",
        "embeds": [_embed(lines, said.link) for lines in said.shown],
        "allowed_mentions": {"parse": []},
    }


def _embed(lines: AlertLines, link: str) -> dict[str, Any]:
    # The title holds no text from upstream or the config: the alert's own words only.
    title = f"{MARKS[lines.state]} {lines.state} · {lines.alertname}"
    description = "\n".join(
        [
            f"**{escape(clip(lines.subject, _MOST_TEXT))}** · "
            + escape(clip(lines.where, _MOST_TEXT)),
            escape(clip(lines.headline, _MOST_TEXT)),
            escape(clip(lines.detail, 2 * _MOST_TEXT)),
        ]
    )
    embed: dict[str, Any] = {
        "title": clip(title, MAX_TITLE),
        "description": clip_escaped(description, MAX_DESCRIPTION),
        "color": _COLOUR[lines.state],
    }
    if link:
        embed["url"] = link
    if lines.figures:
        embed["fields"] = [
            {
                "name": name,  # the monitor's own words, never markup
                "value": escape(clip(value, _MOST_FIGURE)),
                "inline": True,
            }
            for name, value in lines.figures[:MAX_FIELDS]
        ]
    return embed
