"""What a trap means for the state: a table from trap OID to the values it reports.

Pure (no network, no state): `meaning(trap)` → a `Meaning` whose `TrapUpdate`s the state
folds in at once (NetworkState.apply_trap), with the same metric names and values the
profiles give a poll, so the alert rules read trap-sourced values unchanged. Traps not in
the table are still logged and re-poll their device; they change no value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from borderwatch.collector.device_strings import clean_text
from borderwatch.collector.snmp.types import OID, Tag, VarBind, oid_str
from borderwatch.collector.state import TrapUpdate
from borderwatch.collector.traps.message import SNMP_TRAPS, Trap

COLD_START, WARM_START = (*SNMP_TRAPS, 1), (*SNMP_TRAPS, 2)
LINK_DOWN, LINK_UP = (*SNMP_TRAPS, 3), (*SNMP_TRAPS, 4)
IF_INDEX = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1)
IF_OPER_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
# UPS-MIB (RFC 1628) upsTraps and the alarm that says "on battery"
UPS_TRAP_ON_BATTERY = (1, 3, 6, 1, 2, 1, 33, 2, 1)
UPS_TRAP_ALARM_ADDED = (1, 3, 6, 1, 2, 1, 33, 2, 3)
UPS_TRAP_ALARM_REMOVED = (1, 3, 6, 1, 2, 1, 33, 2, 4)
UPS_ALARM_DESCR = (1, 3, 6, 1, 2, 1, 33, 1, 6, 2, 1, 2)
UPS_ALARM_ON_BATTERY = (1, 3, 6, 1, 2, 1, 33, 1, 6, 3, 2)
# The lab MIB's notifications (lab/LAB-MIB.md): labNotifications = 32473.0
LAB_NOTIFICATIONS = (1, 3, 6, 1, 4, 1, 32473, 0)
LAB_MAINS_LOST, LAB_MAINS_RESTORED = (*LAB_NOTIFICATIONS, 1), (*LAB_NOTIFICATIONS, 2)
LAB_RADIO_FADE, LAB_RADIO_CLEAR = (*LAB_NOTIFICATIONS, 3), (*LAB_NOTIFICATIONS, 4)
LAB_RADIO_RSL = (1, 3, 6, 1, 4, 1, 32473, 1, 1, 1, 3)  # tenths of dBm, row = ifIndex

IF_UP = "borderwatch_interface_up"
IF_OPER = "borderwatch_interface_oper_status"
UPS_ON_BATTERY = "borderwatch_ups_on_battery"
DC_MAINS_OK = "borderwatch_power_mains_ok"
RADIO_SIGNAL = "borderwatch_radio_signal_dbm"


@dataclass(frozen=True, slots=True)
class Meaning:
    """What one trap says: its name for logs and metrics, values to fold, a reboot."""

    name: str  # e.g. "linkDown", or the trap OID for traps not in the table
    detail: str = ""  # e.g. "ifIndex 3" (device text cleaned by collector.device_strings)
    updates: tuple[TrapUpdate, ...] = field(default=())
    reboot: bool = False

    def describe(self) -> str:
        """One phrase for the log: 'linkDown ifIndex 3'."""
        return f"{self.name} {self.detail}".strip()


def _row(varbinds: tuple[VarBind, ...], column: OID) -> tuple[int, VarBind] | None:
    """(row index, varbind) of the first varbind in a one-index table column."""
    for vb in varbinds:
        if len(vb.oid) == len(column) + 1 and vb.oid[:len(column)] == column:
            return vb.oid[-1], vb
    return None


def _if_index(trap: Trap) -> int | None:
    """The ifIndex a linkDown/linkUp names: the ifIndex varbind, else its instance of
    ifOperStatus (RFC 2863 puts ifIndex, ifAdminStatus, ifOperStatus in it)."""
    for column in (IF_INDEX, IF_OPER_STATUS):
        found = _row(trap.varbinds, column)
        if found is not None:
            return found[0]
    return None


def _link(up: bool) -> Callable[[Trap], Meaning]:
    def link(trap: Trap) -> Meaning:
        name = "linkUp" if up else "linkDown"
        index = _if_index(trap)
        if index is None:
            return Meaning(name, "without an ifIndex")
        match = (("ifIndex", str(index)),)
        return Meaning(name, f"ifIndex {index}", (
            TrapUpdate(IF_UP, match, 1 if up else 0),
            TrapUpdate(IF_OPER, match, 1 if up else 2)))
    return link


def _restart(name: str) -> Callable[[Trap], Meaning]:
    return lambda trap: Meaning(name, reboot=True)


def _on_battery(trap: Trap) -> Meaning:
    return Meaning("upsTrapOnBattery", updates=(TrapUpdate(UPS_ON_BATTERY, (), 1),))


def _alarm(added: bool) -> Callable[[Trap], Meaning]:
    def alarm(trap: Trap) -> Meaning:
        name = "upsTrapAlarmEntryAdded" if added else "upsTrapAlarmEntryRemoved"
        found = _row(trap.varbinds, UPS_ALARM_DESCR)
        descr = found[1].value if found is not None else None
        if descr == UPS_ALARM_ON_BATTERY:
            return Meaning(name, "upsAlarmOnBattery",
                           (TrapUpdate(UPS_ON_BATTERY, (), 1 if added else 0),))
        if isinstance(descr, tuple):
            return Meaning(name, oid_str(descr))
        return Meaning(name)
    return alarm


def _mains(ok: bool) -> Callable[[Trap], Meaning]:
    return lambda trap: Meaning("labMainsRestored" if ok else "labMainsLost",
                                updates=(TrapUpdate(DC_MAINS_OK, (), 1 if ok else 0),))


def _radio(cleared: bool) -> Callable[[Trap], Meaning]:
    def radio(trap: Trap) -> Meaning:
        name = "labRadioFadeCleared" if cleared else "labRadioFade"
        found = _row(trap.varbinds, LAB_RADIO_RSL)
        if found is None or found[1].tag != Tag.INTEGER:
            return Meaning(name, "without a receive level")
        index, vb = found
        dbm = int(vb.value) / 10  # type: ignore[arg-type]
        return Meaning(name, f"ifIndex {index}, {dbm:g} dBm", (
            TrapUpdate(RADIO_SIGNAL, (("ifIndex", str(index)),), dbm),))
    return radio


TABLE: dict[OID, Callable[[Trap], Meaning]] = {
    LINK_DOWN: _link(False), LINK_UP: _link(True),
    COLD_START: _restart("coldStart"), WARM_START: _restart("warmStart"),
    UPS_TRAP_ON_BATTERY: _on_battery,
    UPS_TRAP_ALARM_ADDED: _alarm(True), UPS_TRAP_ALARM_REMOVED: _alarm(False),
    LAB_MAINS_LOST: _mains(False), LAB_MAINS_RESTORED: _mains(True),
    LAB_RADIO_FADE: _radio(False), LAB_RADIO_CLEAR: _radio(True),
}


def meaning(trap: Trap) -> Meaning:
    """What `trap` says, from the table; a trap not in it keeps its OID as its name."""
    oid = trap.trap_oid
    handler = TABLE.get(oid)
    if handler is None and len(oid) > 2 and oid[-2] == 0:
        # a v1 trap of a v2 notification whose OID has no 0 before its last number: RFC 3584
        # §3.1 puts one there (upsTrapOnBattery 33.2.1 arrives as 33.2.0.1)
        handler = TABLE.get((*oid[:-2], oid[-1]))
    if handler is not None:
        return handler(trap)
    # an unknown enterprise trap: name it by OID, with the first text varbind cleaned
    text = next((clean_text(vb.value)[0] for vb in trap.varbinds
                 if vb.tag == Tag.OCTET_STRING and isinstance(vb.value, bytes)), "")
    return Meaning(oid_str(trap.trap_oid), text[:80])


MAPPED_NAMES = frozenset({
    "linkDown", "linkUp", "coldStart", "warmStart", "upsTrapOnBattery",
    "upsTrapAlarmEntryAdded", "upsTrapAlarmEntryRemoved", "labMainsLost", "labMainsRestored",
    "labRadioFade", "labRadioFadeCleared"})
"""The names `meaning` gives the traps of TABLE (the metric's `trap` label values)."""
