"""A local server speaking the Telegram Bot API's shape (the sanctioned fake: the real API
is out of reach from the test machine).

POST /bot<token>/sendMessage with a JSON body → {"ok": true, "result": {message}} for the
right token; 401 {"ok": false, "error_code": 401, "description": "Unauthorized"} for
another. `script` holds answers to give next: an HTTP status, with the Bot API's error
bodies (429 carries parameters.retry_after); `outage` answers every call with one status
until it is cleared.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback_http import serve_on_loopback

DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    403: "Forbidden: bot was blocked by the user",
    429: "Too Many Requests: retry after {n}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Sent:
    """One sendMessage call and the status it got."""

    body: dict[str, Any]
    status: int
    at: float


@dataclass
class BotApi:
    """`await BotApi(token).start()`; `.base_url`; `.sent`; `.script` = statuses next."""

    token: str
    script: list[int] = field(default_factory=list)
    outage: int | None = None  # while set, every call gets this status (after the script)
    retry_after: int = 1
    sent: list[Sent] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _next_id: int = 1

    async def start(self, port: int = 0) -> BotApi:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner, self.port = await serve_on_loopback(app, port)
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ok(self) -> list[dict[str, Any]]:
        """Bodies answered ok, in order."""
        return [s.body for s in self.sent if s.status == 200]

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        if request.match_info["method"] != "sendMessage":
            return web.json_response({"ok": False, "error_code": 404,
                                      "description": "Not Found"}, status=404)
        body = json.loads(await request.read())
        status = self.script.pop(0) if self.script else (self.outage or 200)
        self.sent.append(Sent(body, status, time.time()))
        if status == 200:
            message = {"message_id": self._next_id, "date": int(time.time()),
                       "chat": {"id": body["chat_id"], "type": "group"}, "text": body["text"]}
            self._next_id += 1
            return web.json_response({"ok": True, "result": message})
        answer: dict[str, Any] = {"ok": False, "error_code": status, "description":
                                  DESCRIPTIONS.get(status, "Error").format(n=self.retry_after)}
        if status == 429:
            answer["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(answer, status=status)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
