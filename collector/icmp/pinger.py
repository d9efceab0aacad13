"""`Pinger`: one asyncio task that pings every target once per interval, spread evenly.

Why one task and not one loop per device (as the SNMP scheduler has): a round costs a few
packets, and 10,000 sleeping loops cost more than the pinging. Targets get fixed slots
`k × interval / N` inside the interval, so the packets (and the replies' wakeups) are
spread instead of bursting every 30 s, and at most `max_in_flight` rounds run at once:
the SNMP polls on the same loop keep their cadence. A slot that finds every runner busy
waits for one (counted in `delayed`); a round is never skipped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collector.icmp.echo_socket import EchoSocket, IcmpUnavailable, normalise
from collector.icmp.settings import IcmpSettings
from collector.icmp.stats import IcmpRound

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PingTarget:
    """A device to ping: its id and its address (IP literal or host name)."""

    device_id: str
    address: str


@dataclass(slots=True)
class PingerStats:
    """The pinger's own counters (borderwatch_icmp_* self-metrics)."""

    rounds: int = 0
    delayed: int = 0  # slots that waited for a free runner (max_in_flight reached)
    unresolved: int = 0  # rounds skipped: the host name did not resolve
    socket_kind: str = ""  # raw | unprivileged | "" (none could be opened)
    error: str = ""  # why no socket could be opened


class Pinger:
    """Rounds of echo requests to every target; each finished round goes to `on_round`."""

    def __init__(self, targets: Sequence[PingTarget], settings: IcmpSettings,
                 on_round: Callable[[IcmpRound], None], *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.targets = list(targets)
        self.settings = settings
        self.on_round = on_round
        self.stats = PingerStats()
        self._clock, self._wall = clock, wall
        self._sockets: dict[int, EchoSocket | None] = {}
        self._runners = asyncio.Semaphore(settings.max_in_flight)
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Open the sockets (an error is logged once, with the fix) and start the rounds."""
        families = {self._family(t.address) for t in self.targets}
        for family in sorted(families):
            self._socket(family)
        self._task = asyncio.create_task(self._run(), name="borderwatch-pinger")

    async def stop(self) -> None:
        """Cancel the schedule and the rounds in flight, then close the sockets."""
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for sock in self._sockets.values():
            if sock is not None:
                sock.close()
        self._sockets.clear()

    @property
    def send_errors(self) -> int:
        """Echo requests the kernel refused to send, over every socket."""
        return sum(s.send_errors for s in self._sockets.values() if s is not None)

    # ------------------------------------------------------------------ schedule

    async def _run(self) -> None:
        if not self.targets:
            return
        interval = self.settings.interval
        step = interval / len(self.targets)
        start = self._clock()
        k = 0
        while True:
            for i, target in enumerate(self.targets):
                slot = start + k * interval + i * step
                delay = slot - self._clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._runners.locked():
                    self.stats.delayed += 1
                await self._runners.acquire()
                task = asyncio.create_task(self._round(target))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            k += 1
            behind = (self._clock() - start) // interval
            if behind > k:  # the loop stalled for whole intervals: skip, do not burst
                k = int(behind)

    async def _round(self, target: PingTarget) -> None:
        try:
            started, started_wall = self._clock(), self._wall()
            address = await self._resolve(target.address)
            if address is None:
                self.stats.unresolved += 1
                return
            sock = self._sockets.get(self._family(address))
            if sock is None:
                return  # no socket: no ICMP data (not "down"); the error was logged once
            rtts = []
            s = self.settings
            for n in range(s.count):
                if n:
                    await asyncio.sleep(s.spacing)
                rtt = await sock.echo(address, s.timeout)
                if rtt is not None:
                    rtts.append(rtt)
            self.stats.rounds += 1
            self.on_round(IcmpRound(target.device_id, s.count, tuple(rtts), started,
                                    started_wall))
        finally:
            self._runners.release()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _family(address: str) -> int:
        with contextlib.suppress(ValueError):
            return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 \
                else socket.AF_INET
        return socket.AF_INET  # a host name: IPv4 unless it resolves otherwise

    async def _resolve(self, address: str) -> str | None:
        with contextlib.suppress(ValueError):
            return normalise(address)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(address, None,
                                                                 type=socket.SOCK_RAW)
        except OSError:
            return None
        for family, *_rest, sockaddr in infos:
            if self._socket(family) is not None:
                return normalise(str(sockaddr[0]))
        return None

    def _socket(self, family: int) -> EchoSocket | None:
        if family in self._sockets:
            return self._sockets[family]
        try:
            sock: EchoSocket | None = EchoSocket(family, self.settings.socket)
            assert sock is not None
            self.stats.socket_kind = sock.kind
            log.info("icmp: pinging over a %s %s socket", sock.kind,
                     "IPv6" if family == socket.AF_INET6 else "IPv4")
        except IcmpUnavailable as exc:
            sock = None
            self.stats.error = str(exc)
            log.error("icmp: %s; devices are not pinged", exc)
        self._sockets[family] = sock
        return sock
