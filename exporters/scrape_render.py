"""/metrics bodies: one render shared by concurrent scrapes, sent in slices.

Why: 200 concurrent /metrics requests each rendered the whole state and wrote a whole
body in one go; the event loop spent seconds on it, polls were skipped and devices
timed out (an outside trial: scheduler lag 2.7–4.3 s, 5 false pages). Here:

  * single flight: requests for the same variant (the `name[]` filter and the format;
    gzip is derived from the plain text) that arrive while a render is in progress
    await that render instead of starting their own; a request arriving after it ended
    starts a new one (the answer is always the current state, never a cached one);
  * the per-device text is rendered in slices that yield to the event loop
    (exporters.device_text); encoding the global families and gzip run in a worker
    thread (zlib releases the GIL), each once per render;
  * every response is written in BODY_PIECE slices of the one shared body (no copy per
    connection), at most PIECES_PER_TURN slices per turn of the event loop for all
    responses together (`Turnstile`), so each turn stays short and polls waiting for
    their SNMP answers are served between the slices.
"""

from __future__ import annotations

import asyncio
import collections
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from borderwatch.exporters.device_text import DeviceText

SERIES_METRIC = "borderwatch_exposition_series"
# Level 1 compresses an exposition ~8× (level 6: ~10×) for a quarter of the CPU: for
# 10,000 devices that is 0.09 s instead of 0.3 s per scrape (bench/micro.py).
GZIP_LEVEL = 1
GZIP_PIECE = 1 << 18  # bytes handed to zlib per call (it releases the GIL while it works)
BODY_PIECE = 1 << 16  # bytes of a response written at a time
PIECES_PER_TURN = 8  # pieces written per turn of the event loop, all responses together
# Renders of a variant start at least this many seconds apart: with scrapers back to back
# they would otherwise follow each other without a pause and take the loop (10 renders a
# second at most, per variant, whatever the crowd). A scrape arriving in the gap waits
# for the next render, so it still sees the state as of its own arrival or later.
RENDER_GAP = 0.1


@dataclass(slots=True)
class RenderStats:
    """What /metrics rendering cost; exported as self-metrics on the next scrape."""

    seconds: float = 0.0  # the last render, start to body ready
    bytes: int = 0  # the last response body sent (after compression, if any)
    series: int = 0
    scrapes: int = 0  # /metrics responses
    renders: int = 0  # renders: fewer than scrapes when concurrent scrapes shared one


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


@dataclass(frozen=True, slots=True)
class Variant:
    """What makes two /metrics bodies differ (besides gzip, derived from the text)."""

    names: frozenset[str] | None  # the name[] filter, None for everything
    accept: str  # the content type the encoder chosen by Accept produces


class Exposition:
    """One render: the body as parts, plain (joined once, on demand) and gzipped (made
    once, on demand, off the loop).

    Why parts: the body is ~80 MB of text for 10,000 devices, and Prometheus always asks
    for gzip; joining the parts into one plain body first copied all of it once more per
    scrape, holding the GIL (bytes.join does not release it) for ~0.1 s. The gzip stream
    is fed from the parts directly, and the plain body is joined only for a client that
    wants it.
    """

    def __init__(self, parts: list[bytes], content_type: str) -> None:
        self._parts = parts
        self.content_type = content_type
        self._plain: bytes | None = None
        self._gzip: asyncio.Future[bytes] | None = None

    @property
    def plain(self) -> bytes:
        """The body uncompressed (joined at the first call, kept for the next)."""
        if self._plain is None:
            self._plain = b"".join(self._parts)
        return self._plain

    async def gzipped(self) -> bytes:
        """The body gzipped; concurrent callers share one compression."""
        if self._gzip is None:
            source = [self._plain] if self._plain is not None else self._parts
            self._gzip = asyncio.ensure_future(asyncio.to_thread(_gzip_parts, source))
        return await asyncio.shield(self._gzip)


