"""Connection limits of the HTTP listener: deadlines, a connection cap, head and body sizes.

Why: aiohttp (3.14 here) keeps an idle keep-alive connection for 3,630 s, has no
deadline on reading a request's head other than that, no cap on open connections, and
after answering a request whose body it did not read it goes on reading ("lingering")
for 10 s. An outside trial held 500 idle and 100 slow-loris connections open for minutes
and kept a 413 reading its body. So every connection passes through a `_Guarded`
protocol (asyncio's public Protocol interface, wrapped around aiohttp's own handler) and
one `ConnectionGuard`, which together enforce:

  * a head deadline: a request's head must be complete `header_timeout` seconds after
    the connection opened or after the first byte of a later request (Go's
    ReadHeaderTimeout), else the connection is closed;
  * an idle deadline: aiohttp's keep-alive timer, set to `idle_timeout`;
  * a write-stall deadline: a client that stops reading its response for
    `write_timeout` seconds is dropped (the slow-read form of slow-loris);
  * a request deadline: body reading and handling together, `request_timeout`;
  * a cap of `max_connections`: at the cap a new connection first evicts the one that
    has waited longest for a request (idle or head still incomplete); if every
    connection is busy with a request the new one gets a 503 and is closed;
  * `max_header_bytes` for a whole head (431 and close), aiohttp's own line and count
    limits, and `max_body_bytes`: a larger declared body gets a 413 and the connection
    is closed at once, its body never read (lingering is off).

The state a connection is in comes from two places: the bytes it sends (the guard) and
the request's passage through the application (`tracking_middleware`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD"})
# Why the listener closed or refused a connection (borderwatch_http_connections_closed_total).
REASONS = ("header_timeout", "write_timeout", "request_timeout", "header_too_large",
           "body_too_large", "over_capacity", "evicted_waiting")
_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 21\r\n\r\ntoo many connections\n")
_HEAD_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
                   b"Content-Type: text/plain\r\nContent-Length: 26\r\n\r\n"
                   b"request head is too large\n")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Every limit of the listener, in one place (tests shrink them)."""

    header_timeout: float = 10.0  # seconds for a request head, from open or its first byte
    idle_timeout: float = 60.0  # seconds a keep-alive connection may wait for a request
    write_timeout: float = 30.0  # seconds a client may leave its response unread
    request_timeout: float = 30.0  # seconds for reading the body and handling the request
    max_connections: int = 256  # open at once (Prometheus needs one per scraper)
    max_header_bytes: int = 16 * 1024  # a whole request head (Prometheus sends ~300 bytes)
    max_header_line: int = 8190  # one header line (aiohttp's default)
    max_headers: int = 64  # header fields per request
    max_body_bytes: int = 64 * 1024  # a silence is under 2 kB

    def runner_kwargs(self) -> dict[str, Any]:
        """The aiohttp AppRunner/RequestHandler settings that carry these limits."""
        return {"keepalive_timeout": self.idle_timeout, "max_line_size": self.max_header_line,
                "max_field_size": self.max_header_line, "max_headers": self.max_headers,
                # no lingering: an unread body is never read after the answer; close instead
                "lingering_time": 0}


class Phase(enum.Enum):
    """Where a connection is between two requests."""

    HEAD = "head"  # waiting for (the rest of) a request head
    BUSY = "busy"  # a request is being handled or answered
    IDLE = "idle"  # answered; waiting for the next request (keep-alive)


@dataclass(slots=True)
class ListenerStats:
    """What the guard did; exported as borderwatch_http_* self-metrics."""

    open: int = 0
    accepted: int = 0
    closed: Counter[str] = field(default_factory=Counter)  # reason -> connections closed
    auth_failures: int = 0  # requests refused with 401
    writes_refused: int = 0  # write requests refused with 403 (exporters.http_auth)


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's deadlines and cap."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.inner: Any = None  # aiohttp's RequestHandler, made once admitted
        self.transport: asyncio.Transport | None = None
        self.phase = Phase.HEAD
        self.since = 0.0  # monotonic time the current phase started
        self.head_bytes = 0
        self.head_done = False  # the end of the head was seen in the bytes
        self._tail = b""  # last bytes of the previous chunk (a head end split in two)
        self._timer: asyncio.TimerHandle | None = None
        self._stalled: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.guard.admit(self):
            transport.write(_REFUSAL)
            transport.close()
            return
        self.inner = self.guard.make_handler()
        self.guard.index(self)
        self.inner.connection_made(transport)
        self.enter(Phase.HEAD)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self.phase is Phase.IDLE:
            self.enter(Phase.HEAD)  # the first byte of the next request starts its deadline
        if self.phase is Phase.HEAD and not self.head_done:
            end = _head_end(self._tail + data)
            if end is None:
                self.head_bytes += len(data)
                self._tail = data[-3:]
            else:
                self.head_bytes += max(0, end - len(self._tail))
                self.head_done = True
            if self.head_bytes > self.guard.limits.max_header_bytes:
                self.close("header_too_large", _HEAD_TOO_LARGE)
                return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self.inner is not None:
            self.guard.forget(self)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is None:
            return
        if self._stalled is None:
            self._stalled = asyncio.get_running_loop().call_later(
                self.guard.limits.write_timeout, self.close, "write_timeout")
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is None:
            return
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        self.inner.resume_writing()

    # -- the guard's side
    def enter(self, phase: Phase) -> None:
        """Start a phase and its deadline (only HEAD has one of ours; IDLE is aiohttp's)."""
        self.phase = phase
        self.since = time.monotonic()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if phase is Phase.HEAD:
            self.head_bytes, self.head_done, self._tail = 0, False, b""
            self._timer = asyncio.get_running_loop().call_later(
                self.guard.limits.header_timeout, self.close, "header_timeout")

    def waiting(self) -> bool:
        """True when closing it loses no request: idle, or a head not complete yet."""
        if self.transport is None or self.transport.is_closing():
            return False
        if self.phase is Phase.HEAD:
            return not self.head_done
        return self.phase is Phase.IDLE and self.transport.get_write_buffer_size() == 0

    def close(self, reason: str, answer: bytes = b"") -> None:
        """Close the connection now, counted under `reason`."""
        self._cancel_timers()
        if self.transport is None or self.transport.is_closing():
            return
        self.guard.stats.closed[reason] += 1
        log.debug("closing an HTTP connection: %s", reason)
        if answer:
            self.transport.write(answer)
            self.transport.close()
        else:
            self.transport.abort()  # nothing to flush: do not wait on the client

    def _cancel_timers(self) -> None:
        for timer in (self._timer, self._stalled):
            if timer is not None:
                timer.cancel()
        self._timer = self._stalled = None


