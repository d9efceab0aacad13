"""A real SMTP server on loopback for the e-mail notifier's tests: aiosmtpd in a thread.

It keeps every accepted message (parsed), can answer DATA with scripted replies
('451 …' then '250 …'), refuse recipients, require a login, and offer STARTTLS with a
self-signed certificate made by openssl. Stop and start it on the same port to play a
mail server that is down for a while.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import subprocess
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from servers import free_tcp_port


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    login: str | None
    tls: bool


@dataclass
class Mailbox:
    """The handler: accepted messages, scripted DATA replies, refused recipients."""

    messages: list[Received] = field(default_factory=list)
    script: list[str] = field(default_factory=list)  # DATA replies to give next, then 250
    refuse: dict[str, str] = field(default_factory=dict)  # recipient → RCPT reply
    data_attempts: int = 0
    logins: list[tuple[str, bytes]] = field(default_factory=list)  # (user, password)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_attempts += 1
        if self.script:
            reply = self.script.pop(0)
            if not reply.startswith("250"):
                return reply
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        login = session.auth_data.login.decode() if isinstance(session.auth_data,
                                                                  LoginPassword) else None
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg,  # type: ignore[arg-type]
                                      raw, login, session.ssl is not None))
        return "250 Message accepted for delivery"


def self_signed(workdir: Path) -> tuple[Path, Path]:
    """(cert, key) for 127.0.0.1, made by openssl; the cert is its own CA."""
    cert, key = workdir / "smtp-cert.pem", workdir / "smtp-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class SmtpServer:
    """`SmtpServer().start()`; `.port`; `.mailbox`; `stop()` / `start()` keep the port."""

    def __init__(self, *, password: str | None = None, tls: tuple[Path, Path] | None = None,
                 port: int | None = None) -> None:
        self.mailbox = Mailbox()
        self.port = port or free_tcp_port()
        self.password = password
        self.tls = tls
        self._controller: Controller | None = None

    def _auth(self, server: Any, session: Any, envelope: Any, mechanism: str,
              auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.mailbox.logins.append((auth_data.login.decode(), auth_data.password))
        ok = self.password is not None and auth_data.password == self.password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {}
        if self.password is not None:
            kwargs.update(authenticator=self._auth, auth_required=True,
                          auth_require_tls=self.tls is not None)
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.tls))
            kwargs.update(tls_context=context, require_starttls=True)
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port,
                                      server_hostname="mail.test", **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
