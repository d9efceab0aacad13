"""One asyncio UDP socket per address family, multiplexing v1/v2c requests by request-id.

Design decisions (see reliability tests A5–A9):

- Responses are matched by request-id AND source (address, port) == the target, unless the
  request allows any source (A7). Everything else is dropped, noted at DEBUG and counted
  in `stats.dropped` by reason.
- A retry re-sends the *same* datagram with the same request-id (net-snmp's habit too), and
  whichever reply arrives first answers the request: on a slow link (satellite RTT near the
  timeout) the late reply to attempt 1 is as good as the reply to attempt 2 and saves a
  round trip. A request-id is never reused while in flight and the counter walks the whole
  31-bit space, so a stale reply can only ever match the request it was sent for (A6); once
  the request is answered, further copies are dropped as "duplicate" (A5), and replies to
  a request that already timed out as "late".
- The in-flight cap is global across devices (A9); a request holds one slot from first
  send to answer/timeout, and waiting for a slot counts against the caller's deadline.
  Slots are a counter plus a FIFO of waiters rather than an asyncio.Semaphore: the common
  case (a slot is free) costs one comparison, where Semaphore.acquire() under
  asyncio.timeout_at() costs a context manager, a timer and (3.11) a walk of the waiters.
- Per request the hot path allocates one future and one timer per attempt and nothing
  else: the target address is parsed once per host string (sessions pass the same string
  every time), the answer is stored on the pending entry and the receive path wakes the
  attempt's waiter directly (no asyncio.wait() with its set, callbacks and extra timer).
- A malformed datagram whose request-id is readable fails that request at once with
  SnmpMalformed. One whose header is unreadable is remembered on the pending requests to
  that source: if no valid answer comes, they fail as "malformed response" instead of
  a plain timeout (A11).

The socket binds to `local_address` (default 0.0.0.0 / ::, as SNMP managers do: replies
come back to whichever interface routes to the device). Tests pass 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from borderwatch.collector.snmp.ber import (
    REPORT,
    RESPONSE,
    MalformedPacket,
    Message,
    decode_message,
)
from borderwatch.collector.snmp.types import SnmpDeadline, SnmpError, SnmpTimeout

log = logging.getLogger(__name__)

_MAX_REQUEST_ID = 0x7FFFFFFF
_RECENT_IDS = 4096  # finished ids remembered: a duplicate or a late reply, not an unknown id
_RCVBUF = 1 << 20
_HOSTS_MAX = 100_000  # parsed target addresses kept (one per device normally)


@dataclass
class TransportStats:
    """Counters for self-metrics; read by the exporter, never reset."""

    requests: int = 0  # logical requests started
    sent: int = 0  # datagrams sent, retries included
    retries: int = 0
    timeouts: int = 0
    responses: int = 0  # datagrams that answered a request
    malformed: int = 0  # datagrams that were not valid SNMP v1/v2c
    dropped: Counter[str] = field(default_factory=Counter)  # by reason
    in_flight: int = 0
    max_in_flight_seen: int = 0


class RequestCount:
    """Datagrams sent on behalf of one session (retries included), for PollResult.requests,
    and how long the session's latest answered request took from first send to answer
    (no wait for an in-flight slot in it): the agent's answer time, for sizing requests.
    With it, that request's attempts and the time from its last send to the answer, for
    the round-trip estimate (rtt.py: Karn's rule, spurious retransmissions). Read right
    after the request returns, before the next await: concurrent requests overwrite them."""

    __slots__ = ("answer_time", "attempts", "last_wait", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.answer_time = 0.0
        self.attempts = 0
        self.last_wait = 0.0


class _Pending:
    """One request in flight: where it went, and its outcome once one arrived.

    `done` is set (with `message` or `error`) by the receive path, which also wakes the
    current attempt's `waiter`; a retry keeps the entry, so a late answer to an earlier
    attempt completes the request too.
    """

    __slots__ = ("accept_any", "done", "error", "host", "malformed", "message", "port",
                 "waiter")

    def __init__(self, host: str, port: int, accept_any: bool) -> None:
        self.host = host
        self.port = port
        self.accept_any = accept_any
        self.malformed: str | None = None  # an unreadable datagram came from the target
        self.done = False
        self.message: Message | None = None
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    def finish(self, message: Message | None, error: BaseException | None) -> None:
        """Record the outcome and wake the request's coroutine (at most once)."""
        self.done = True
        self.message = message
        self.error = error
        _wake(self.waiter)


def _wake(waiter: asyncio.Future | None, value: object = None) -> None:
    """Complete a waiter unless it is already done (timer and answer may race)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(value)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: SnmpTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._owner._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors on an unconnected socket can't be tied to a request; they time out.
        log.debug("UDP error: %s", exc)


class SnmpTransport:
    """Shared UDP endpoint(s) for every v1/v2c session of the process."""

    def __init__(self, *, max_in_flight: int = 64, local_address: str = "0.0.0.0",
                 local_address6: str = "::") -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.max_in_flight = max_in_flight
        self.stats = TransportStats()
        self._local = {socket.AF_INET: local_address, socket.AF_INET6: local_address6}
        self._endpoints: dict[int, asyncio.DatagramTransport] = {}
        self._opening: dict[int, asyncio.Lock] = {}
        self._free = max_in_flight  # in-flight slots not taken
        # Requests waiting for a slot, oldest first; a waiter that expired or was cancelled
        # stays until _release() skips it (it is done by then).
        self._slot_waiters: deque[asyncio.Future[bool]] = deque()
        self._hosts: dict[str, tuple[int, str]] = {}  # host string → (family, canonical)
        self._pending: dict[int, _Pending] = {}
        self._recent: dict[int, bool] = {}  # finished ids, oldest first → answered?
        self._next_id = secrets.randbelow(_MAX_REQUEST_ID) + 1
        self._closed = False

    @classmethod
    async def create(cls, *, max_in_flight: int = 64, local_address: str = "0.0.0.0",
                     local_address6: str = "::") -> SnmpTransport:
        """A transport with its IPv4 socket bound (IPv6 opens on first use)."""
        self = cls(max_in_flight=max_in_flight, local_address=local_address,
                   local_address6=local_address6)
        await self._endpoint(socket.AF_INET)
        return self

    @property
    def local_address(self) -> str:
        """The IPv4 address the socket binds to (v3 sessions bind theirs the same way)."""
        return self._local[socket.AF_INET]

    def local_port(self, family: int = socket.AF_INET) -> int | None:
        """The bound ephemeral port (for tests and logs)."""
        endpoint = self._endpoints.get(family)
        return endpoint.get_extra_info("sockname")[1] if endpoint else None

    async def _endpoint(self, family: int) -> asyncio.DatagramTransport:
        endpoint = self._endpoints.get(family)
        if endpoint is not None:
            return endpoint
        lock = self._opening.setdefault(family, asyncio.Lock())
        async with lock:
            if family not in self._endpoints:
                if self._closed:
                    raise SnmpError("SNMP transport is closed")
                loop = asyncio.get_running_loop()
                endpoint, _ = await loop.create_datagram_endpoint(
                    lambda: _Protocol(self), local_addr=(self._local[family], 0), family=family)
                sock = endpoint.get_extra_info("socket")
                # many concurrent answers of up to 64 KiB: a larger buffer avoids drops
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
                self._endpoints[family] = endpoint
            return self._endpoints[family]

    def _allocate_id(self) -> int:
        request_id = self._next_id
        while request_id in self._pending:
            request_id = request_id % _MAX_REQUEST_ID + 1
        self._next_id = request_id % _MAX_REQUEST_ID + 1
        return request_id

    async def request(
        self,
        host: str,
        port: int,
        build: Callable[[int], bytes],
        *,
        timeout: float,  # noqa: ASYNC109 - per attempt; `deadline` bounds the whole call
        retries: int,
        deadline: float,
        accept_any_source: bool = False,
        count: RequestCount | None = None,
    ) -> Message:
        """Send build(request_id) to host:port and return the matching Response/Report.

        Raises SnmpTimeout (no valid answer within timeout × (retries+1)), SnmpDeadline
        (a subclass: `deadline` came first, so the agent was not given all its attempts),
        SnmpMalformed (the answer could not be decoded). The message of these is generic;
        sessions add target and operation.
        """
        if self._closed:
            raise SnmpError("SNMP transport is closed")
        known = self._hosts.get(host)
        if known is None:
            known = self._parse_host(host)
        family, host = known
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            raise SnmpDeadline("deadline passed before sending")
        endpoint = self._endpoints.get(family) or await self._endpoint(family)
        if self._free > 0:  # _release() hands slots to waiters first: none is queued
            self._free -= 1
        else:
            await self._wait_for_slot(loop, deadline)
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        if stats.in_flight > stats.max_in_flight_seen:
            stats.max_in_flight_seen = stats.in_flight
        request_id = self._allocate_id()
        pending = _Pending(host, port, accept_any_source)
        self._pending[request_id] = pending
        try:
            payload = build(request_id)
            first_send = loop.time()
            cut = False  # the deadline, not the agent's silence, ended the last wait
            for attempt in range(retries + 1):
                now = loop.time()
                if now >= deadline:
                    cut = True
                    break
                cut = now + timeout > deadline
                if attempt:
                    stats.retries += 1
                endpoint.sendto(payload, (host, port))
                stats.sent += 1
                if count is not None:
                    count.sent += 1
                # The timer completes this attempt's waiter, never the request: an answer
                # to this attempt that arrives during the next one still counts.
                waiter = pending.waiter = loop.create_future()
                timer = loop.call_at(min(now + timeout, deadline), _wake, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                if pending.done:
                    if pending.error is not None:
                        raise pending.error  # SnmpMalformed, or the transport closed
                    if count is not None:
                        answered = loop.time()
                        count.answer_time = answered - first_send
                        count.attempts = attempt + 1
                        count.last_wait = answered - now
                    return pending.message  # type: ignore[return-value]
            stats.timeouts += 1
            if pending.malformed:
                raise MalformedPacket(pending.malformed)
            if cut:
                raise SnmpDeadline("deadline passed waiting for an answer")
            raise SnmpTimeout("no response")
        finally:
            pending.waiter = None
            del self._pending[request_id]
            self._recent[request_id] = pending.done
            if len(self._recent) > _RECENT_IDS:
                del self._recent[next(iter(self._recent))]
            stats.in_flight -= 1
            self._release()

    def _parse_host(self, host: str) -> tuple[int, str]:
        """(family, canonical address) of a literal address; ValueError for a name."""
        address = ipaddress.ip_address(host)  # sessions resolve names before calling
        known = (socket.AF_INET6 if address.version == 6 else socket.AF_INET, str(address))
        if len(self._hosts) >= _HOSTS_MAX:
            self._hosts.clear()
        self._hosts[host] = known
        return known

    async def _wait_for_slot(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Queue for an in-flight slot (FIFO), giving up at `deadline`."""
        waiter: asyncio.Future[bool] = loop.create_future()
        self._slot_waiters.append(waiter)
        timer = loop.call_at(deadline, _wake, waiter, False)
        try:
            granted = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._release()  # handed a slot in the same loop pass: pass it on
            raise
        finally:
            timer.cancel()
        if not granted:
            raise SnmpDeadline("deadline passed waiting for an in-flight slot")

    def _release(self) -> None:
        """Give a slot back: to the oldest live waiter, or to the free count."""
        waiters = self._slot_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # skip those that expired or were cancelled
                waiter.set_result(True)
                return
        self._free += 1

    def _drop(self, reason: str, addr: tuple, request_id: int | None) -> None:
        self.stats.dropped[reason] += 1
        log.debug("dropped datagram from %s:%s (request-id %s): %s", addr[0], addr[1],
                  request_id, reason)

    def _source_ok(self, pending: _Pending, addr: tuple) -> bool:
        return pending.accept_any or (addr[0] == pending.host and addr[1] == pending.port)

    def _received(self, data: bytes, addr: tuple) -> None:
        try:
            message = decode_message(data)
        except MalformedPacket as exc:
            self.stats.malformed += 1
            self._malformed(exc, addr)
            return
        if message.pdu_type != RESPONSE and message.pdu_type != REPORT:
            self._drop("not a response", addr, message.request_id)
            return
        pending = self._pending.get(message.request_id)
        if pending is None:
            answered = self._recent.get(message.request_id)
            reason = ("unknown request-id" if answered is None
                      else "duplicate" if answered else "late")
            self._drop(reason, addr, message.request_id)
            return
        if not self._source_ok(pending, addr):
            self._drop("wrong source", addr, message.request_id)
            return
        if pending.done:
            self._drop("duplicate", addr, message.request_id)
            return
        self.stats.responses += 1
        pending.finish(message, None)

    def _malformed(self, exc: MalformedPacket, addr: tuple) -> None:
        reason = str(exc)
        if exc.request_id is not None:
            pending = self._pending.get(exc.request_id)
            if pending is not None and self._source_ok(pending, addr):
                if not pending.done:
                    pending.finish(None, MalformedPacket(reason, exc.request_id))
                return
        matched = False
        for pending in self._pending.values():
            if addr[0] == pending.host and addr[1] == pending.port:
                pending.malformed = reason
                matched = True
        log.debug("malformed datagram from %s:%s (%s)%s", addr[0], addr[1], reason,
                  "" if matched else ", no request pending")

    async def close(self) -> None:
        """Close the sockets and fail whatever is still pending. Idempotent."""
        self._closed = True
        for pending in self._pending.values():
            if not pending.done:
                pending.finish(None, SnmpError("SNMP transport closed"))
        for endpoint in self._endpoints.values():
            endpoint.close()
        self._endpoints.clear()
        await asyncio.sleep(0)  # let the loop run connection_lost callbacks
