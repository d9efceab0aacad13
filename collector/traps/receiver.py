"""The trap receiver's network side: one UDP socket, per-source limits, a bounded queue.

A datagram is sorted on arrival for next to nothing: its source must be a device of the
inventory (else dropped as `unknown_source`), and that device must have a token left in
its bucket (`rate_per_source`, `burst`; else `rate_limited`). Only then does it wait in a
bounded queue (`queue`; full: `queue_full`) for the one worker task that decodes,
authenticates, answers informs and hands the trap on. So a flood costs the event loop
one dict lookup per datagram, decoding stays bounded by the rates, and polls keep their
cadence. Every drop is counted by reason; an unknown source or a device sending bad
credentials is logged once (per source), never per datagram.

An SNMPv3 trap (not an inform, which is sent to our engine) carries the authoritative
engine ID of the device that sent it; with `engine_of`, it must be the one polling
discovered for that device. A trap with another engine ID is counted as
`engine_id_mismatch`, logged once per source and not acted on; since a re-imaged or
replaced device legitimately gets a new engine ID, the mismatch also asks `on_mismatch`
for a poll of the device (its session then rediscovers the engine), after which its traps
match again. Before the first poll discovered an engine ID, the device's configured
`engine_id` (inventory) stands in for it; without one the credential alone decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from borderwatch.collector.traps.message import Rejected, Trap, TrapCredential, decode_community
from borderwatch.collector.traps.usm_receiver import UsmReceiver

log = logging.getLogger(__name__)

LOGGED_SOURCES_KEPT = 10_000  # sources remembered as "already logged" (bounded)
RESULTS = ("accepted", "unknown_source", "bad_credentials", "malformed", "unsupported",
           "rate_limited", "queue_full", "discovery", "time_window", "engine_id_mismatch")


@dataclass(frozen=True, slots=True)
class Source:
    """A device allowed to send traps: its id and the credential they must carry."""

    device_id: str
    credential: TrapCredential


@dataclass(slots=True)
class TokenBucket:
    """`rate` tokens per second up to `burst`; one per datagram."""

    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class TrapStats:
    """The receiver's counters (exported by collector.traps.metrics)."""

    results: Counter[str] = field(default_factory=Counter)  # datagrams by RESULTS entry
    traps: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (name, version, pdu)
    informs_acknowledged: int = 0
    queue_length: int = 0
    queue_capacity: int = 0
    last_trap: dict[str, float] = field(default_factory=dict)  # device → wall time received
    # the latest authenticated arrivals: (wall time, device), for trap-to-page measurements
    arrivals: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=1000))


Handler = Callable[[str, Trap, float], None]
"""Called with (device id, trap, wall time it arrived) for every authenticated trap."""


