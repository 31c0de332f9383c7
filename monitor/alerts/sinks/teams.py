"""Microsoft Teams: a message with one Adaptive Card (version 1.4: TextBlock, FactSet and an
Action.OpenUrl to the status page) POSTed to a Teams Workflows webhook, under Teams' 28 KB
message limit, every upstream text escaped for the markdown a TextBlock reads. Pure but for
the HTTP attempt it shares.

Microsoft's docs: "Create Incoming Webhooks",
https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook
(an Adaptive Card is sent as `{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}`; a Workflows
webhook takes the same); "Format cards in Teams",
https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format
(markdown in TextBlock and Fact: `**bold**`, `_italic_`, lists, `[title](url)`; HTML is not
read); "Text features", https://learn.microsoft.com/adaptive-cards/create/textfeatures (the
CommonMark subset, `{{DATE()}}` and `{{TIME()}}` functions). Teams refuses a message over
28 KB and answers a rate limit with 429 and `Retry-After`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Context
from monitor.alerts.sinks.http import Answer, HttpChannel, SinkRequest, body_text, json_headers
from monitor.alerts.sinks.textlimits import clip
from monitor.alerts.sinks.wording import MARKS, AlertLines, Digest, digest, longest_rest_text
from monitor.config import SinkConfig, SinkType

MAX_MESSAGE_BYTES = 28_000  # Teams: "the message size limit is 28 KB", the whole request
CARD_VERSION = "1.4"
# One alert's texts, at most: so that the most urgent always fits, cut short.
_MOST_TEXT = 500
_MOST_FIGURE = 200
_COLOUR = {"CRITICAL": "Attention", "WARNING": "Warning", "RESOLVED": "Good"}
# The CommonMark a TextBlock reads (emphasis, links, code) and what Adaptive Cards and Teams
# would read besides ({{DATE(...)}} functions, <at> mentions): a backslash shows each as it is.
_MARKDOWN = re.compile(r"([\\*_~`\[\]()<>{}#|])")
# At the start of a text: a list item ("- ", "+ ", "1. ") or a heading.
_LINE_START = re.compile(r"^(\s*)([-+=]|[0-9]+(?=[.)]))", re.MULTILINE)


class Teams(HttpChannel):
    """An Adaptive Card POSTed to the Workflows webhook URL (its `sig` is the credential)."""

    type = SinkType.TEAMS

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[SinkRequest]:
        events, now, url = notification.events, context.now, context.external_url
        worst_rest = longest_rest_text(len(events))
        title = digest(events, now, url, most=0).title

        def fits(shown: Sequence[AlertLines]) -> bool:
            card = _card(title, shown, worst_rest, f"{url}/", "CRITICAL")
            return len(orjson.dumps(message(card))) <= MAX_MESSAGE_BYTES

        said = digest(events, now, url, fits=fits)
        body = orjson.dumps(message(teams_card(said)))
        return [SinkRequest(sink.url.reveal(), body, json_headers(notification.id))]

    def refusal(self, answer: Answer) -> str:
        """ "HTTP 400: <the workflow's error message>"."""
        said = f"HTTP {answer.status}"
        text = body_text(answer, "error", "message") or body_text(answer, "message")
        return f"{said}: {text}" if text else said


def escape(text: str) -> str:
    """Text as a TextBlock shows it as it is: every character its markdown (or a card's
    date functions, or a Teams mention) could read as markup escaped with a backslash."""
    return _LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", text))


def message(card: dict[str, Any]) -> dict[str, Any]:
    """The card as the message a Workflows webhook takes."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def teams_card(said: Digest) -> dict[str, Any]:
    return _card(said.title, said.shown, said.rest_text(), said.link, said.loudest)


def _card(
    title: str, shown: Sequence[AlertLines], rest: str, link: str, loudest: str
) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text(
            f"{MARKS[loudest]} {escape(clip(title, _MOST_TEXT))}",
            size="Medium",
            weight="Bolder",
            color=_COLOUR[loudest],
        )
    ]
    for lines in shown:
        body += _alert(lines)
    end = f"…and {escape(rest)}. All of them on the status page." if rest else ""
    if end:
        body.append(_text(end, separator=True))
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Open the status page", "url": link}],
    }


def _alert(lines: AlertLines) -> list[dict[str, Any]]:
    """One alert: what and who, where, what happened, the figures, what it means."""
    out = [
        _text(
            f"{MARKS[lines.state]} **{lines.state}** · {escape(lines.alertname)}",
            color=_COLOUR[lines.state],
            separator=True,
        ),
        _text(
            f"**{escape(clip(lines.subject, _MOST_TEXT))}** · "
            + escape(clip(lines.where, _MOST_TEXT)),
            spacing="None",
        ),
        _text(escape(clip(lines.headline, _MOST_TEXT)), spacing="None"),
    ]
    if lines.figures:
        facts = [
            {"title": escape(name), "value": escape(clip(value, _MOST_FIGURE))}
            for name, value in lines.figures
        ]
        out.append({"type": "FactSet", "facts": facts, "spacing": "Small"})
    out.append(_text(escape(clip(lines.detail, 2 * _MOST_TEXT)), isSubtle=True, spacing="Small"))
    return out


def _text(text: str, **style: object) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}
