"""The e-mail notifier: one message per notification over SMTP (stdlib smtplib in a thread).

Three ways to reach the server: plain SMTP (a relay on the LAN), STARTTLS (upgrade after
the greeting, usually port 587) and implicit TLS (SMTPS, RFC 8314, port 465: the TLS
handshake comes first, then the SMTP dialogue). Both TLS modes verify the server's
certificate and name against the system's CAs or ca_file.

Subject: severity tag, the site by its Vietnamese name, the root cause; body: the
rendered paragraph in the receiver's language, the cut-off sites, since when, the
dashboard link (text/plain, UTF-8). The Message-ID is derived from the dedup key, so a
re-delivery after a crash carries the same id and mail clients show one message; a
resolve refers to its firing's id (References), so they thread together.

Errors: a 5xx answer (sender, recipients or data refused, authentication failed) is
permanent: the outbox marks the entry refused and the dispatcher logs it once. 4xx
answers, refused or dropped connections, timeouts and TLS failures (an untrusted
certificate, a plain-text server where implicit TLS was asked) are transient: retried with
backoff. The password is a `Secret`, sent only inside smtplib's AUTH exchange; no message,
repr or log line holds it.
"""

from __future__ import annotations

import asyncio
import email.policy
import hashlib
import logging
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from borderwatch.alerts.notify.message import texts
from borderwatch.alerts.notify.outbox import dedup_key
from borderwatch.alerts.notify.receiver import PermanentError, TransientError
from borderwatch.collector.secret import Secret

log = logging.getLogger(__name__)

# Python's header folder drops the space between two encoded words when it folds at a
# space ("Đồn Biên" arrives as "ĐồnBiên"); with lines up to RFC 5322's hard limit of 998
# the subject (at most 200 characters, ~300 encoded) is never folded.
POLICY = email.policy.SMTP.clone(max_line_length=998)

# OpenSSL's reasons when the first bytes back are not a TLS record (e.g. a "220 …" greeting)
PLAIN_TEXT_REPLY = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL",
                              "RECORD_LAYER_FAILURE"})


