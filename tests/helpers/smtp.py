"""A real SMTP server on loopback (aiosmtpd) for the email sink: plain, STARTTLS or implicit
TLS (a certificate of `certs.self_signed`), AUTH, scripted refusals; every message kept as
received, with whether the session was encrypted and who logged in."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    """One message as the server took it (or refused it, at DATA)."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    encrypted: bool
    login: str | None
    answer: str

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, server: FakeSmtp) -> None:
        self._server = server

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        return self._server.take(_encrypted(server, session), session, envelope)


class _Controller(Controller):
    """aiosmtpd's controller on a port the system picks (port 0)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSmtp:
    """`mode`: "none" (plain), "starttls" (offers STARTTLS) or "tls" (implicit TLS). With
    `users`, AUTH is offered (over plain text only if `auth_in_clear`)."""

    def __init__(
        self,
        mode: str = "none",
        *,
        cert: tuple[Path, Path] | None = None,
        users: dict[str, str] | None = None,
        auth_in_clear: bool = False,
    ) -> None:
        self.received: list[Received] = []
        self.logins: list[tuple[str, bool]] = []  # (user, whether the session was encrypted)
        self._replies: list[str] = []
        self._lock = threading.Lock()
        self._users = users or {}
        tls: ssl.SSLContext | None = None
        if cert is not None:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(*cert)
        # Implicit TLS is encrypted from the start: aiosmtpd only knows of STARTTLS.
        kwargs: dict[str, Any] = {"auth_require_tls": not (auth_in_clear or mode == "tls")}
        if users is not None:
            kwargs["authenticator"] = self._authenticate
        if mode == "starttls":
            kwargs.update(tls_context=tls, require_starttls=False)
        elif mode == "tls":
            kwargs["ssl_context"] = tls
        self._controller = _Controller(_Handler(self), hostname="127.0.0.1", port=0, **kwargs)

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def reply(self, *answers: str) -> None:
        """The next messages are answered with these (`"451 4.3.0 Try again later"`), in
        order; then each is accepted."""
        with self._lock:
            self._replies.extend(answers)

    def take(self, encrypted: bool, session: Session, envelope: Envelope) -> str:
        with self._lock:
            answer = self._replies.pop(0) if self._replies else "250 2.0.0 OK"
            login = session.auth_data.login.decode() if session.authenticated else None
            self.received.append(
                Received(
                    envelope.mail_from or "",
                    tuple(envelope.rcpt_tos),
                    bytes(envelope.original_content or b""),
                    encrypted,
                    login,
                    answer,
                )
            )
        return answer

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.answer.startswith("250")]

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        with self._lock:
            self.logins.append((user, _encrypted(server, session)))
        if self._users.get(user) == password:
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    def __enter__(self) -> FakeSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def _encrypted(server: SMTPServer, session: Session) -> bool:
    """TLS from the start, or since STARTTLS."""
    return session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
