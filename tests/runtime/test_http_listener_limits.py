"""The listener under hostile clients, over real sockets: slow-loris, idle keep-alive,
oversized heads and bodies, clients that stop reading, more connections than the cap.

The listener runs with small limits (fractions of a second) so that each case takes
about a second; what is asserted is that the connection IS closed (within a bound many
times the limit, so a loaded machine cannot fail it) and why, from the listener's own
counters. Before exporters/http_limits.py each of these connections stayed open for
aiohttp's 3,630 s keep-alive, and a 413 went on reading its body.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from runtime_helpers import wait_until

from borderwatch.exporters.http import HttpServer, MetricsApp
from borderwatch.exporters.http_limits import ServerLimits

LIMITS = ServerLimits(header_timeout=0.5, idle_timeout=1.5, write_timeout=0.5,
                      request_timeout=5.0, max_connections=4, max_header_bytes=4096,
                      max_body_bytes=1024)
BOUND = 20.0  # seconds we wait for a close that the limits make due after ~0.5 s
BIG = 32 * 1024 * 1024  # a response no socket buffer holds


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    app = MetricsApp(CollectorRegistry(), dict, limits=LIMITS)
    gate = asyncio.Event()

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def slow(request: web.Request) -> web.Response:
        await gate.wait()
        return web.Response(text="done\n")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * BIG)

    app.app.router.add_post("/echo", echo)
    app.app.router.add_get("/slow", slow)
    app.app.router.add_get("/big", big)
    http = HttpServer(app, "127.0.0.1", 0)
    await http.start()
    try:
        yield http
    finally:
        gate.set()
        await http.stop()


async def _connect(http: HttpServer, *, rcvbuf: int | None = None
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", http.port))
    return await asyncio.open_connection(sock=sock)


async def _closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes; fails if it has not closed in BOUND."""
    got = b""
    async with asyncio.timeout(BOUND):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                return got
            if not chunk:
                return got
            got += chunk


def _closed_counts(http: HttpServer) -> dict[str, int]:
    return dict(http._app.listener.closed)


async def test_slow_loris_head_is_cut_at_the_header_timeout(server: HttpServer) -> None:
    reader, writer = await _connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def trickle() -> None:
        # one header byte every 0.1 s: always "active", never done
        with pytest.raises((ConnectionError, OSError)):
            for _ in range(int(BOUND * 10)):
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(0.1)
                if reader.at_eof():
                    raise ConnectionResetError

    dripping = asyncio.create_task(trickle())
    assert await _closed(reader) == b""
    took = loop.time() - started
    dripping.cancel()
    await asyncio.wait([dripping])
    writer.close()
    assert _closed_counts(server).get("header_timeout") == 1
    print(f"slow-loris closed after {took:.2f} s (header_timeout {LIMITS.header_timeout} s)")


async def test_a_silent_connection_and_an_idle_keep_alive_are_closed(server: HttpServer) -> None:
    silent_reader, silent = await _connect(server)  # connects and never sends a byte
    reader, writer = await _connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive (HTTP/1.1)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" not in head
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    assert await _closed(reader) == b""  # then idle: closed after idle_timeout
    assert await _closed(silent_reader) == b""
    for w in (writer, silent):
        w.close()
    assert _closed_counts(server).get("header_timeout") == 1  # the silent one
    assert server._app.listener.open == 0


async def test_an_oversized_body_gets_413_and_the_connection_closes_unread(
        server: HttpServer) -> None:
    reader, writer = await _connect(server)
    # 100 MB announced, 1 kB sent: the answer must come without the rest of the body.
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000000\r\n\r\n" + b"{" * 1000)
    await writer.drain()
    answer = await _closed(reader)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"Connection: close" in answer
    writer.close()
    # The same without a declared length (chunked): refused once the limit is passed.
    reader, writer = await _connect(server)
    chunk = b"a" * 4096
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                 b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    await writer.drain()
    answer = await _closed(reader)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    writer.close()
    assert _closed_counts(server).get("body_too_large") == 2
    # A body within the limit still works.
    reader, writer = await _connect(server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 b"Connection: close\r\n\r\nhello")
    assert (await _closed(reader)).endswith(b"\r\n\r\nhello")
    writer.close()


async def test_an_oversized_head_gets_431(server: HttpServer) -> None:
    reader, writer = await _connect(server)
    header = b"X-Filler: " + b"f" * 1000 + b"\r\n"
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + header * 8)  # 8 kB > 4 kB
    await writer.drain()
    answer = await _closed(reader)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    writer.close()
    assert _closed_counts(server).get("header_too_large") == 1


async def test_a_client_that_stops_reading_is_dropped(server: HttpServer) -> None:
    _, writer = await _connect(server, rcvbuf=4096)
    writer.write(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    # We never read: the server gives up on us.
    await wait_until(lambda: _closed_counts(server).get("write_timeout", 0) == 1,
                     within=BOUND, what="the listener dropping a client that stopped reading")
    writer.close()


async def test_the_connection_cap_evicts_waiting_connections_then_refuses() -> None:
    # Roomy deadlines here: only the cap may close a connection in this test.
    app = MetricsApp(CollectorRegistry(), dict, limits=ServerLimits(
        header_timeout=60, idle_timeout=60, max_connections=LIMITS.max_connections))
    gate = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await gate.wait()
        return web.Response(text="done\n")

    app.app.router.add_get("/slow", slow)
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        await _cap_cases(server, gate)
    finally:
        gate.set()
        await server.stop()


async def _cap_cases(server: HttpServer, gate: asyncio.Event) -> None:
    cap = LIMITS.max_connections
    guard = server._app.guard
    idle = [await _connect(server) for _ in range(cap)]  # all waiting for a head
    await wait_until(lambda: server._app.listener.accepted == cap, within=BOUND,
                     what="the idle connections accepted")
    reader, writer = await _connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await _closed(reader)).startswith(b"HTTP/1.1 200")  # got in: one evicted
    assert _closed_counts(server) == {"evicted_waiting": 1}
    assert await _closed(idle[0][0]) == b""  # the one that waited longest
    for _, w in idle:
        w.close()
    writer.close()
    await wait_until(lambda: server._app.listener.open == 0, within=BOUND,
                     what="every connection closed")

    # Every slot busy with a request in progress: the next connection is refused.
    busy = []
    for _ in range(cap):
        r, w = await _connect(server)
        w.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        busy.append((r, w))
    await wait_until(lambda: guard.busy() == cap, within=BOUND, what="every slot busy")
    reader, writer = await _connect(server)
    answer = await _closed(reader)
    assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
    assert _closed_counts(server).get("over_capacity") == 1
    gate.set()  # the busy ones are answered
    for r, w in busy:
        assert (await r.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        w.close()
    writer.close()


async def test_a_body_that_trickles_gets_408_and_a_close() -> None:
    """Slow-loris on the body: the head is complete, the declared body never is."""
    app = MetricsApp(CollectorRegistry(), dict, limits=ServerLimits(request_timeout=0.5))

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app.app.router.add_post("/echo", echo)
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        reader, writer = await _connect(server)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        await writer.drain()
        answer = await _closed(reader)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert _closed_counts(server) == {"request_timeout": 1}
        writer.close()
    finally:
        await server.stop()