def message_id(key: str) -> str:
    """A stable Message-ID for a dedup or incident key."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@borderwatch>"


def build_message(body: dict[str, Any], *, sender: str, to: tuple[str, ...], language: str,
                  dashboard: str | None) -> EmailMessage:
    """The e-mail for one notification (headers encoded as RFC 2047 UTF-8 words)."""
    subject, text, _link = texts(body, language, dashboard)
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(body.get("at") or time.time(), localtime=False)
    msg["Message-ID"] = message_id(dedup_key(body))
    if not (body["status"] == "firing" and body["reason"] == "new"):
        first = message_id(f"{body['incident_key']}|firing|{body['since']!r}")
        msg["In-Reply-To"] = first  # thread escalations, repeats and the resolve
        msg["References"] = first
    msg["X-Borderwatch-Incident"] = body["incident_key"]
    msg["X-Borderwatch-Status"] = body["status"]
    msg.set_content(text, charset="utf-8", cte="quoted-printable")  # 7-bit safe, readable
    msg["Content-Language"] = language  # after set_content, which resets Content-* headers
    return msg


def _code_error(name: str, what: str, code: int, reply: bytes | str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = " ".join(text.split())[:160]
    message = f"receiver {name}: {what}: SMTP {code}" + (f" {text}" if text else "")
    return PermanentError(message) if 500 <= code < 600 else TransientError(message)


class SmtpNotifier:
    """Sends each notification as one e-mail through an SMTP server."""

    def __init__(self, name: str, host: str, port: int, *, sender: str, to: tuple[str, ...],
                 language: str = "vi", starttls: bool = False, tls: bool = False,
                 ca_file: str | None = None, username: str | None = None,
                 password: Secret | None = None, timeout: float = 30.0,
                 dashboard: str | None = None) -> None:
        if tls and starttls:  # the inventory refuses this with file:line; guard direct use
            raise ValueError(f"receiver {name}: tls (implicit) and starttls exclude each other")
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.to = tuple(to)
        self.language = language
        self.starttls = starttls
        self.tls = tls
        self.ca_file = ca_file
        self.username = username
        self._password = password
        self.timeout = timeout
        self.dashboard = dashboard
        self.partial = 0  # messages some (not all) recipients refused

    def __repr__(self) -> str:
        return f"SmtpNotifier({self.name!r}, {self.host}:{self.port})"  # never the password

    async def deliver(self, body: dict[str, Any]) -> None:
        """Send one notification; raises TransientError or PermanentError (see module doc)."""
        msg = build_message(body, sender=self.sender, to=self.to, language=self.language,
                            dashboard=self.dashboard)
        # smtplib blocks; its socket timeout bounds every step, so the thread ends too
        await asyncio.to_thread(self._send, msg)

    def _connect(self) -> smtplib.SMTP:
        """An open connection that has read the greeting (over TLS when tls is set)."""
        if self.tls:
            # SMTPS: the handshake (and certificate check) happens before the greeting
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                    context=ssl.create_default_context(cafile=self.ca_file))
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _send(self, msg: EmailMessage) -> None:
        name = self.name
        try:
            with self._connect() as smtp:
                smtp.ehlo()
                if self.starttls:
                    context = ssl.create_default_context(cafile=self.ca_file)
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username is not None and self._password is not None:
                    smtp.login(self.username, self._password.reveal())
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            # nobody took it: permanent only if every refusal is
            codes = [code for code, _ in exc.recipients.values()]
            what = ", ".join(f"{rcpt} ({code})" for rcpt, (code, _) in
                             sorted(exc.recipients.items()))
            message = f"receiver {name}: every recipient refused: {what}"
            if all(500 <= c < 600 for c in codes):
                raise PermanentError(message) from None
            raise TransientError(message) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise _code_error(name, "login refused", exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPSenderRefused as exc:
            raise _code_error(name, "sender refused", exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPDataError as exc:
            raise _code_error(name, "message refused", exc.smtp_code, exc.smtp_error) from None
        except smtplib.SMTPNotSupportedError as exc:
            # e.g. no STARTTLS or no AUTH offered: the configuration has to change
            raise PermanentError(f"receiver {name}: {exc}") from None
        except smtplib.SMTPResponseException as exc:  # HELO, STARTTLS, 421 on connect …
            raise _code_error(name, "refused", exc.smtp_code, exc.smtp_error) from None
        except TimeoutError:
            raise TransientError(f"receiver {name}: no answer within {self.timeout:g} s"
                                 ) from None
        except ssl.SSLError as exc:
            # a certificate problem may be fixed on the server: keep the messages
            reason = exc.reason or "SSLError"
            hint = ""
            if self.tls and reason in PLAIN_TEXT_REPLY:
                hint = (f": the server on port {self.port} answered in plain text, not "
                        "implicit TLS (a STARTTLS port needs starttls: true)")
            raise TransientError(f"receiver {name}: TLS failed ({reason}){hint}") from None
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):
                # smtplib turns a read timeout into "Connection unexpectedly closed"
                raise TransientError(f"receiver {name}: no answer within {self.timeout:g} s"
                                     ) from None
            raise TransientError(f"receiver {name}: connection failed "
                                 f"(SMTPServerDisconnected)") from None
        except (OSError, smtplib.SMTPException) as exc:
            # refused, reset, dropped mid-dialogue (SMTPServerDisconnected)
            raise TransientError(f"receiver {name}: connection failed "
                                 f"({type(exc).__name__})") from None
        if refused:
            # some recipients took it; sending again would duplicate it for them
            self.partial += 1
            who = ", ".join(f"{r} ({c})" for r, (c, _) in sorted(refused.items()))
            log.error("receiver %s: message %s refused for %s (delivered to the others)",
                      name, msg["Message-ID"], who)

    async def close(self) -> None:
        """Nothing to release: one connection per message."""
