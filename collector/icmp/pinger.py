"""`Pinger`: one asyncio task that pings every target once per interval, spread evenly.

Why one task and not one loop per device (as the SNMP scheduler has): a round costs a few
packets, and 10,000 sleeping loops cost more than the pinging. Targets get fixed slots
`k × interval / N` inside the interval, so the packets (and the replies' wakeups) are
spread instead of bursting every 30 s, and at most `max_in_flight` rounds run at once:
the SNMP polls on the same loop keep their cadence. A slot that finds every runner busy
waits for one (counted in `delayed`); a round is never skipped silently.

Why no task, future or timer per request: at 10,000 targets × 3 requests per 30 s that is
~1,000 requests a second, and an `asyncio.wait_for` per request (a future, a timer handle
in the loop's heap, a callback) cost more than the packets. The one task wakes at most
every `TICK` and does whatever is due: start the rounds whose slot has come, send the
requests whose spacing has passed, and expire the requests whose timeout has run out (one
timeout for all, so they expire in the order they were sent: a FIFO, not a heap). Replies
are matched by sequence number. A round ends when each of its requests has a reply or has
expired, and goes to `on_round` at once. Replies are read in the same wake-ups, every
TICK while requests wait (EchoSocket.drain: the kernel stamps their arrival, so the round
trip does not include the wait), not one wake-up per reply; without the kernel's stamps
(another platform) each reply is read as it arrives.

A hot reload hands the pinger a new target list (`set_targets`). It takes effect at the
next interval boundary, so the devices that stay keep their cadence; a round still in
flight for a target that left (removed, or its address changed) is not reported, so a
removed device's series do not come back and an old address never speaks for a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import itertools
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from borderwatch.collector.icmp.echo_socket import EchoSocket, IcmpUnavailable, normalise
from borderwatch.collector.icmp.settings import IcmpSettings
from borderwatch.collector.icmp.stats import IcmpRound

log = logging.getLogger(__name__)

TICK = 0.01  # seconds: the shortest sleep of the schedule (work due sooner is batched)
IDLE = 0.1  # seconds: the longest (a host name resolved meanwhile has requests due)


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


@dataclass(slots=True)
class _Round:
    """One round in flight: a reply time (or None) per request sent so far."""

    target: PingTarget
    address: str  # the target's address as replies carry it (a host name resolved)
    sock: EchoSocket
    started: float
    started_wall: float
    rtts: list[float | None] = field(default_factory=list)
    settled: int = 0  # requests answered, expired or refused by the kernel


class Pinger:
    """Rounds of echo requests to every target; each finished round goes to `on_round`."""

    def __init__(self, targets: Sequence[PingTarget], settings: IcmpSettings,
                 on_round: Callable[[IcmpRound], None], *,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.targets = list(targets)
        self._current = {t.device_id: t for t in self.targets}  # what a round may report
        self._changed = asyncio.Event()  # wakes an idle schedule when targets arrive
        self.settings = settings
        self.on_round = on_round
        self.stats = PingerStats()
        self._clock, self._wall = clock, wall
        self._sockets: dict[int, EchoSocket | None] = {}
        # IP literal -> (the form replies carry, its address family): parsed once, not
        # per round (ipaddress parsing was ~5 % of the collector's busy time at 10,000)
        self._resolved: dict[str, tuple[str, int]] = {}
        self._in_flight = 0  # rounds started and not yet ended
        self._seq = 0
        # seq -> (round, index of the request in it, monotonic send time)
        self._waiting: dict[int, tuple[_Round, int, float]] = {}
        # (deadline, seq, send time), in send order; the send time tells a request from a
        # later one that reused its sequence number
        self._expiry: deque[tuple[float, int, float]] = deque()
        self._due: list[tuple[float, int, _Round]] = []  # heap: the rounds' next requests
        self._order = itertools.count()  # ties in the heap, without comparing rounds
        self._resolving: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._callback_failed = False
        self._delayed_slot = (-1, -1)  # the slot last counted in stats.delayed

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Open the sockets (an error is logged once, with the fix) and start the rounds."""
        families = {self._family(t.address) for t in self.targets}
        for family in sorted(families):
            self._socket(family)
        self._task = asyncio.create_task(self._run(), name="borderwatch-pinger")

    async def stop(self) -> None:
        """Cancel the schedule and the rounds in flight, then close the sockets."""
        tasks = [t for t in (self._task, *self._resolving) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for sock in self._sockets.values():
            if sock is not None:
                sock.close()
        self._sockets.clear()
        self._waiting.clear()
        self._expiry.clear()
        self._due.clear()

    def set_targets(self, targets: Sequence[PingTarget]) -> None:
        """Ping `targets` from the next interval on (hot reload); drop stale rounds."""
        self.targets = list(targets)
        self._current = {t.device_id: t for t in self.targets}
        if self._task is not None:
            for family in sorted({self._family(t.address) for t in self.targets}):
                self._socket(family)
        self._changed.set()

    @property
    def send_errors(self) -> int:
        """Echo requests the kernel refused to send, over every socket."""
        return sum(s.send_errors for s in self._sockets.values() if s is not None)

    # ------------------------------------------------------------------ schedule

    async def _run(self) -> None:
        interval = self.settings.interval
        start, k, i = self._clock(), 0, 0  # the next slot: interval k, target i
        targets: list[PingTarget] = []  # this interval's list; a reload swaps it for the next
        while True:
            if i == 0:
                targets = self.targets
                if not targets and not self._waiting and not self._due:
                    self._changed.clear()  # nothing to ping (yet): a reload may bring some
                    await self._changed.wait()
                    start, k = self._clock(), 0
                    continue
                step = interval / max(1, len(targets))
            for sock in self._sockets.values():  # replies first: they beat their expiry
                if sock is not None and sock.timestamped:
                    sock.drain()
            now = self._clock()
            self._expire(now)
            self._send_due(now)
            while targets and self._in_flight < self.settings.max_in_flight:
                slot = start + k * interval + i * step
                if slot > now:
                    break
                self._begin(targets[i], now)
                i += 1
                if i == len(targets):
                    k, i = k + 1, 0
                    behind = (now - start) // interval
                    if behind > k:  # the loop stalled for whole intervals: skip, no burst
                        k = int(behind)
                    break  # the next interval may have another target list
            else:
                slot_due = targets and start + k * interval + i * step <= now
                if slot_due and self._delayed_slot != (k, i):
                    self._delayed_slot = (k, i)
                    self.stats.delayed += 1  # every runner busy: the slot waits for one
            upcoming = [start + k * interval + i * step, now + IDLE]
            if self._waiting:  # replies may be queued: read them within a TICK
                upcoming.append(now + TICK)
            if self._due:
                upcoming.append(self._due[0][0])
            if self._expiry:
                upcoming.append(self._expiry[0][0])
            await asyncio.sleep(max(TICK, min(upcoming) - self._clock()))

    def _begin(self, target: PingTarget, now: float) -> None:
        """Start a round: its first request now (a host name is resolved first)."""
        if target.address not in self._resolved:
            try:
                literal = normalise(target.address)
                self._resolved[target.address] = (literal, self._family(literal))
            except ValueError:  # a host name: resolved again every round, off the schedule
                self._in_flight += 1
                task = asyncio.create_task(self._begin_named(target))
                self._resolving.add(task)
                task.add_done_callback(self._resolving.discard)
                return
        address, family = self._resolved[target.address]
        sock = self._sockets.get(family)
        if sock is None:
            return  # no socket: no ICMP data (not "down"); the error was logged once
        self._in_flight += 1
        self._send(_Round(target, address, sock, now, self._wall()), now)

    async def _begin_named(self, target: PingTarget) -> None:
        address = await self._resolve(target.address)
        sock = self._sockets.get(self._family(address)) if address else None
        if address is None:
            self.stats.unresolved += 1
        if address is None or sock is None:
            self._in_flight -= 1
            return
        now = self._clock()
        self._send(_Round(target, address, sock, now, self._wall()), now)

    def _send(self, r: _Round, now: float) -> None:
        """The round's next request; the one after it goes on the heap."""
        index = len(r.rtts)
        r.rtts.append(None)
        seq = self._next_seq()
        # stamped before the send: on loopback the reply is queued (and stamped by the
        # kernel) before sendto() has even returned
        sent = time.monotonic()
        if seq is not None and r.sock.send(r.address, seq):
            self._waiting[seq] = (r, index, sent)
            self._expiry.append((now + self.settings.timeout, seq, sent))
        else:
            self._settle(r)
        if len(r.rtts) < self.settings.count:
            heapq.heappush(self._due, (now + self.settings.spacing, next(self._order), r))

    def _next_seq(self) -> int | None:
        """A sequence number no request in flight has (None if all 65,536 are taken)."""
        if len(self._waiting) >= 0x10000:
            return None
        self._seq = (self._seq + 1) & 0xFFFF
        while self._seq in self._waiting:
            self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _send_due(self, now: float) -> None:
        while self._due and self._due[0][0] <= now:
            self._send(heapq.heappop(self._due)[2], now)

    def _expire(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            _deadline, seq, sent = self._expiry.popleft()
            waiting = self._waiting.get(seq)
            if waiting is not None and waiting[2] == sent:  # no reply in time: lost
                del self._waiting[seq]
                self._settle(waiting[0])

    def _on_reply(self, source: str, seq: int, arrived: float) -> None:
        waiting = self._waiting.get(seq)
        if waiting is None:
            return  # late (already expired), or a reply to an earlier process's request
        r, index, sent = waiting
        if source != r.address and (r.sock.family != socket.AF_INET6
                                    or normalise(source.split("%")[0]) != r.address):
            return  # somebody else answering with our sequence number
        del self._waiting[seq]
        r.rtts[index] = max(0.0, arrived - sent)
        self._settle(r)

    def _settle(self, r: _Round) -> None:
        """One more request of `r` is answered or lost; the last one ends the round."""
        r.settled += 1
        if r.settled < self.settings.count:
            return
        self._in_flight -= 1
        self.stats.rounds += 1
        if self._current.get(r.target.device_id) != r.target:
            return  # the target left or moved while its round ran (hot reload)
        result = IcmpRound(r.target.device_id, self.settings.count,
                           tuple(t for t in r.rtts if t is not None), r.started,
                           r.started_wall)
        try:
            self.on_round(result)
        except Exception:  # a bug downstream must not stop the pinging
            if not self._callback_failed:
                self._callback_failed = True
                log.exception("icmp: the round's consumer failed (logged once)")

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _family(address: str) -> int:
        with contextlib.suppress(ValueError):
            return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 \
                else socket.AF_INET
        return socket.AF_INET  # a host name: IPv4 unless it resolves otherwise

    async def _resolve(self, address: str) -> str | None:
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
            sock: EchoSocket | None = EchoSocket(family, self.settings.socket, self._on_reply)
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
