"""An IF-MIB agent whose octet counters advance at known rates by real time (issue 11).

The truth for rate tests: ifHCInOctets / ifHCOutOctets of interface n are
`rate × (time.monotonic() − start)` at the moment the agent builds its answer, so the
counter a poll reads is exact for the instant the agent answered, whatever the UDP fault
proxy in front of it did to the requests. A real agent cannot serve that on demand: its
counters count real traffic (loopback is shared by every test on this machine) and
net-snmp caches the interface table for seconds. Everything else is a plain, static
IF-MIB table (names, up, 100 Mbit/s) served with correct GET/GETNEXT/GETBULK semantics by
the sanctioned evil agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from borderwatch.collector.snmp.types import OID, Tag, VarBind
from fakes.evil_agent import Scenario, Table, correct

IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
HC_IN = (*IF_X_TABLE, 6)
HC_OUT = (*IF_X_TABLE, 10)
SPEED_MBPS = 100  # ifHighSpeed of every interface
OFFSET = 10**9  # counters start far from 0, as on a device that has run for a while


def _static(n: int) -> list[VarBind]:
    """The non-counter columns of interface n, and its other counters at fixed values."""
    name = f"ge-0/0/{n}".encode()
    return [
        VarBind((*IF_TABLE, 2, n), Tag.OCTET_STRING, name),  # ifDescr
        VarBind((*IF_TABLE, 5, n), Tag.GAUGE32, SPEED_MBPS * 10**6),  # ifSpeed
        VarBind((*IF_TABLE, 7, n), Tag.INTEGER, 1),  # ifAdminStatus up
        VarBind((*IF_TABLE, 8, n), Tag.INTEGER, 1),  # ifOperStatus up
        *(VarBind((*IF_TABLE, col, n), Tag.COUNTER32, 7) for col in (13, 14, 19, 20)),
        VarBind((*IF_X_TABLE, 1, n), Tag.OCTET_STRING, name),  # ifName
        VarBind((*IF_X_TABLE, 15, n), Tag.GAUGE32, SPEED_MBPS),  # ifHighSpeed
        VarBind((*IF_X_TABLE, 18, n), Tag.OCTET_STRING, b""),  # ifAlias
        VarBind((*IF_X_TABLE, 19, n), Tag.TIMETICKS, 0),  # ifCounterDiscontinuityTime
    ]


class LiveTable(Table):
    """A Table whose instances in `rates` (OID → units per second) are Counter64 values
    computed from `clock` when they are served."""

    def __init__(self, rows: list[VarBind], rates: Mapping[OID, float], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__([*rows, *(VarBind(oid, Tag.COUNTER64, 0) for oid in rates)])
        self.rates = dict(rates)
        self.clock = clock
        self.start = clock()

    def value(self, oid: OID, at: float) -> int:
        """The counter `oid` at `clock()` time `at` (what the test compares with)."""
        return OFFSET + int(self.rates[oid] * (at - self.start))

    def _live(self, row: VarBind | tuple[OID, bytes]) -> VarBind | tuple[OID, bytes]:
        oid = row[0]
        if oid in self.rates:
            return VarBind(oid, Tag.COUNTER64, self.value(oid, self.clock()))
        return row

    def get(self, oid: OID) -> VarBind | tuple[OID, bytes]:
        return self._live(super().get(oid))

    def next(self, oid: OID) -> VarBind | tuple[OID, bytes]:
        return self._live(super().next(oid))


def live_ifmib(rates: Mapping[int, tuple[float, float]]) -> tuple[Scenario, LiveTable]:
    """A correct agent for interfaces {ifIndex: (in, out bytes/s)}, and its table."""
    rows = [VarBind((1, 3, 6, 1, 2, 1, 1, 3, 0), Tag.TIMETICKS, 4242),  # sysUpTime
            VarBind((1, 3, 6, 1, 2, 1, 1, 5, 0), Tag.OCTET_STRING, b"live")]  # sysName
    live: dict[OID, float] = {}
    for n, (rx, tx) in rates.items():
        rows += _static(n)
        live[(*HC_IN, n)] = rx
        live[(*HC_OUT, n)] = tx
    table = LiveTable(rows, live)
    return correct(table), table