class TrapReceiver(asyncio.DatagramProtocol):
    """Owns the socket and the worker; `start()` binds, `close()` stops both."""

    def __init__(self, sources: dict[str, Source], handler: Handler, usm: UsmReceiver, *,
                 rate: float, burst: int, queue: int,
                 clock: Callable[[], float] = time.monotonic,
                 engine_of: Callable[[str], bytes | None] | None = None,
                 on_mismatch: Callable[[str], None] | None = None) -> None:
        """`engine_of`: a device's engine ID as discovered by polling (None: not known);
        `on_mismatch`: called with the device of a v3 trap whose engine ID differs."""
        self.sources = sources
        self.engine_of = engine_of
        self.on_mismatch = on_mismatch
        self.handler = handler
        self.usm = usm
        self.stats = TrapStats(queue_capacity=queue)
        self._rate, self._burst = rate, float(burst)
        self._buckets: dict[str, TokenBucket] = {}
        self._queue: asyncio.Queue[tuple[bytes, tuple[str, int], float]] = \
            asyncio.Queue(maxsize=queue)
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._worker: asyncio.Task[None] | None = None
        self._logged: set[tuple[str, str]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind the socket (OSError if it cannot) and start the worker; the bound address."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        self._worker = asyncio.create_task(self._work(), name="borderwatch-traps")
        sockname = transport.get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    async def close(self) -> None:
        """Stop receiving first, then the worker (what is queued is dropped)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.wait([self._worker])
            self._worker = None

    # ------------------------------------------------------------------ the receive path

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        host = addr[0]
        if host.startswith("::ffff:"):
            host = host[7:]
        results = self.stats.results
        if host not in self.sources:
            results["unknown_source"] += 1
            self._log_once(host, "unknown_source",
                           "trap from %s dropped: no device of the inventory has this address "
                           "(further ones are counted in borderwatch_traps_received_total)")
            return
        now = self._clock()
        bucket = self._buckets.get(host)
        if bucket is None:
            bucket = self._buckets[host] = TokenBucket(self._rate, self._burst, self._burst, now)
        if not bucket.take(now):
            results["rate_limited"] += 1
            return
        try:
            self._queue.put_nowait((data, (host, addr[1]), time.time()))
        except asyncio.QueueFull:
            results["queue_full"] += 1

    def error_received(self, exc: Exception) -> None:
        log.debug("trap socket error: %s", exc)  # e.g. ICMP port unreachable of an answer

    # ------------------------------------------------------------------ the worker

    async def _work(self) -> None:
        queue = self._queue
        while True:
            data, addr, received = await queue.get()
            self.stats.queue_length = queue.qsize()
            try:
                self._process(data, addr, received)
            except Exception:  # one bad trap (a bug below) must not end the receiver
                log.exception("trap from %s could not be handled", addr[0])
            if queue.empty():
                continue
            await asyncio.sleep(0)  # a long queue must not hold the loop: polls go first

    def _process(self, data: bytes, addr: tuple[str, int], received: float) -> None:
        source = self.sources[addr[0]]
        if data[:1] == b"\x30" and _version_field(data) == 3:
            result = self.usm.decode(data, source.credential)
        else:
            result = decode_community(data, source.credential)
        if result.response is not None and self._transport is not None:
            self._transport.sendto(result.response, addr)
        if isinstance(result, Rejected):
            self.stats.results[result.reason] += 1
            if result.reason in ("bad_credentials", "malformed", "unsupported"):
                self._log_once(addr[0], result.reason,
                               f"trap from %s ({source.device_id}) dropped: {result.detail} "
                               "(further ones are counted in borderwatch_traps_received_total)")
            return
        if result.engine_id is not None and result.pdu == "trap" and self.engine_of is not None:
            known = self.engine_of(source.device_id)
            if known is not None and known != result.engine_id:
                self.stats.results["engine_id_mismatch"] += 1
                self._log_once(addr[0], "engine_id_mismatch",
                               f"v3 trap from %s ({source.device_id}) dropped: engine ID "
                               f"{result.engine_id.hex()} is not the {known.hex()} polling "
                               "discovered; polling it to rediscover (further ones are counted "
                               "in borderwatch_traps_received_total)")
                if self.on_mismatch is not None:
                    self.on_mismatch(source.device_id)
                return
        self.stats.results["accepted"] += 1
        if result.pdu == "inform":
            self.stats.informs_acknowledged += 1
        self.stats.last_trap[source.device_id] = received
        self.stats.arrivals.append((received, source.device_id))
        self.handler(source.device_id, result, received)

    def _log_once(self, host: str, reason: str, message: str) -> None:
        if (host, reason) in self._logged:
            return
        if len(self._logged) >= LOGGED_SOURCES_KEPT:
            self._logged.clear()
        self._logged.add((host, reason))
        log.warning(message, host)


def _version_field(data: bytes) -> int | None:
    """The msgVersion of an SNMP message (0 v1, 1 v2c, 3 v3), None if unreadable."""
    with contextlib.suppress(IndexError):
        pos = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
        if data[pos] == 0x02 and data[pos + 1] == 1:
            return data[pos + 2]
    return None
