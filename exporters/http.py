"""The HTTP face of the service: /metrics and /healthz on aiohttp, loopback by default.

No route takes an address, a target or a device to poll (the SNMP/blackbox exporter
pattern of `?target=` turns an exporter into an open SNMP proxy); the only query
parameter accepted anywhere is Prometheus' own `name[]` filter on /metrics.
/status and /api/status (the read-only status page, exporters/status.py) take none.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aiohttp import web
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from exporters.device_text import DeviceText

if TYPE_CHECKING:
    from exporters.status import StatusPage

log = logging.getLogger(__name__)

SERIES_METRIC = "borderwatch_exposition_series"
SHUTDOWN_TIMEOUT = 2.0  # seconds for in-flight HTTP requests when the service stops
MAX_QUERY_VALUE = 200  # characters; longer `name[]` values are refused, not parsed
# Level 1 compresses an exposition ~8× (level 6: ~10×) for a quarter of the CPU: for
# 10,000 devices that is 0.09 s instead of 0.3 s per scrape (bench/micro.py).
GZIP_LEVEL = 1
GZIP_PIECE = 1 << 18  # bytes handed to zlib per call (it releases the GIL while it works)


@dataclass(slots=True)
class RenderStats:
    """What the last /metrics render cost; exported as self-metrics on the next scrape."""

    seconds: float = 0.0
    bytes: int = 0
    series: int = 0
    scrapes: int = 0


@runtime_checkable
class SplitRegistry(Protocol):
    """A registry whose per-device families come as ready text (exporters.prometheus's
    BorderwatchRegistry): /metrics renders those from `device_text` and encodes only
    `collect_global()` through prometheus_client."""

    device_text: DeviceText

    def collect_global(self) -> Iterable[Metric]:
        """Every family that `device_text` does not render."""
        ...


class _Frozen:
    """A registry look-alike serving families built earlier (so encoding can leave the loop)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


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
                 render: RenderStats | None = None) -> None:
        self.registry = registry
        self.health = health
        self.render = render if render is not None else RenderStats()
        self.app = web.Application()
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

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus exposition built from state at scrape time (never waits on SNMP)."""
        names = self._name_filter(request)
        started = time.perf_counter()
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        use_gzip = gzip_accepted(request.headers.get("Accept-Encoding", ""))
        registry = self.registry
        parts: list[bytes] = []
        samples = 0
        if isinstance(registry, SplitRegistry):
            # The per-device families as text, in slices that yield to the event loop;
            # then the few global ones, built on the loop, where state is consistent.
            text = await registry.device_text.render(
                frozenset(names) if names else None,
                openmetrics=content_type.startswith("application/openmetrics-text"))
            parts, samples = text.parts, text.samples
            families = list(registry.collect_global())
            if names:
                families = _restricted(families, set(names))
        else:
            families = list((registry.restricted_registry(names) if names else
                             registry).collect())
        samples += sum(len(f.samples) for f in families)
        if not names or SERIES_METRIC in names:
            # Counted here, over everything in the response (process_* included).
            samples += 1
            families.append(GaugeMetricFamily(
                SERIES_METRIC, "Samples in this exposition (this one included).", value=samples))
        # Encoding the global families (the OpenMetrics encoder ends with "# EOF", so they
        # come last) and compressing happen in a worker thread: off the event loop.
        body = await asyncio.to_thread(_encode, encoder, parts, families, use_gzip)
        self.render.seconds = time.perf_counter() - started
        self.render.bytes = len(body)
        self.render.series = samples
        self.render.scrapes += 1
        headers = {"Content-Type": content_type}
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    @staticmethod
    def _name_filter(request: web.Request) -> list[str]:
        unknown = set(request.query.keys()) - {"name[]"}
        if unknown:
            raise web.HTTPBadRequest(text="unsupported parameter(s); /metrics only takes name[]\n")
        names = request.query.getall("name[]", [])
        if any(len(n) > MAX_QUERY_VALUE for n in names):
            raise web.HTTPBadRequest(text="name[] value too long\n")
        return names


def _restricted(families: list[Metric], names: set[str]) -> list[Metric]:
    """Only the samples named in `names`, and only the families left with one (what
    prometheus_client's restricted_registry gives, which also leaves the unit out)."""
    out = []
    for family in families:
        kept = [s for s in family.samples if s.name in names]
        if kept:
            metric = Metric(family.name, family.documentation, family.type)
            metric.samples = kept
            out.append(metric)
    return out


def _encode(encoder: Callable[[Any], bytes], parts: list[bytes], families: list[Metric],
            use_gzip: bool) -> bytes:
    """The response body: ready text parts, then `families` encoded, gzipped if asked."""
    pieces = [*parts, encoder(_Frozen(families))]
    if not use_gzip:
        return b"".join(pieces)
    # A gzip stream fed a few hundred kB at a time: no second copy of the whole text,
    # and the GIL is free while zlib works on each piece.
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= GZIP_PIECE:
            out.append(packer.compress(b"".join(batch)))
            batch, size = [], 0
    out.append(packer.compress(b"".join(batch)))
    out.append(packer.flush())
    return b"".join(out)


class HttpServer:
    """Runs a MetricsApp on one address; start() returns once the socket is listening."""

    def __init__(self, metrics_app: MetricsApp, host: str, port: int) -> None:
        self._app = metrics_app
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and listen; a non-loopback address is allowed but logged as a WARNING."""
        if not is_loopback(self.host):
            log.warning("listening on %s, which is not a loopback address: /metrics and "
                        "/healthz are reachable from the network (no authentication)", self.host)
        # shutdown_timeout bounds how long stop() waits for scrapes in progress (aiohttp's
        # default is 60 s, longer than any service manager waits after SIGTERM).
        self._runner = web.AppRunner(self._app.app, access_log=None, handle_signals=False,
                                     shutdown_timeout=SHUTDOWN_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:  # tests ask for any free port; learn the real one
            self.port = self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        """Base URL people can paste into a browser."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting and close open connections. Idempotent."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
