"""The HTTP face of the service: /metrics and /healthz on aiohttp, loopback by default.

No route takes an address, a target or a device to poll (the SNMP/blackbox exporter
pattern of `?target=` turns an exporter into an open SNMP proxy); the only query
parameter accepted anywhere is Prometheus' own `name[]` filter on /metrics.
/status and /api/status (the read-only status page, exporters/status.py) take none.

The listener's defences live next door: connection limits and deadlines in
exporters/http_limits.py, TLS and basic auth from `--web.config.file` in
exporters/web_config.py and exporters/http_auth.py (the same rules for every route,
and who may use a write route), and /metrics rendering, one render shared by
concurrent scrapes, in exporters/scrape_render.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client.exposition import gzip_accepted
from prometheus_client.registry import CollectorRegistry

from borderwatch.exporters.http_auth import Access
from borderwatch.exporters.http_limits import (
    ConnectionGuard,
    ListenerStats,
    ServerLimits,
    tracking_middleware,
)
from borderwatch.exporters.scrape_render import (
    SERIES_METRIC,
    RenderStats,
    ScrapeRenderer,
    Turnstile,
    send_body,
)
from borderwatch.exporters.web_config import WebConfig

if TYPE_CHECKING:
    from borderwatch.exporters.status import StatusPage

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 2.0  # seconds for in-flight HTTP requests when the service stops
MAX_QUERY_VALUE = 200  # characters; longer `name[]` values are refused, not parsed

__all__ = ["SERIES_METRIC", "HttpServer", "MetricsApp", "RenderStats", "is_loopback",
           "parse_listen"]


def parse_listen(listen: str) -> tuple[str, int]:
    """'HOST:PORT' or '[v6]:PORT' → (host, port); raises ValueError with a readable message."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:9730")
    port = int(port_text)
    if not 0 <= port < 65536:  # 0: any free port (tests)
        raise ValueError(f"--listen {listen!r}: port must be 1..65535")
    host = host.strip("[]") or "0.0.0.0"  # ":9730" means every address, as in Go
    return host, port


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: we cannot know where it resolves, so warn


