"""The keys of an email sink: the SMTP server, how the connection is encrypted, the login,
and the addresses; each error names its key. The keys of a sink that sends over SMTP."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from email.utils import getaddresses
from pathlib import Path

from monitor.config.model import EmailSettings, SmtpTls
from monitor.config.table import Table
from monitor.secret import Secret

# (key, path): the text of a secret file, stripped; ConfigError naming `key` if not.
ReadSecret = Callable[[str, Path], Secret]

EMAIL_KEYS = ("smtp_host", "smtp_port", "tls", "username", "password_file", "from", "to", "ca_file")
DEFAULT_PORTS = {SmtpTls.STARTTLS: 587, SmtpTls.TLS: 465, SmtpTls.NONE: 25}
MAX_HOST_LENGTH = 253  # a DNS name
MAX_ADDRESS_LENGTH = 320  # RFC 3696's longest address; a display name may add to it
MAX_ADDRESS_TEXT = 1024
MAX_RECIPIENTS = 100


def read_email(table: Table, read_secret: ReadSecret, base_dir: Path) -> EmailSettings:
    """The email keys of one sink; ConfigError naming the key at fault."""
    table.reject_inline_secret("password", "password_file")
    host = table.name("smtp_host", longest=MAX_HOST_LENGTH)
    if not host.isprintable() or " " in host:
        raise table.error("smtp_host", f"{host[:80]!r} is not a host name")
    tls = table.choice("tls", SmtpTls, SmtpTls.STARTTLS)
    port = table.get("smtp_port", int, DEFAULT_PORTS[tls])
    if not 1 <= port <= 65535:
        raise table.error("smtp_port", f"must be a port from 1 to 65535, got {port}")
    username = table.string("username", "") or None
    if username is not None and not username.isprintable():
        raise table.error("username", "must not hold control characters")
    password_file = table.optional_path("password_file", base_dir)
    if username is not None and password_file is None:
        raise table.error("password_file", "is required with username (the SMTP password)")
    if password_file is not None and username is None:
        raise table.error("username", "is required with password_file")
    ca_file = table.optional_path("ca_file", base_dir)
    if ca_file is not None:
        if tls is SmtpTls.NONE:
            raise table.error("ca_file", 'a connection with tls = "none" checks no certificate')
        _check_ca_file(table, read_secret, ca_file)
    sender = _address(table, "from", table.string("from"))
    recipients = table.get("to", list)
    if not recipients:
        raise table.error("to", "needs one address or more")
    if len(recipients) > MAX_RECIPIENTS:
        raise table.error("to", f"at most {MAX_RECIPIENTS} addresses, got {len(recipients)}")
    to = []
    for index, text in enumerate(recipients):
        if not isinstance(text, str):
            raise table.error(f"to[{index}]", f"expected an address, got {text!r}")
        to.append(_address(table, f"to[{index}]", text))
    password = read_secret(table.key("password_file"), password_file) if password_file else None
    return EmailSettings(
        smtp_host=host,
        smtp_port=port,
        tls=tls,
        sender=sender,
        recipients=tuple(to),
        username=username,
        password=password,
        password_file=password_file,
        ca_file=ca_file,
    )


def refuse_email_keys(table: Table) -> None:
    """For a sink of another type: an email key is a mistake worth naming."""
    for name in EMAIL_KEYS:
        if table.has(name):
            raise table.error(name, "only email sinks take it")


def _address(table: Table, key: str, text: str) -> str:
    """One address, with or without a display name ("Ops <ops@example.com>"), as written."""
    if len(text) > MAX_ADDRESS_TEXT or not text.isprintable():
        raise table.error(key, f"{text[:80]!r} is not one email address")
    found = getaddresses([text])
    if len(found) != 1:
        raise table.error(key, f"{text[:80]!r}: one address per entry")
    (_, address) = found[0]
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or len(address) > MAX_ADDRESS_LENGTH or " " in address:
        raise table.error(key, f"{text[:80]!r} is not an email address (alerts@example.com)")
    return text


def _check_ca_file(table: Table, read_secret: ReadSecret, path: Path) -> None:
    """Certificates, in PEM, that TLS can load; read with the loader's reader, as every file
    the config names (a certificate is no secret, but masked in a log it harms nothing)."""
    pem = read_secret(table.key("ca_file"), path).reveal()
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise table.error("ca_file", f"{path} holds no PEM certificate") from None


def smtp_display(settings: EmailSettings) -> str:
    """Where an email sink sends, for people (nothing in it is secret)."""
    return f"smtp://{settings.smtp_host}:{settings.smtp_port} ({settings.tls.value})"
