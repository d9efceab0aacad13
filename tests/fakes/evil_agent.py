"""T1 evil agent: an SNMP v1/v2c responder on loopback that answers according to a scenario.

The sanctioned fake for faults a real agent can't be made to produce: wrong request-ids,
replies from another address, duplicates, late replies, tooBig with no varbinds, short
GETBULK answers, loops, endless tables, out-of-range values and raw malformed datagrams.
It serves a table of varbinds with correct GET/GETNEXT/GETBULK semantics (RFC 3416) and a
scenario decides what actually goes back. It also counts concurrent requests (A9).

Requests are decoded with the project's codec (itself checked against pysnmp in
tests/snmp/test_ber_*.py).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from borderwatch.collector.snmp import ber
from borderwatch.collector.snmp.types import OID, Tag, VarBind


@dataclass
class Reply:
    """One datagram to send back: after `delay` seconds, from the other socket if asked."""

    data: bytes
    delay: float = 0.0
    from_other: bool = False


Scenario = Callable[["EvilAgent", ber.Message], Iterable[Reply]]


def _end_of_view(oid: OID) -> VarBind:
    return VarBind(oid, Tag.END_OF_MIB_VIEW, None)


class Table:
    """A sorted MIB of plain varbinds (or raw pre-encoded varbinds for crafted values)."""

    def __init__(self, rows: Iterable[VarBind | tuple[OID, bytes]]) -> None:
        self.rows = sorted(rows, key=lambda r: r[0])
        self.oids = [r[0] for r in self.rows]

    def get(self, oid: OID) -> VarBind | tuple[OID, bytes]:
        i = bisect.bisect_left(self.oids, oid)
        if i < len(self.oids) and self.oids[i] == oid:
            return self.rows[i]
        return VarBind(oid, Tag.NO_SUCH_INSTANCE, None)

    def next(self, oid: OID) -> VarBind | tuple[OID, bytes]:
        i = bisect.bisect_right(self.oids, oid)
        return self.rows[i] if i < len(self.rows) else _end_of_view(oid)


def encode_rows(rows: Sequence[VarBind | tuple[OID, bytes]]) -> bytes:
    """Varbind list content; a (oid, raw) row is already-encoded varbind bytes."""
    out = []
    for row in rows:
        if isinstance(row, VarBind):
            out.append(ber.encode_varbind(row.oid, row.tag, row.value))
        else:
            out.append(row[1])
    return b"".join(out)


def answer(request: ber.Message, rows: Sequence[VarBind | tuple[OID, bytes]] = (), *,
           request_id: int | None = None, error_status: int = 0, error_index: int = 0) -> bytes:
    """A Response datagram to `request` (its version, community, request-id by default)."""
    return ber.encode_message(request.version, request.community, ber.RESPONSE,
                              request.request_id if request_id is None else request_id,
                              error_status, error_index, encode_rows(rows))


def serve(table: Table, request: ber.Message) -> list[VarBind | tuple[OID, bytes]]:
    """The correct answer rows for a GET, GETNEXT or GETBULK (RFC 3416 §4.2.3)."""
    names = [vb.oid for vb in request.varbinds]
    if request.pdu_type == ber.GET_REQUEST:
        return [table.get(oid) for oid in names]
    if request.pdu_type == ber.GET_NEXT_REQUEST:
        return [table.next(oid) for oid in names]
    non_rep = min(request.error_status, len(names))
    rows = [table.next(oid) for oid in names[:non_rep]]
    current = list(names[non_rep:])
    for _ in range(request.error_index if current else 0):
        step = [table.next(oid) for oid in current]
        rows.extend(step)
        current = [r[0] for r in step]
        if all(isinstance(r, VarBind) and r.tag == Tag.END_OF_MIB_VIEW for r in step):
            break
    return rows


def correct(table: Table) -> Scenario:
    """Answer like a good agent."""
    def scenario(agent: EvilAgent, request: ber.Message) -> list[Reply]:
        return [Reply(answer(request, serve(table, request)))]
    return scenario


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, agent: EvilAgent) -> None:
        self.agent = agent

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.agent._received(data, addr)


class EvilAgent:
    """The agent; `start()` it, point a session at `.host`/`.port`, `close()` it."""

    def __init__(self, scenario: Scenario, host: str, other_host: str | None) -> None:
        self.scenario = scenario
        self.host = host
        self.other_host = other_host
        self.port = 0
        self.requests: list[ber.Message] = []
        self.raw_requests: list[bytes] = []
        self.sources: set[tuple[str, int]] = set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.replies_sent = 0
        self._main: asyncio.DatagramTransport | None = None
        self._other: asyncio.DatagramTransport | None = None
        self._timers: set[asyncio.TimerHandle] = set()

    @classmethod
    async def start(cls, scenario: Scenario, *, host: str = "127.0.0.2", port: int = 0,
                    other_host: str | None = None) -> EvilAgent:
        """Listen on host:port (0 = any free port); `other_host` for replies from elsewhere."""
        agent = cls(scenario, host, other_host)
        loop = asyncio.get_running_loop()
        agent._main, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(agent), local_addr=(host, port))
        agent.port = agent._main.get_extra_info("sockname")[1]
        if other_host:
            agent._other, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=(other_host, 0))
        return agent

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.host, self.port

    def _received(self, data: bytes, addr: tuple) -> None:
        self.raw_requests.append(data)
        self.sources.add(addr[:2])
        try:
            request = ber.decode_message(data)
        except ber.MalformedPacket:
            return
        self.requests.append(request)
        replies = list(self.scenario(self, request))
        if not replies:
            return
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        loop = asyncio.get_running_loop()
        closing = max(range(len(replies)), key=lambda i: replies[i].delay)  # the last one
        for i, reply in enumerate(replies):
            self._timers.add(loop.call_later(reply.delay, self._send, reply, addr, i == closing))

    def _send(self, reply: Reply, addr: tuple, closes: bool) -> None:
        transport = self._other if reply.from_other else self._main
        if transport is not None and not transport.is_closing():
            if reply.data:
                transport.sendto(reply.data, addr)
            else:  # asyncio silently skips empty datagrams; a zero-length one is a test case
                fileno = os.dup(transport.get_extra_info("socket").fileno())
                with socket.socket(fileno=fileno) as sock:  # same bound socket, same source
                    sock.sendto(b"", addr)
            self.replies_sent += 1
        if closes:
            self.in_flight -= 1

    def close(self) -> None:
        """Stop listening and cancel replies not yet sent."""
        for handle in self._timers:
            handle.cancel()
        for transport in (self._main, self._other):
            if transport is not None:
                transport.close()


def endless_columns(base: Table, columns: dict[OID, Callable[[int], VarBind]],
                    *, rows: int | None = None) -> Scenario:
    """An agent whose table columns never end (issue 11's hostile firmware): under each
    column OID of `columns`, the row after index n is n + 1, made by `columns[col](n + 1)`,
    for ever (or up to `rows` rows, then the walk goes on to what `base` holds, so the
    same shape can be served finite). GET and everything else is answered from `base`.
    """
    ordered = sorted(columns)

    def in_columns(oid: OID) -> VarBind | None:
        for col in ordered:
            if oid[:len(col)] == col:
                n = oid[len(col)] + 1 if len(oid) > len(col) else 1
                if rows is None or n <= rows:
                    return columns[col](n)
            elif oid < col:
                return columns[col](1)
        return None

    def after(oid: OID) -> VarBind | tuple[OID, bytes]:
        mine, theirs = in_columns(oid), base.next(oid)
        if mine is None:
            return theirs
        if isinstance(theirs, VarBind) and theirs.tag == Tag.END_OF_MIB_VIEW:
            return mine
        return mine if mine.oid < theirs[0] else theirs

    def scenario(agent: EvilAgent, request: ber.Message) -> list[Reply]:
        names = [vb.oid for vb in request.varbinds]
        if request.pdu_type == ber.GET_REQUEST:
            return [Reply(answer(request, [base.get(oid) for oid in names]))]
        if request.pdu_type == ber.GET_NEXT_REQUEST:
            return [Reply(answer(request, [after(oid) for oid in names]))]
        out: list[VarBind | tuple[OID, bytes]] = []
        current = names
        for _ in range(max(1, request.error_index)):  # max-repetitions, non-repeaters 0
            step = [after(oid) for oid in current]
            out.extend(step)
            current = [r[0] for r in step]
        return [Reply(answer(request, out))]
    return scenario