class MetricsApp:
    """The aiohttp application over an explicit registry and a health function."""

    def __init__(self, registry: CollectorRegistry, health: Callable[[], dict[str, Any]], *,
                 render: RenderStats | None = None, limits: ServerLimits | None = None,
                 listener: ListenerStats | None = None) -> None:
        self.registry = registry
        self.health = health
        self.render = render if render is not None else RenderStats()
        self.limits = limits if limits is not None else ServerLimits()
        self.listener = listener if listener is not None else ListenerStats()
        self.renderer = ScrapeRenderer(registry, self.render)
        self.turnstile = Turnstile()  # /metrics bodies: a few slices per turn of the loop
        # Outermost first: connection state and limits, then who may ask what.
        self.guard = ConnectionGuard(self.limits, self.listener)
        self.access = Access(self.listener)
        self.app = web.Application(client_max_size=self.limits.max_body_bytes, middlewares=[
            tracking_middleware(self.guard), self.access.middleware])
        self.app.on_response_prepare.append(self.access.on_response_prepare)
        self.app.router.add_get("/metrics", self.metrics)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/", self.index)
        # The status page: 404 until exporters.status.attach_status() sets these two.
        self.status: Callable[[], dict[str, Any]] | None = None
        self.status_page: StatusPage | None = None
        self.app.router.add_get("/api/status", self.api_status)
        self.app.router.add_get("/status", self.status_html)

    async def index(self, request: web.Request) -> web.Response:
        """A pointer for people who open the bare URL in a browser."""
        if request.query_string:
            raise web.HTTPBadRequest(text="this route takes no parameters\n")
        return web.Response(
            text="borderwatch: see /metrics, /healthz and /status (JSON: /api/status)\n")

    async def healthz(self, request: web.Request) -> web.Response:
        """200 with a small JSON summary; never touches SNMP."""
        if request.query_string:
            raise web.HTTPBadRequest(text="this route takes no parameters\n")
        return web.Response(text=json.dumps(self.health(), sort_keys=True) + "\n",
                            content_type="application/json")

    async def api_status(self, request: web.Request) -> web.Response:
        """The status page's JSON: sites by status, devices, links; never touches SNMP."""
        if request.query_string:
            raise web.HTTPBadRequest(text="this route takes no parameters\n")
        if self.status is None:
            raise web.HTTPNotFound(text="the status page is not enabled\n")
        return web.Response(text=json.dumps(self.status(), ensure_ascii=False) + "\n",
                            content_type="application/json", charset="utf-8",
                            headers={"Cache-Control": "no-store"})

    async def status_html(self, request: web.Request) -> web.Response:
        """The read-only status page (static HTML; its script polls /api/status)."""
        if request.query_string:
            raise web.HTTPBadRequest(text="this route takes no parameters\n")
        if self.status_page is None:
            raise web.HTTPNotFound(text="the status page is not enabled\n")
        return web.Response(text=self.status_page.html, content_type="text/html",
                            charset="utf-8", headers={
                                "Content-Security-Policy": self.status_page.csp,
                                "X-Content-Type-Options": "nosniff",
                                "Cache-Control": "no-store"})

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        """Prometheus exposition built from state at scrape time (never waits on SNMP);
        concurrent scrapes of the same variant share one render."""
        names = self._name_filter(request)
        # A turn of the turnstile before anything else: a crowd of scrapers is taken in a
        # few per turn of the loop, as its bodies are sent (exporters/scrape_render.py).
        await self.turnstile.turn()
        exposition = await self.renderer.exposition(names, request.headers.get("Accept", ""))
        headers = {"Content-Type": exposition.content_type}
        if gzip_accepted(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = "gzip"
            body = await exposition.gzipped()
        else:
            body = exposition.plain
        self.render.bytes = len(body)
        self.render.scrapes += 1
        return await send_body(request, body, headers, self.turnstile)

    @staticmethod
    def _name_filter(request: web.Request) -> list[str]:
        unknown = set(request.query.keys()) - {"name[]"}
        if unknown:
            raise web.HTTPBadRequest(text="unsupported parameter(s); /metrics only takes name[]\n")
        names = request.query.getall("name[]", [])
        if any(len(n) > MAX_QUERY_VALUE for n in names):
            raise web.HTTPBadRequest(text="name[] value too long\n")
        return names


class HttpServer:
    """Runs a MetricsApp on one address behind the listener's limits, with TLS and basic
    auth when a web config asks; start() returns once the socket is listening."""

    def __init__(self, metrics_app: MetricsApp, host: str, port: int, *,
                 web_config: WebConfig | None = None) -> None:
        self._app = metrics_app
        self.host, self.port = host, port
        self.web = web_config if web_config is not None else WebConfig()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind and listen; a non-loopback address is allowed but logged as a WARNING."""
        web_config, limits = self.web, self._app.limits
        loopback = is_loopback(self.host)
        if not loopback:
            log.warning("listening on %s, which is not a loopback address: /metrics, /status "
                        "and /healthz are reachable from the network (%s, %s)", self.host,
                        "TLS" if web_config.tls else "no TLS",
                        "basic auth" if web_config.auth else
                        "no authentication; changes such as silences are refused")
        app, guard = self._app.app, self._app.guard
        self._app.access.configure(web_config.users, web_config.headers,
                                   listener_loopback=loopback)
        # shutdown_timeout bounds how long stop() waits for scrapes in progress (aiohttp's
        # default is 60 s, longer than any service manager waits after SIGTERM).
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=SHUTDOWN_TIMEOUT,
                                     **limits.runner_kwargs())
        await self._runner.setup()
        assert self._runner.server is not None
        guard.make_handler = self._runner.server  # aiohttp's protocol, one per connection
        self._server = await asyncio.get_running_loop().create_server(
            guard.protocol, self.host, self.port, reuse_address=True,
            ssl=web_config.ssl_context,
            # a TLS handshake is part of reading the head: same deadline
            ssl_handshake_timeout=limits.header_timeout if web_config.ssl_context else None)
        if self.port == 0:  # tests ask for any free port; learn the real one
            self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """Base URL people can paste into a browser."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.web.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting and close open connections. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            await self._app.renderer.close()
        if server is not None:
            await server.wait_closed()

