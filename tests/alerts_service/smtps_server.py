"""A real SMTP server speaking implicit TLS (SMTPS, RFC 8314) on loopback: aiosmtpd in a
thread, its listener wrapped in TLS from the first byte (Controller's ssl_context).

Built on smtp_server.SmtpServer (same mailbox, scripted replies, login check, stop/start
on the same port); only the listener differs. aiosmtpd counts only a STARTTLS upgrade as
TLS, so this module records TLS from the connection itself and lets AUTH through without
STARTTLS: the listener accepts nothing but TLS anyway.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from smtp_server import Mailbox, SmtpServer


class TlsMailbox(Mailbox):
    """A Mailbox whose Received.tls says whether the connection really was TLS."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        before = len(self.messages)
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.messages) > before:
            # session.ssl is set only after STARTTLS; the transport knows the truth
            self.messages[-1].tls = server.transport.get_extra_info("ssl_object") is not None
        return reply


class SmtpsServer(SmtpServer):
    """`SmtpsServer((cert, key)).start()`: SMTP inside TLS with that certificate."""

    def __init__(self, cert_key: tuple[Path, Path], *, password: str | None = None,
                 port: int | None = None) -> None:
        super().__init__(password=password, port=port)
        self.mailbox = TlsMailbox()
        self.cert_key = cert_key

    def start(self) -> SmtpsServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*map(str, self.cert_key))
        kwargs: dict[str, Any] = {}
        if self.password is not None:
            # auth_require_tls would refuse AUTH: aiosmtpd does not see implicit TLS
            kwargs.update(authenticator=self._auth, auth_required=True,
                          auth_require_tls=False)
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port,
                                      server_hostname="mail.test", ssl_context=context,
                                      **kwargs)
        self._controller.start()
        return self
