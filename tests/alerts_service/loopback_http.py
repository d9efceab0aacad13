"""Serve an aiohttp application on 127.0.0.1 for a test, on a free (or given) port.

The test-side HTTP servers (webhook receiver, Bot API, the silence API under test) all
start the same way; the port is read back from the listening socket, because port 0
lets the kernel pick one no other helper uses.
"""

from __future__ import annotations

from aiohttp import web


async def serve_on_loopback(app: web.Application, port: int = 0) -> tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1:`port` (0: any free port); its runner (cleanup() stops
    it) and the port it listens on."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    # aiohttp has no public accessor for the bound port of a TCPSite.
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
