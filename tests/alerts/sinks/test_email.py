"""The email sink against a real SMTP server on loopback (aiosmtpd): plain, STARTTLS and
implicit TLS with a self-signed certificate trusted through `ca_file`, AUTH (never in clear
unless `tls = "none"` says so), a temporary refusal retried, a permanent one dropped; each
message parsed back: both parts, the headers, and every value escaped in the HTML."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from monitor.alerts.engine import Alert, AlertEvent, AlertName, AlertStatus, Reason
from monitor.alerts.outbox import new_notification, notification_id
from monitor.alerts.sinks import CHANNELS, Context
from monitor.config.model import EmailSettings, Severity, SinkConfig, SinkType, SmtpTls
from monitor.errors import DeliveryOutcome
from monitor.secret import Secret
from tests.alerts.test_delivery import EXTERNAL, T0, run
from tests.helpers.bursts import burst
from tests.helpers.certs import self_signed
from tests.helpers.commands import cli
from tests.helpers.sinks import sink_config
from tests.helpers.smtp import FakeSmtp, Received

PASSWORD = "smtp-PASSWORD-canary-9c1e"
HOSTILE = '<b>bold</b> & "quoted" <script>alert(1)</script>'


def email_sink(port: int, tls: SmtpTls = SmtpTls.NONE, **settings: object) -> SinkConfig:
    base = sink_config("mail", "", SinkType.EMAIL)
    email = EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        tls=tls,
        sender="pixverse-monitor <alerts@example.com>",
        recipients=("Billing <billing@example.com>", "ops@example.com"),
    )
    return replace(base, email=replace(email, **settings))  # type: ignore[arg-type]


def login(password: str = PASSWORD) -> dict[str, object]:
    return {"username": "alerts", "password": Secret(password), "password_file": Path("/p")}


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


@pytest.fixture
def plain() -> Iterator[FakeSmtp]:
    with FakeSmtp("none") as server:
        yield server


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML parts of a multipart/alternative message (lines ending in
    LF: on the wire, as SMTP wants, they end in CRLF)."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    contents = (text.get_content(), html.get_content())  # type: ignore[attr-defined]
    return contents[0].replace("\r\n", "\n"), contents[1].replace("\r\n", "\n")


@pytest.mark.anyio
async def test_a_burst_is_one_message_listing_every_alert_in_text_and_html(
    plain: FakeSmtp,
) -> None:
    events = burst(30)
    hostile = replace(events[0].alert, account=f"{HOSTILE}@x.io", extra_labels=(("team", HOSTILE),))
    events[0] = replace(events[0], alert=hostile)
    harness = await run(
        [email_sink(plain.port)], events, lambda h: h.count("mail", DeliveryOutcome.DELIVERED)
    )
    (received,) = plain.received
    assert received.sender == "alerts@example.com"
    assert received.recipients == ("billing@example.com", "ops@example.com")
    assert not received.encrypted and received.login is None
    message = received.message
    ident = notification_id("mail", [e.id for e in events])
    assert message["Message-ID"] == f"<{ident}.pixverse-monitor@example.com>"
    assert message["From"] == "pixverse-monitor <alerts@example.com>"
    assert message["To"] == "Billing <billing@example.com>, ops@example.com"
    assert message["Subject"] == "[CRITICAL] 15 PixVerse tokens expiring, 15 more alerts"
    assert message["Auto-Submitted"] == "auto-generated"
    assert abs(parsedate_to_datetime(message["Date"]).timestamp() - time.time()) < 60
    text, html = parts(message)
    # Every alert, not cut: 30 in the text and 30 rows (and a header row) in the table.
    assert text.count(" · PixverseTokenExpiringSoon\n") == 30
    assert html.count("<tr>") == 31
    assert "more:" not in text
    # The text part as written; the HTML part escaped, nowhere raw.
    assert f"{HOSTILE}@x.io · source main · team {HOSTILE}" in text
    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;" in html
    link = f"{EXTERNAL}/"
    assert text.endswith(f"All alerts: {link}\n")
    assert f'<a href="{link}">{link}</a>' in html
    assert "Token expires in " in text and "UTC" in text
    assert harness.count("mail", DeliveryOutcome.RETRIED) == 0


@pytest.mark.anyio
async def test_one_alert_says_who_and_what_in_the_subject(plain: FakeSmtp) -> None:
    (event,) = burst(1, account="ana@example.com")
    await run([email_sink(plain.port)], [event], lambda h: plain.accepted())
    subject = plain.received[0].message["Subject"]
    assert re.fullmatch(r"\[CRITICAL\] ana@example\.com: Token expires in .+ UTC", subject)


@pytest.mark.anyio
async def test_resolutions_say_so_in_the_subject(plain: FakeSmtp) -> None:
    ended = [
        replace(e, status=AlertStatus.RESOLVED, reason=Reason.RESOLVED, ends_at_unix=T0)
        for e in burst(3)
    ]
    await run([email_sink(plain.port)], ended, lambda h: plain.accepted())
    subject = plain.received[0].message["Subject"]
    assert subject == "[RESOLVED] 3 PixVerse tokens expiring: resolved"


@pytest.mark.anyio
async def test_starttls_with_a_self_signed_certificate_and_a_login(
    cert: tuple[Path, Path],
) -> None:
    with FakeSmtp("starttls", cert=cert, users={"alerts": PASSWORD}) as server:
        sink = email_sink(server.port, SmtpTls.STARTTLS, ca_file=cert[0], **login())
        await run([sink], burst(2), lambda h: h.count("mail", DeliveryOutcome.DELIVERED))
    (received,) = server.received
    assert received.encrypted and received.login == "alerts"
    assert server.logins == [("alerts", True)]
    parts(received.message)


@pytest.mark.anyio
async def test_a_certificate_nobody_trusts_is_refused(cert: tuple[Path, Path]) -> None:
    """Without `ca_file`, the self-signed certificate fails the system's CAs: nothing is
    sent, no password either, and the attempt is retried."""
    with FakeSmtp("starttls", cert=cert, users={"alerts": PASSWORD}) as server:
        sink = email_sink(server.port, SmtpTls.STARTTLS, **login())
        harness = await run([sink], burst(1), lambda h: h.count("mail", DeliveryOutcome.RETRIED))
    assert server.received == [] and server.logins == []
    assert harness.failures("mail") == {
        "connection_error": harness.count("mail", DeliveryOutcome.RETRIED)
    }
    (outcome, *_) = harness.delivery.recent.of("mail")
    assert "CERTIFICATE_VERIFY_FAILED" in (outcome.why or "")


@pytest.mark.anyio
async def test_implicit_tls(cert: tuple[Path, Path]) -> None:
    with FakeSmtp("tls", cert=cert, users={"alerts": PASSWORD}) as server:
        sink = email_sink(server.port, SmtpTls.TLS, ca_file=cert[0], **login())
        await run([sink], burst(1), lambda h: h.count("mail", DeliveryOutcome.DELIVERED))
    (received,) = server.received
    assert received.encrypted and received.login == "alerts"


@pytest.mark.anyio
async def test_no_login_in_clear_when_the_server_offers_no_starttls() -> None:
    """`tls = "starttls"` (the default) requires it: a server without STARTTLS (or someone
    between who strips it) never gets the password."""
    with FakeSmtp("none", users={"alerts": PASSWORD}, auth_in_clear=True) as server:
        sink = email_sink(server.port, SmtpTls.STARTTLS, **login())
        harness = await run([sink], burst(1), lambda h: h.count("mail", DeliveryOutcome.RETRIED))
    assert server.logins == [] and server.received == []
    (outcome, *_) = harness.delivery.recent.of("mail")
    assert "STARTTLS" in (outcome.why or "")


@pytest.mark.anyio
async def test_a_login_in_clear_only_when_tls_none_says_so() -> None:
    with FakeSmtp("none", users={"alerts": PASSWORD}, auth_in_clear=True) as server:
        sink = email_sink(server.port, SmtpTls.NONE, **login())
        await run([sink], burst(1), lambda h: h.count("mail", DeliveryOutcome.DELIVERED))
    assert server.logins == [("alerts", False)]


@pytest.mark.anyio
async def test_a_wrong_password_is_dropped_with_the_servers_reason(
    cert: tuple[Path, Path],
) -> None:
    with FakeSmtp("starttls", cert=cert, users={"alerts": PASSWORD}) as server:
        sink = email_sink(server.port, SmtpTls.STARTTLS, ca_file=cert[0], **login("wrong-pw"))
        harness = await run([sink], burst(1), lambda h: h.count("mail", DeliveryOutcome.DROPPED))
    assert server.received == []
    assert harness.failures("mail") == {"smtp_5xx": 1}
    (outcome, *_) = harness.delivery.recent.of("mail")
    assert (outcome.why or "").startswith("SMTP 535")


@pytest.mark.anyio
async def test_a_temporary_refusal_is_retried_with_the_same_message_id(plain: FakeSmtp) -> None:
    plain.reply("451 4.3.0 Try again later")
    harness = await run(
        [email_sink(plain.port)], burst(3), lambda h: h.count("mail", DeliveryOutcome.DELIVERED)
    )
    first, second = plain.received
    assert (first.answer, second.answer) == ("451 4.3.0 Try again later", "250 2.0.0 OK")
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert harness.failures("mail") == {"smtp_4xx": 1}
    assert harness.count("mail", DeliveryOutcome.RETRIED) == 1


@pytest.mark.anyio
async def test_a_permanent_refusal_is_dropped_with_the_reason(plain: FakeSmtp) -> None:
    plain.reply("550 5.7.1 Relaying denied")
    events = [[burst(1)[0]], [burst(2)[1]]]
    harness = await run(
        [email_sink(plain.port)],
        events,
        lambda h: h.count("mail", DeliveryOutcome.DELIVERED),
    )
    assert [r.answer for r in plain.received] == ["550 5.7.1 Relaying denied", "250 2.0.0 OK"]
    assert harness.count("mail", DeliveryOutcome.DROPPED) == 1
    assert harness.failures("mail") == {"smtp_5xx": 1}
    dropped = [o for o in harness.delivery.recent.of("mail") if o.why]
    assert dropped[0].why == "SMTP 550 5.7.1 Relaying denied"


def test_a_plan_alert_is_listed_with_its_figures() -> None:
    alert = Alert(
        AlertName.CREDITS_LOW,
        Severity.WARNING,
        "main",
        "cy@example.com",
        "PixVerse account cy@example.com has 120 credits left",
        "Top up, or its jobs start failing.",
        {"plan": "Pro", "credits": "120", "min_credits": "500"},
    )
    event = AlertEvent(
        "c1", AlertStatus.FIRING, Reason.STARTED, alert, T0, None, T0, alert.severity
    )
    notification = new_notification("mail", (event,), T0, held=False)
    sink = email_sink(25)
    (request,) = CHANNELS[SinkType.EMAIL].requests(sink, notification, Context(EXTERNAL, T0))
    received = Received("", (), request.message, False, None, "")
    text, html = parts(received.message)
    assert "Plan: Pro · Credits left: 120 · Minimum credits: 500" in text
    assert "Credits left: 120<br>Minimum credits: 500" in html
    assert "120 credits left, below the minimum of 500" in text


def test_notify_test_sends_one_and_dry_run_shows_it_without_the_password(
    tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    (tmp_path / "pw").write_text(PASSWORD)
    with FakeSmtp("starttls", cert=cert, users={"alerts": PASSWORD}) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[[sinks]]\nname = "mail"\ntype = "email"\nsmtp_host = "127.0.0.1"\n'
            f'smtp_port = {server.port}\nusername = "alerts"\npassword_file = "pw"\n'
            f'ca_file = "{cert[0]}"\nfrom = "alerts@example.com"\nto = ["ops@example.com"]\n'
        )
        dry = cli("notify-test", "--config", str(config), "--dry-run")
        assert server.received == []
        sent = cli("notify-test", "--config", str(config))
    assert dry.returncode == 0, dry.stderr
    assert "MAIL FROM:<alerts@example.com>\nRCPT TO:<ops@example.com>\n" in dry.stdout
    assert "Subject: [WARNING] source notify-test: " in dry.stdout
    assert sent.returncode == 0, sent.stderr
    where = f"mail (email smtp://127.0.0.1:{server.port} (starttls))"
    assert sent.stdout == f"{where}: delivered\n"
    (received,) = server.received
    assert received.message["Subject"].startswith("[WARNING] source notify-test: ")
    for output in (dry.stdout, dry.stderr, sent.stdout, sent.stderr):
        assert PASSWORD not in output
