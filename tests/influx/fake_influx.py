"""An aiohttp fake of InfluxDB's /api/v2/write for the HTTP status matrix (A34).

The sanctioned fake: a real server will not answer 429/413/401 on demand. It answers each
request from a script (a list of (status, headers, body); 204 once the script is used up,
or `default` when set), can refuse bodies above a size with 413, and records every request
(when, headers, the gunzipped body, what it answered). Only points of 2xx answers count
as stored.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web


@dataclass
class Request:
    """One request the fake received."""

    at: float  # time.monotonic() when it arrived
    headers: dict[str, str]
    body: bytes  # decompressed
    status: int  # what the fake answered
    query: dict[str, str] = field(default_factory=dict)

    @property
    def lines(self) -> list[bytes]:
        return [x for x in self.body.split(b"\n") if x]


@dataclass
class FakeInflux:
    """The fake's behaviour (change it at any time) and what it saw."""

    script: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    default: tuple[int, dict[str, str], str] | None = None  # after the script; None → 204
    max_body: int | None = None  # bodies larger than this get 413
    delay: float = 0.0  # seconds before answering (a slow server)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def stored(self) -> list[bytes]:
        """Lines of every accepted request, in arrival order."""
        return [line for r in self.requests if 200 <= r.status < 300 for line in r.lines]

    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]

    async def _write(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        raw = await request.read()
        # aiohttp's server already inflates a gzip request body; inflate here if it did not.
        body = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        if self.max_body is not None and len(body) > self.max_body:
            status, headers, text = 413, {}, '{"code":"request too large","message":"too big"}'
        elif self.script:
            status, headers, text = self.script.pop(0)
        elif self.default is not None:
            status, headers, text = self.default
        else:
            status, headers, text = 204, {}, ""
        if self.delay:
            await asyncio.sleep(self.delay)
        self.requests.append(Request(arrived, dict(request.headers), body, status,
                                     dict(request.query)))
        return web.Response(status=status, headers=headers, text=text or None,
                            content_type="application/json" if text else None)

    async def start(self) -> None:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_post("/api/v2/write", self._write)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture(name="fake")
async def fake_server() -> AsyncIterator[FakeInflux]:
    """A started FakeInflux as fixture `fake` (import `fake_server` into a test module)."""
    server = FakeInflux()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
