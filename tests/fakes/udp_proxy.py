"""T2 UDP fault proxy: sits between a client and a REAL agent and delays, drops, duplicates,
truncates or blackholes datagrams per direction, changeable while it runs (netem stand-in).

Each client address gets its own upstream socket, so answers go back to the right client.
Randomness comes from a seeded generator: a test's loss pattern is reproducible.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field


@dataclass
class BurstLoss:
    """Gilbert-Elliott loss: a datagram moves the link between a good and a bad state
    (`enter`: good → bad, `leave`: bad → good, per datagram) and is lost with the state's
    probability: losses come in bursts, as on a microwave hop in rain fade or multipath."""

    enter: float = 0.02
    leave: float = 0.25
    loss_good: float = 0.0
    loss_bad: float = 0.7
    bad: bool = False

    def lost(self, rng: random.Random) -> bool:
        """Advance the state by one datagram; True if that datagram is lost."""
        self.bad = rng.random() >= self.leave if self.bad else rng.random() < self.enter
        return rng.random() < (self.loss_bad if self.bad else self.loss_good)


@dataclass
class Direction:
    """Faults for one direction; change the attributes at any time."""

    delay: float = 0.0  # seconds added to every datagram
    jitter: float = 0.0  # ± uniform seconds on top of delay
    drop: float = 0.0  # probability of dropping a datagram
    dup: int = 0  # extra copies sent of each datagram
    blackhole: bool = False  # drop everything
    truncate_to: int | None = None  # cut datagrams to this many bytes
    # per-datagram delays used first; None in it drops that datagram
    schedule: list[float | None] = field(default_factory=list)
    burst: BurstLoss | None = None  # bursty loss on top of `drop`
    # counters
    seen: int = 0
    forwarded: int = 0
    dropped: int = 0

    def plan(self, rng: random.Random) -> list[float]:
        """Delays of the copies to send for one datagram (empty = dropped)."""
        self.seen += 1
        if self.blackhole or (self.drop and rng.random() < self.drop) or (
                self.burst is not None and self.burst.lost(rng)):
            self.dropped += 1
            return []
        base = self.schedule.pop(0) if self.schedule else self.delay
        if base is None:
            self.dropped += 1
            return []
        delays = []
        for _ in range(1 + self.dup):
            jitter = rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
            delays.append(max(0.0, base + jitter))
        self.forwarded += len(delays)
        return delays

    def shape(self, data: bytes) -> bytes:
        return data if self.truncate_to is None else data[:self.truncate_to]


class _Front(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpProxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.proxy._from_client(data, addr)


class _Back(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpProxy, client: tuple) -> None:
        self.proxy = proxy
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.proxy._from_agent(data, self.client)


class UdpProxy:
    """`await UdpProxy.start(upstream)`; clients talk to `.endpoint`; `close()` when done."""

    def __init__(self, upstream: tuple[str, int], seed: int) -> None:
        self.upstream = upstream
        self.to_agent = Direction()
        self.to_client = Direction()
        self.rng = random.Random(seed)
        self.host = ""
        self.port = 0
        self._front: asyncio.DatagramTransport | None = None
        self._backs: dict[tuple, asyncio.DatagramTransport] = {}
        self._opening: dict[tuple, asyncio.Future[asyncio.DatagramTransport]] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    async def start(cls, upstream: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0,
                    seed: int = 1) -> UdpProxy:
        proxy = cls(upstream, seed)
        loop = asyncio.get_running_loop()
        proxy._front, _ = await loop.create_datagram_endpoint(
            lambda: _Front(proxy), local_addr=(host, port))
        proxy.host, proxy.port = proxy._front.get_extra_info("sockname")[:2]
        return proxy

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.host, self.port

    def _later(self, delay: float, fn: object, *args: object) -> None:
        loop = asyncio.get_running_loop()
        handle = loop.call_later(delay, fn, *args)  # type: ignore[arg-type]
        self._timers.add(handle)
        if len(self._timers) > 10_000:
            self._timers = {h for h in self._timers if not h.cancelled()}

    def _from_client(self, data: bytes, client: tuple) -> None:
        for delay in self.to_agent.plan(self.rng):
            self._later(delay, self._send_up, self.to_agent.shape(data), client)

    def _send_up(self, data: bytes, client: tuple) -> None:
        if self._closed:
            return
        back = self._backs.get(client)
        if back is not None:
            back.sendto(data)
            return
        task = asyncio.get_running_loop().create_task(self._open_and_send(data, client))
        self._tasks.add(task)  # owned: cancelled by close()
        task.add_done_callback(self._tasks.discard)

    async def _open_and_send(self, data: bytes, client: tuple) -> None:
        opening = self._opening.get(client)
        if opening is None:
            loop = asyncio.get_running_loop()
            opening = self._opening[client] = loop.create_future()
            back, _ = await loop.create_datagram_endpoint(
                lambda: _Back(self, client), local_addr=(self.upstream[0], 0),
                remote_addr=self.upstream)
            self._backs[client] = back
            opening.set_result(back)
        back = await opening
        if not self._closed:
            back.sendto(data)

    def _from_agent(self, data: bytes, client: tuple) -> None:
        for delay in self.to_client.plan(self.rng):
            self._later(delay, self._send_down, self.to_client.shape(data), client)

    def _send_down(self, data: bytes, client: tuple) -> None:
        if not self._closed and self._front is not None:
            self._front.sendto(data, client)

    def close(self) -> None:
        """Stop forwarding, cancel queued datagrams, close every socket."""
        self._closed = True
        for handle in self._timers:
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        for transport in [self._front, *self._backs.values()]:
            if transport is not None:
                transport.close()
