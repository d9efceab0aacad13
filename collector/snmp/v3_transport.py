"""The UDP endpoint shared by every SNMPv3 session of an event loop, routing by msgID.

The v1/v2c `SnmpTransport` decodes every datagram as a v2c message, so v3 has its own
socket (one per address family and local address, per event loop, closed with the last
session using it). The rules are the v2c transport's (reliability tests A5-A9): answers
are matched by msgID and source (address, port) unless the session accepts any source; a
retry re-sends the same datagram and whichever answer comes first wins; msgIDs walk the
31-bit space and are never reused while in flight; an in-flight cap (the inventory's
`max_in_flight`, taken from the v2c transport) bounds concurrent requests.

The endpoint hands the raw datagram to the session: only the session holds the keys to
check and decrypt it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from borderwatch.collector.snmp.types import SnmpDeadline, SnmpError, SnmpTimeout
from borderwatch.collector.snmp.v3_message import peek_msg_id

log = logging.getLogger(__name__)

_MAX_ID = 0x7FFFFFFF
_RCVBUF = 1 << 20


@dataclass
class V3Stats:
    """Counters of one endpoint (datagrams sent, answers, drops by reason)."""

    sent: int = 0
    responses: int = 0
    timeouts: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


class _Pending:
    __slots__ = ("accept_any", "future", "host", "port")

    def __init__(self, host: str, port: int, future: asyncio.Future[bytes],
                 accept_any: bool) -> None:
        self.host = host
        self.port = port
        self.future = future
        self.accept_any = accept_any


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: V3Endpoint) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._owner._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error (v3): %s", exc)


class V3Endpoint:
    """One bound UDP socket for SNMPv3 requests; use `V3Endpoint.acquire`/`release`."""

    def __init__(self, key: tuple[int, str], max_in_flight: int) -> None:
        self.key = key
        self.users = 0
        self.stats = V3Stats()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._pending: dict[int, _Pending] = {}
        self._next_id = secrets.randbelow(_MAX_ID) + 1
        self._socket: asyncio.DatagramTransport | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    # -------------------------------------------------------------- sharing

    @classmethod
    def acquire(cls, family: int, local_address: str, max_in_flight: int) -> V3Endpoint:
        """The loop's endpoint for (family, local address); the caller must `release` it."""
        endpoints = _ENDPOINTS.setdefault(asyncio.get_running_loop(), {})
        key = (family, local_address)
        endpoint = endpoints.get(key)
        if endpoint is None or endpoint._closed:
            endpoint = endpoints[key] = cls(key, max_in_flight)
        endpoint.users += 1
        return endpoint

    def release(self) -> None:
        """Drop one user; the last one closes the socket."""
        self.users -= 1
        if self.users > 0:
            return
        self._closed = True
        endpoints = _ENDPOINTS.get(asyncio.get_running_loop(), {})
        if endpoints.get(self.key) is self:
            del endpoints[self.key]
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(SnmpError("SNMPv3 endpoint closed"))
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def _open(self) -> asyncio.DatagramTransport:
        async with self._opening:
            if self._socket is None:
                if self._closed:
                    raise SnmpError("SNMPv3 endpoint closed")
                family, local = self.key
                loop = asyncio.get_running_loop()
                self._socket, _ = await loop.create_datagram_endpoint(
                    lambda: _Protocol(self), local_addr=(local, 0), family=family)
                sock = self._socket.get_extra_info("socket")
                with contextlib.suppress(OSError):  # many concurrent answers
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            return self._socket

    def _allocate_id(self) -> int:
        msg_id = self._next_id
        while msg_id in self._pending:
            msg_id = msg_id % _MAX_ID + 1
        self._next_id = msg_id % _MAX_ID + 1
        return msg_id

    # -------------------------------------------------------------- requests

    async def request(self, host: str, port: int, build: Callable[[int], bytes], *,
                      timeout: float,  # noqa: ASYNC109 - per attempt; deadline bounds all
                      retries: int, deadline: float, accept_any_source: bool = False,
                      on_send: Callable[[], None] | None = None) -> bytes:
        """Send build(msg_id) to host:port (up to retries+1 times) and return the answer.

        The answer is the raw datagram whose msgID matched; SnmpTimeout when none came
        (SnmpDeadline when `deadline` ended the wait before the attempts were used up).
        """
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            raise SnmpDeadline("deadline passed before sending")
        endpoint = self._socket or await self._open()
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            raise SnmpDeadline("deadline passed waiting for an in-flight slot") from None
        msg_id = self._allocate_id()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending[msg_id] = _Pending(host, port, future, accept_any_source)
        try:
            payload = build(msg_id)
            cut = False  # the deadline, not the agent's silence, ended the last wait
            for _ in range(retries + 1):
                now = loop.time()
                if now >= deadline:
                    cut = True
                    break
                cut = now + timeout > deadline
                endpoint.sendto(payload, (host, port))
                self.stats.sent += 1
                if on_send is not None:
                    on_send()
                await asyncio.wait((future,), timeout=min(timeout, deadline - now))
                if future.done():
                    return future.result()
            self.stats.timeouts += 1
            if cut:
                raise SnmpDeadline("deadline passed waiting for an answer")
            raise SnmpTimeout("no response")
        finally:
            del self._pending[msg_id]
            if not future.done():
                future.cancel()
            self._slots.release()

    def _received(self, data: bytes, addr: tuple) -> None:
        msg_id = peek_msg_id(data)
        pending = self._pending.get(msg_id) if msg_id is not None else None
        if pending is None:
            reason = "not SNMPv3" if msg_id is None else "unknown or late msgID"
        elif not (pending.accept_any or (addr[0] == pending.host and addr[1] == pending.port)):
            reason = "wrong source"
        elif pending.future.done():
            reason = "duplicate"
        else:
            self.stats.responses += 1
            pending.future.set_result(data)
            return
        self.stats.dropped[reason] += 1
        log.debug("dropped v3 datagram from %s:%s (msgID %s): %s", addr[0], addr[1], msg_id,
                  reason)


# Per event loop: a socket belongs to the loop that created it.
_ENDPOINTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                      dict[tuple[int, str], V3Endpoint]] = (
    weakref.WeakKeyDictionary())
