"""The Telegram notifier: one Bot API `sendMessage` per notification.

POST {base_url}/bot<token>/sendMessage with chat_id and text (the rendered paragraph in
the receiver's language plus the dashboard link); with parse_mode HTML the text is
escaped and the severity tag set in bold. Answers: {"ok": true} delivered; 429 waits
`parameters.retry_after` seconds (the dispatcher honours it); 400/401/403/404 are
refused for good (chat not found, bot blocked or removed, bad token, bad text); 5xx,
timeouts and connection errors are retried with backoff.

The bot token is in the URL path: no error, log line or repr may hold the URL. aiohttp
exception texts often do, so only the exception's class is reported, and every message
is scrubbed of the token as a second guard.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import aiohttp

from borderwatch.alerts import render
from borderwatch.alerts.notify.message import notification_from_dict
from borderwatch.alerts.notify.receiver import PermanentError, TransientError
from borderwatch.alerts.notify.webhook import dashboard_link
from borderwatch.collector.secret import Secret

TEXT_MAX = 4096  # Telegram's limit for one message, in characters after entity parsing
DEFAULT_BASE = "https://api.telegram.org"


def message_text(body: dict[str, Any], language: str, dashboard: str | None,
                 parse_mode: str | None) -> str:
    """The chat text of a notification (escaped for HTML when parse_mode is HTML)."""
    text = render.render(notification_from_dict(body), language)
    link = dashboard_link(dashboard, body)
    label = "Bảng theo dõi" if language == "vi" else "Dashboard"
    budget = TEXT_MAX - 300  # room for the link and escaping growth of the tag
    if len(text) > budget:
        text = text[:budget - 1] + "…"
    if parse_mode != "HTML":
        return text + (f"\n{label}: {link}" if link else "")
    m = re.match(r"(\[[^\]]*\])(.*)", text, re.S)
    tag, rest = (m.group(1), m.group(2)) if m else ("", text)
    out = (f"<b>{html.escape(tag)}</b>" if tag else "") + html.escape(rest)
    if link:
        out += f'\n<a href="{html.escape(link, quote=True)}">{label}</a>'
    return out


class TelegramNotifier:
    """Sends each notification to one Telegram chat through a bot."""

    def __init__(self, name: str, token: Secret, chat_id: int | str, *,
                 base_url: str = DEFAULT_BASE, language: str = "vi",
                 parse_mode: str | None = None, timeout: float = 10.0,
                 dashboard: str | None = None) -> None:
        self.name = name
        self._token = token
        self.chat_id = chat_id
        self.base_url = base_url.rstrip("/")
        self.language = language
        self.parse_mode = parse_mode
        self.timeout = timeout
        self.dashboard = dashboard
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"TelegramNotifier({self.name!r}, chat {self.chat_id})"  # never the token

    def _scrub(self, text: str) -> str:
        return text.replace(self._token.reveal(), "<token>")

    async def deliver(self, body: dict[str, Any]) -> None:
        """Send one notification; raises TransientError or PermanentError (module doc)."""
        payload: dict[str, Any] = {
            "chat_id": self.chat_id,
            "text": message_text(body, self.language, self.dashboard, self.parse_mode),
            "disable_web_page_preview": True,
        }
        if self.parse_mode:
            payload["parse_mode"] = self.parse_mode
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url = f"{self.base_url}/bot{self._token.reveal()}/sendMessage"
        name = self.name
        try:
            async with self._session.post(
                    url, json=payload, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                status = resp.status
                raw = await resp.read()
        except TimeoutError:
            raise TransientError(f"receiver {name}: no answer within {self.timeout:g} s"
                                 ) from None
        except aiohttp.ClientError as exc:
            # str(exc) often holds the URL, and the URL holds the token: class name only
            raise TransientError(f"receiver {name}: connection failed "
                                 f"({type(exc).__name__})") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        if 200 <= status < 300 and answer.get("ok") is True:
            return
        self._fail(status, answer)

    def _fail(self, status: int, answer: dict[str, Any]) -> None:
        code = answer.get("error_code", status)
        description = " ".join(str(answer.get("description") or "").split())[:160]
        params = answer.get("parameters") if isinstance(answer.get("parameters"), dict) else {}
        message = f"receiver {self.name}: Telegram {code}" + (
            f": {description}" if description else "")
        if params.get("migrate_to_chat_id") is not None:
            message += f" (the group is now chat {params['migrate_to_chat_id']}; update chat_id)"
        message = self._scrub(message)
        if status == 429 or code == 429:
            retry_after = params.get("retry_after")
            wait = float(retry_after) if isinstance(retry_after, int | float) else None
            raise TransientError(message + (f" (retry after {wait:g} s)" if wait else ""),
                                 retry_after=wait)
        if status >= 500 or status == 408 or (200 <= status < 300):
            raise TransientError(message)  # a 2xx without ok:true is a broken answer
        raise PermanentError(message)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
