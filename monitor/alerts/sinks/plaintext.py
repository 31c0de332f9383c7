"""A message as plain text, for the channels that take no markup: an email's text part,
Apprise's body and ntfy's message (whose alerts carry a mark and a cap of their own). Pure:
the words are `wording.py`'s, this only lays them out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def text_of(
    shown: Sequence[AlertLines],
    rest: str,
    link: str,
    render: Callable[[AlertLines], str] = alert_text,
) -> str:
    """The alerts, each as `render` writes it, then the rest counted, then where all of
    them are."""
    parts = [render(lines) for lines in shown]
    if rest:
        parts.append(f"…and {rest}.")
    parts.append(f"All alerts: {link}")
    return "\n\n".join(parts)
