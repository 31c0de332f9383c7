"""A message as plain text, for the channels that take no markup: an email's text part and
Apprise's body. Pure: the words are `wording.py`'s, this only lays them out."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.alerts.sinks.wording import AlertLines, Digest


def alert_text(lines: AlertLines) -> str:
    """One alert: what and who, where, what happened, its figures, what to do."""
    figures = " · ".join(f"{name}: {value}" for name, value in lines.figures)
    return "\n".join(
        [
            f"{lines.state} · {lines.alertname}",
            f"{lines.subject} · {lines.where}",
            lines.headline,
            *([figures] if figures else []),
            lines.detail,
        ]
    )


def digest_text(said: Digest) -> str:
    """The alerts it details, then the rest counted, then where all of them are."""
    return text_of(said.shown, said.rest_text(), said.link)


def text_of(shown: Sequence[AlertLines], rest: str, link: str) -> str:
    parts = [alert_text(lines) for lines in shown]
    if rest:
        parts.append(f"…and {rest}.")
    parts.append(f"All alerts: {link}")
    return "\n\n".join(parts)