class ScrapeRenderer:
    """Renders /metrics bodies from a registry, one render per variant in flight."""

    def __init__(self, registry: CollectorRegistry, stats: RenderStats) -> None:
        self.registry = registry
        self.stats = stats
        self._in_flight: dict[Variant, asyncio.Task[Exposition]] = {}
        self._started: dict[Variant, float] = {}  # loop time the latest render started

    async def exposition(self, names: list[str], accept_header: str) -> Exposition:
        """The current state's exposition; joins a render of the same variant in flight
        (or about to start)."""
        encoder, content_type = choose_encoder(accept_header)
        variant = Variant(frozenset(names) if names else None, content_type)
        task = self._in_flight.get(variant)
        if task is None:
            task = asyncio.create_task(self._render(variant, encoder),
                                       name="borderwatch-metrics-render")
            self._in_flight[variant] = task
            task.add_done_callback(lambda done: self._done(variant, done))
        # shield: a scrape that gives up (client gone, deadline) does not cancel the
        # render the others are waiting for.
        return await asyncio.shield(task)

    def _done(self, variant: Variant, task: asyncio.Task[Exposition]) -> None:
        if self._in_flight.get(variant) is task:
            del self._in_flight[variant]
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have gone already

    async def close(self) -> None:
        """Cancel renders in flight and wait for them (the listener is stopping)."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _render(self, variant: Variant, encoder: Callable[[Any], bytes]) -> Exposition:
        loop = asyncio.get_running_loop()
        wait = self._started.get(variant, -RENDER_GAP) + RENDER_GAP - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._started[variant] = loop.time()
        started = time.perf_counter()
        names = variant.names
        registry = self.registry
        parts: list[bytes] = []
        samples = 0
        if isinstance(registry, SplitRegistry):
            # The per-device families as text, in slices that yield to the event loop;
            # then the few global ones, built on the loop, where state is consistent.
            text = await registry.device_text.render(
                names, openmetrics=variant.accept.startswith("application/openmetrics-text"))
            parts, samples = text.parts, text.samples
            families = list(registry.collect_global())
            if names:
                families = _restricted(families, set(names))
        else:
            families = list((registry.restricted_registry(sorted(names)) if names else
                             registry).collect())
        samples += sum(len(f.samples) for f in families)
        if not names or SERIES_METRIC in names:
            # Counted here, over everything in the response (process_* included).
            samples += 1
            families.append(GaugeMetricFamily(
                SERIES_METRIC, "Samples in this exposition (this one included).", value=samples))
        # Encoding the global families (the OpenMetrics encoder ends with "# EOF", so they
        # come last) happens in a worker thread: off the event loop.
        parts.append(await asyncio.to_thread(encoder, _Frozen(families)))
        self.stats.seconds = time.perf_counter() - started
        self.stats.series = samples
        self.stats.renders += 1
        return Exposition(parts, variant.accept)


class Turnstile:
    """At most `per_turn` pieces written per turn of the event loop, by all responses
    together; the others wait their turn, first come first served.

    Why: 200 responses each writing a piece per turn made every turn of the loop ~20 ms
    long; a poll waits a turn for each of its SNMP answers, so its 5–10 round trips took
    seconds and polls missed their deadline. A per-response semaphore would not do: a
    client that stops reading would hold its slot. Here nothing is held while a write
    waits for the client.
    """

    def __init__(self, per_turn: int = PIECES_PER_TURN) -> None:
        self.per_turn = per_turn
        self._used = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._reset_planned = False

    async def turn(self) -> None:
        """Return when this caller may write one piece in the current turn."""
        if self._used < self.per_turn and not self._waiting:
            self._used += 1
            self._plan_reset()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        self._plan_reset()
        await waiter

    def _plan_reset(self) -> None:
        if not self._reset_planned:
            self._reset_planned = True
            asyncio.get_running_loop().call_soon(self._next_turn)  # runs in the next turn

    def _next_turn(self) -> None:
        self._reset_planned = False
        self._used = 0
        while self._waiting and self._used < self.per_turn:
            waiter = self._waiting.popleft()
            if not waiter.done():  # (a scrape cancelled while it waited)
                waiter.set_result(None)
                self._used += 1
        if self._used:
            self._plan_reset()


async def send_body(request: web.Request, body: bytes, headers: dict[str, str],
                    turnstile: Turnstile) -> web.StreamResponse:
    """Answer with `body` in BODY_PIECE slices, each on a turn of the `turnstile`.

    The slices are views of the one body shared by every concurrent scrape: what a
    connection holds beyond it is bounded by the transport's write buffer.
    """
    response = web.StreamResponse(headers=headers)
    response.content_length = len(body)
    await turnstile.turn()  # the head is a piece too: 200 scrapes woken at once by one
    await response.prepare(request)  # render must not all prepare in the same turn
    if request.method != "HEAD":
        view = memoryview(body)
        for start in range(0, len(body), BODY_PIECE):
            await turnstile.turn()
            await response.write(view[start:start + BODY_PIECE])
    await response.write_eof()
    return response


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


def _encode(encoder: Callable[[Any], bytes], parts: list[bytes], families: list[Metric]
            ) -> bytes:
    """The plain body: ready text parts, then `families` encoded."""
    return b"".join([*parts, encoder(_Frozen(families))])


def _gzip(plain: bytes) -> bytes:
    """A gzip stream of `plain`."""
    return _gzip_parts([plain])


def _gzip_parts(parts: Iterable[bytes]) -> bytes:
    """A gzip stream of the parts one after the other, fed to zlib at most GZIP_PIECE
    bytes at a time (the GIL is free while zlib works on a piece). Small parts are
    gathered into a piece first: a zlib call per 5 KB chunk would cost more than it
    compresses."""
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    gathered: list[bytes] = []
    size = 0
    for part in parts:
        if len(part) >= GZIP_PIECE:
            if gathered:
                out.append(packer.compress(b"".join(gathered)))
                gathered, size = [], 0
            view = memoryview(part)
            out += [packer.compress(view[i:i + GZIP_PIECE])
                    for i in range(0, len(part), GZIP_PIECE)]
            continue
        gathered.append(part)
        size += len(part)
        if size >= GZIP_PIECE:
            out.append(packer.compress(b"".join(gathered)))
            gathered, size = [], 0
    if gathered:
        out.append(packer.compress(b"".join(gathered)))
    out.append(packer.flush())
    return b"".join(out)
