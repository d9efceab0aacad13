"""The test's webhook receiver (an aiohttp server on loopback): records every POST, answers
with scripted statuses (e.g. 500 then 200)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from loopback_http import serve_on_loopback

RESET = -1  # in a script: abort the connection instead of answering


@dataclass
class Hit:
    """One request the receiver got."""

    path: str
    body: Any
    at: float
    status: int


@dataclass
class Receiver:
    """`await Receiver().start()`; `.url(path)`; `.hits`; `.script` = statuses to answer next."""

    script: list[int] = field(default_factory=list)  # popped per request; then 200
    delay: float = 0.0  # seconds to sleep before answering (a slow receiver, A40)
    hits: list[Hit] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner, self.port = await serve_on_loopback(app, port)
        return self

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        status = self.script.pop(0) if self.script else 200
        if status == RESET:  # drop the connection without an answer (a reset mid-request)
            self.hits.append(Hit(request.path, None, time.time(), status))
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if self.delay:
            await asyncio.sleep(self.delay)
        self.hits.append(Hit(request.path, json.loads(await request.read()), time.time(),
                             status))
        return web.Response(status=status, text="nope" if status >= 400 else "ok")

    def ok(self, path: str | None = None) -> list[Any]:
        """Bodies answered 2xx (optionally of one path), in order."""
        return [h.body for h in self.hits
                if 200 <= h.status < 300 and (path is None or h.path == path)]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
