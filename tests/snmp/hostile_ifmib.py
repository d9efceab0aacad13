"""An IF-MIB agent that invents interfaces for ever (issue 11), on the sanctioned evil agent.

Every column the if-mib profile reads (labels, metrics, fallbacks) answers row n + 1
after row n, with the type the column should have, so a walk never ends by itself.
`finite=N` serves the same shape with exactly N rows: the healthy baseline of a test.
"""

from __future__ import annotations

from collections.abc import Callable

from fakes.evil_agent import EvilAgent, Scenario, Table, endless_columns

from borderwatch.collector.mapper import compile_profile
from borderwatch.collector.profiles import builtin_profiles
from borderwatch.collector.snmp.types import OID, Tag, VarBind

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
IF_TABLE = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IF_X_TABLE = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
IF_PLAN = compile_profile(builtin_profiles()["if-mib"]).tables[0]
IF_ROW_BOUND = IF_PLAN.row_bound
IF_COLUMNS: tuple[OID, ...] = tuple(IF_PLAN.slots)  # every column, fallbacks included

_STRINGS = {(*IF_TABLE, 2), (*IF_X_TABLE, 1), (*IF_X_TABLE, 18)}
_COUNTER64 = {(*IF_X_TABLE, 6), (*IF_X_TABLE, 10)}
_INTEGERS = {(*IF_TABLE, 7), (*IF_TABLE, 8)}
_GAUGES = {(*IF_TABLE, 5), (*IF_X_TABLE, 15)}


def _maker(column: OID) -> Callable[[int], VarBind]:
    if column in _STRINGS:
        return lambda n: VarBind((*column, n), Tag.OCTET_STRING, f"ge-0/0/{n}".encode())
    if column in _COUNTER64:
        return lambda n: VarBind((*column, n), Tag.COUNTER64, 2**40 + n)
    if column in _INTEGERS:
        return lambda n: VarBind((*column, n), Tag.INTEGER, 1)
    if column in _GAUGES:
        return lambda n: VarBind((*column, n), Tag.GAUGE32, 1000)
    if column == (*IF_X_TABLE, 19):
        return lambda n: VarBind((*column, n), Tag.TIMETICKS, 0)
    return lambda n: VarBind((*column, n), Tag.COUNTER32, n)


BASE = Table([VarBind(SYS_UPTIME, Tag.TIMETICKS, 4242),
              VarBind(SYS_OBJECT_ID, Tag.OBJECT_IDENTIFIER, (1, 3, 6, 1, 4, 1, 9, 1, 1)),
              VarBind(SYS_NAME, Tag.OCTET_STRING, b"evil")])


def hostile_ifmib(*, finite: int | None = None,
                  columns: tuple[OID, ...] = IF_COLUMNS) -> Scenario:
    """The scenario (see the module docstring)."""
    return endless_columns(BASE, {c: _maker(c) for c in columns}, rows=finite)


async def start(evil_agent: Callable, *, finite: int | None = None,
                host: str = "127.0.0.2") -> EvilAgent:
    """Start the agent with the evil_agent fixture."""
    return await evil_agent(hostile_ifmib(finite=finite), host=host)
