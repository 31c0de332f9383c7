"""email: one message per notification over SMTP (aiosmtplib, imported only when a message is
sent), every alert listed in a plain-text part and an HTML table, a subject naming the worst
of it, and a `Message-ID` made of the notification id. Pure but for the SMTP attempt."""

from __future__ import annotations

import asyncio
import html
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses

from monitor.alerts.alert import AlertName
from monitor.alerts.engine import AlertEvent, AlertStatus
from monitor.alerts.outbox import Notification
from monitor.alerts.sinks.channel import Channel, Context, SendResult, Transport
from monitor.alerts.sinks.plaintext import digest_text
from monitor.alerts.sinks.wording import AlertLines, Digest, digest
from monitor.config import EmailSettings, SinkConfig, SinkType, SmtpTls
from monitor.errors import DeliveryFailure
from monitor.secret import scrub

# What a subject says of several alerts of one kind: "3 PixVerse tokens expired".
_MANY = {
    AlertName.EXPIRING_SOON: "PixVerse tokens expiring",
    AlertName.EXPIRED: "PixVerse tokens expired",
    AlertName.EXPIRY_UNKNOWN: "PixVerse tokens of unknown expiry",
    AlertName.CAPACITY_LOW: "sources low on job capacity",
    AlertName.SOURCE_DOWN: "sources down",
    AlertName.SUBSCRIPTION_INACTIVE: "useapi.net subscriptions inactive",
    AlertName.ACCOUNTS_IN_ERROR: "sources with accounts in error",
    AlertName.PLAN_EXPIRING_SOON: "PixVerse plans ending",
    AlertName.CREDITS_LOW: "PixVerse accounts low on credits",
    AlertName.MAX_JOBS_ABOVE_PLAN: "PixVerse accounts above their plan's jobs",
    AlertName.CLOCK_SKEW: "sources whose clock disagrees",
    AlertName.MONITOR_TEST: "test alerts",
}
MAX_SUBJECT = 200  # characters; a phone shows far fewer
# SMTP's line ends (CRLF), and headers folded only past RFC 5322's limit: Python's folding at
# 78 columns can break a subject before its first word, which clients show as a blank.
_POLICY = SMTP.clone(max_line_length=998)
# A server's refusal, as quoted in the log and on the status page.
_MAX_REPLY = 200
# Colours of the state column, readable on light and dark mail clients alike.
_COLOUR = {"CRITICAL": "#c62828", "WARNING": "#b26a00", "RESOLVED": "#2e7d32"}


@dataclass(frozen=True, slots=True)
class MailRequest:
    """One message and its envelope."""

    message: bytes
    sender: str  # the envelope's MAIL FROM: the address of `from`
    recipients: tuple[str, ...] = field(repr=False)  # RCPT TO: the addresses of `to`