def _not_ready() -> Any:
    raise RuntimeError("ConnectionGuard.make_handler is not set (listener not set up)")


def _head_end(data: bytes) -> int | None:
    """Index just past the blank line ending a head (CRLF or bare LF), or None."""
    for mark in (b"\r\n\r\n", b"\n\n"):
        at = data.find(mark)
        if at >= 0:
            return at + len(mark)
    return None


class ConnectionGuard:
    """Admits connections up to the cap and finds a connection's state for a request."""

    def __init__(self, limits: ServerLimits, stats: ListenerStats | None = None) -> None:
        self.limits = limits
        # aiohttp's Server (one RequestHandler per call), set once the runner exists
        self.make_handler: Callable[[], Any] = _not_ready
        self.stats = stats if stats is not None else ListenerStats()
        self._open: set[_Guarded] = set()
        self._by_handler: dict[Any, _Guarded] = {}  # aiohttp's RequestHandler -> ours

    def protocol(self) -> asyncio.Protocol:
        """The protocol factory for loop.create_server()."""
        return _Guarded(self)

    def admit(self, conn: _Guarded) -> bool:
        """Room for `conn`? At the cap, evict the longest-waiting connection if any."""
        if len(self._open) >= self.limits.max_connections:
            waiting = [c for c in self._open if c.waiting()]
            if not waiting:
                self.stats.closed["over_capacity"] += 1
                return False
            min(waiting, key=lambda c: c.since).close("evicted_waiting")
        self.stats.accepted += 1
        self._open.add(conn)
        self.stats.open = len(self._open)
        return True

    def index(self, conn: _Guarded) -> None:
        """Find `conn` again from its requests (which know aiohttp's handler, not us)."""
        self._by_handler[conn.inner] = conn

    def forget(self, conn: _Guarded) -> None:
        """The connection is gone."""
        self._open.discard(conn)
        self._by_handler.pop(conn.inner, None)
        self.stats.open = len(self._open)

    def busy(self) -> int:
        """Connections with a request in progress."""
        return sum(1 for c in self._open if c.phase is Phase.BUSY)

    def of(self, request: web.BaseRequest) -> _Guarded | None:
        """The guarded connection a request came on (None for a request made in a test)."""
        return self._by_handler.get(request.protocol)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def tracking_middleware(guard: ConnectionGuard) -> Any:
    """The outermost middleware: marks the connection busy, bounds the request's time,
    refuses a declared body over the limit, and marks the connection idle afterwards."""

    @web.middleware
    async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
        conn = guard.of(request)
        if conn is not None:
            conn.enter(Phase.BUSY)
        try:
            size = request.content_length
            if size is not None and size > guard.limits.max_body_bytes:
                guard.stats.closed["body_too_large"] += 1
                raise _too_large(guard.limits.max_body_bytes)
            deadline = asyncio.timeout(guard.limits.request_timeout)
            try:
                async with deadline:
                    return await handler(request)
            except web.HTTPRequestEntityTooLarge:
                guard.stats.closed["body_too_large"] += 1
                raise _too_large(guard.limits.max_body_bytes) from None
            except TimeoutError:
                if not deadline.expired():
                    raise
                guard.stats.closed["request_timeout"] += 1
                late = web.HTTPRequestTimeout(
                    text=f"request not complete within {guard.limits.request_timeout:g} s\n")
                late.force_close()
                raise late from None
        finally:
            if conn is not None:
                conn.enter(Phase.IDLE)

    return track


def _too_large(limit: int) -> web.HTTPRequestEntityTooLarge:
    """413 that closes the connection: the body is never read."""
    exc = web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=limit + 1)
    exc.text = f"request body larger than {limit} bytes\n"
    exc.force_close()
    return exc


def is_write(request: web.BaseRequest) -> bool:
    """A request that changes something: every method but GET and HEAD."""
    return request.method not in _SAFE_METHODS