class Email(Channel[MailRequest]):
    """A message to one or more people over SMTP: every alert of the notification listed."""

    type = SinkType.EMAIL

    def requests(
        self, sink: SinkConfig, notification: Notification, context: Context
    ) -> list[MailRequest]:
        settings = _settings(sink)
        events = notification.events
        said = digest(events, context.now, context.external_url, most=len(events))
        message = EmailMessage(policy=_POLICY)
        message["From"] = settings.sender
        message["To"] = ", ".join(settings.recipients)
        message["Subject"] = subject(said, events)
        message["Date"] = format_datetime(datetime.fromtimestamp(context.now, UTC))
        message["Message-ID"] = message_id(notification.id, settings.sender)
        # RFC 3834: no vacation reply or other auto-answer to an alert.
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(digest_text(said), cte="quoted-printable")
        message.add_alternative(html_body(said), subtype="html", cte="quoted-printable")
        return [
            MailRequest(
                bytes(message),
                _address(settings.sender),
                tuple(_address(to) for to in settings.recipients),
            )
        ]

    async def send(
        self, sink: SinkConfig, request: MailRequest, transport: Transport
    ) -> SendResult:
        import aiosmtplib  # noqa: PLC0415 - only a config with an email sink needs it

        settings = _settings(sink)
        seconds = sink.timeout.total_seconds()
        tls = None if settings.tls is SmtpTls.NONE else _tls_context(settings)
        password = settings.password
        try:
            async with asyncio.timeout(seconds):
                await aiosmtplib.send(
                    request.message,
                    sender=request.sender,
                    recipients=list(request.recipients),
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    username=settings.username,
                    password=password.reveal() if password is not None else None,
                    use_tls=settings.tls is SmtpTls.TLS,
                    # Required, not "if offered": a login never crosses the network in clear
                    # because a server (or someone between) left STARTTLS out.
                    start_tls=settings.tls is SmtpTls.STARTTLS,
                    tls_context=tls,
                    timeout=seconds,
                )
        except (TimeoutError, aiosmtplib.SMTPTimeoutError):
            text = f"no answer within {sink.timeout}"
            return SendResult(False, True, None, None, text, DeliveryFailure.TIMEOUT)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return refused(exc.recipients[0].code, exc.recipients[0].message)
        except aiosmtplib.SMTPResponseException as exc:
            return refused(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Refused, reset, DNS, TLS, no STARTTLS on offer: the attempt failed, retried.
            text = scrub(f"{type(exc).__name__}: {exc}")[:_MAX_REPLY]
            return SendResult(False, True, None, None, text, DeliveryFailure.CONNECTION_ERROR)
        return SendResult(True, False, None, None, None)

    def describe(self, sink: SinkConfig, request: MailRequest) -> str:
        head = [
            f"SMTP {sink.url_display}",
            f"MAIL FROM:<{request.sender}>",
            *(f"RCPT TO:<{to}>" for to in request.recipients),
            "",
        ]
        return scrub("\n".join(head) + request.message.decode("ascii", "replace"))


def refused(code: int, reply: str) -> SendResult:
    """The server said no: a 4xx is for now (retried), a 5xx for good (dropped)."""
    text = scrub(f"SMTP {code} {' '.join(reply.split())}")[:_MAX_REPLY]
    if 400 <= code < 500:
        return SendResult(False, True, None, None, text, DeliveryFailure.SMTP_4XX)
    return SendResult(False, False, None, None, text, DeliveryFailure.SMTP_5XX)


def message_id(notification_id: str, sender: str) -> str:
    """The same at every attempt, so that a message sent twice (its first attempt's answer
    lost) is recognisable as one, by people and by mail clients that thread on it."""
    domain = _address(sender).rpartition("@")[2] or "pixverse-monitor.invalid"
    return f"<{notification_id}.pixverse-monitor@{domain}>"


def subject(said: Digest, events: Sequence[AlertEvent]) -> str:
    """The worst of it: "[CRITICAL] 3 PixVerse tokens expired, 27 more alerts"; one alert
    says who and what: "[CRITICAL] ana@example.com: Token expired 2h ago, at ..."."""
    first = said.shown[0]
    if len(events) == 1:
        text = f"[{first.state}] {first.subject}: {first.headline}"
    else:
        alike = sum(1 for lines in said.shown if _kind(lines) == _kind(first))
        what = _MANY.get(AlertName(first.alertname), f"{first.alertname} alerts")
        text = f"[{first.state}] {alike} {what}"
        if first.status is AlertStatus.RESOLVED:
            text = f"[RESOLVED] {alike} {what}: resolved"
        rest = len(events) - alike
        if rest:
            text += f", {rest} more alert{'s' if rest > 1 else ''}"
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "…"


def html_body(said: Digest) -> str:
    """The message as HTML: a table of every alert, each value escaped, and the link."""
    rows = "\n".join(_row(lines) for lines in said.shown)
    link = html.escape(said.link)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(said.title)}</title></head>
<body style="font-family: sans-serif">
<p><strong>{html.escape(said.title)}</strong></p>
<table cellpadding="6" style="border-collapse: collapse" border="1">
<tr><th>State</th><th>Alert</th><th>Account</th><th>Where</th><th>What happened</th>\
<th>Figures</th><th>What to do</th></tr>
{rows}
</table>
<p>All alerts, as they are now: <a href="{link}">{link}</a></p>
</body></html>
"""


def _row(lines: AlertLines) -> str:
    figures = "<br>".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in lines.figures)
    colour = _COLOUR[lines.state]
    cells = [
        f'<td style="color: {colour}"><strong>{lines.state}</strong></td>',
        f"<td>{html.escape(lines.alertname)}</td>",
        f"<td>{html.escape(lines.subject)}</td>",
        f"<td>{html.escape(lines.where)}</td>",
        f"<td>{html.escape(lines.headline)}</td>",
        f"<td>{figures}</td>",
        f"<td>{html.escape(lines.detail)}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _kind(lines: AlertLines) -> tuple[str, str]:
    return (lines.alertname, lines.state)


def _address(text: str) -> str:
    """The address of "Name <address>" (checked when the config was loaded)."""
    return getaddresses([text])[0][1]


def _settings(sink: SinkConfig) -> EmailSettings:
    if sink.email is None:
        raise ValueError(f"sink {sink.name!r} has no email settings")
    return sink.email


def _tls_context(settings: EmailSettings) -> ssl.SSLContext:
    """The system's CAs, or `ca_file`'s alone; the host name checked either way."""
    cafile = str(settings.ca_file) if settings.ca_file is not None else None
    return ssl.create_default_context(cafile=cafile)
