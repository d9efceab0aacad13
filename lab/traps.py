"""The lab's devices send traps as real equipment does when a fault hits them.

When the inventory has a `traps:` section, each fault applied by lab.faults sends the
matching traps to its listen address (0.0.0.0 becomes 127.0.0.1), from the affected
device's own address (the socket is bound to it, so the receiver sees the device as the
source), in the SNMP version of the device's credential and with its community: an SNMPv2c
Trap for v2c, an SNMPv1 Trap-PDU for v1 (lab/trap_pdu.py: enterprise, generic and specific
trap as RFC 3584 maps them), an SNMPv3 Trap for v3: USM with the device's user and keys,
authoritative engine = the device agent's engine ID (lab/devices.py lab_engine_id), the
one the receiver learnt by polling (encoded by the collector's v3 codec,
collector/snmp/v3_message.py):

- a link cut / restore (and each step of a flap): linkDown / linkUp from every end whose
  agent runs and is not cut off (a device behind the cut could not reach the collector);
- a mains failure / restore: upsTrapOnBattery / upsTrapAlarmEntryRemoved (upsAlarmOnBattery)
  from a UPS, labMainsLost / labMainsRestored from a DC plant;
- a fade / its end: labRadioFade / labRadioFadeCleared with the radio's receive level;
- the end of a reboot: coldStart.

Traps go out once the fault is in effect (the agents restarted with it), so the
confirming poll the trap causes reads the new state. Sending is best effort: a trap
that cannot be sent is logged, never an error of the fault.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING

from borderwatch.collector.inventory import Inventory
from borderwatch.collector.snmp.ber import (
    SNMPV2_TRAP,
    VERSION_2C,
    encode_message,
    encode_signed,
    encode_varbind,
    tlv,
)
from borderwatch.collector.snmp.types import OID, Tag, Value
from borderwatch.collector.snmp.usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS, EngineKeys
from borderwatch.collector.snmp.v3_message import FLAG_AUTH, FLAG_PRIV, UsmParams
from borderwatch.collector.snmp.v3_message import encode_message as encode_v3_message
from borderwatch.collector.traps import mapping as m
from borderwatch.lab.devices import LabUsm
from borderwatch.lab.dumps import parse_oid
from borderwatch.lab.trap_pdu import encode_v1_trap, v1_form

if TYPE_CHECKING:
    from borderwatch.lab.faults import FaultInjector

log = logging.getLogger(__name__)

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
UPS_ALARM_ID = (1, 3, 6, 1, 2, 1, 33, 1, 6, 2, 1, 1)
SYS_OBJECT_ID = (1, 3, 6, 1, 2, 1, 1, 2, 0)
LAB_ENTERPRISE = (1, 3, 6, 1, 4, 1, 32473)  # a v1 generic trap's enterprise without one


class LabTraps:
    """Sends the traps of each applied fault (FaultInjector.on_applied)."""

    def __init__(self, inventory: Inventory) -> None:
        assert inventory.traps is not None
        host, _, port = inventory.traps.listen.rpartition(":")
        host = host.strip("[]")
        self.destination = ("127.0.0.1" if host in ("0.0.0.0", "::") else host, int(port))
        self.sent: list[tuple[float, str, str]] = []  # (wall time, device, trap), last 1000
        # device → its credential's SNMP version ("1", "2c" or "3")
        self.versions = {d.id: inventory.effective(d).credential.version
                         for d in inventory.devices if d.sim_profile}
        self._request_id = 0
        self._keys: dict[str, EngineKeys] = {}  # v3 device → its keys, localised once

    @classmethod
    def of(cls, inventory: Inventory) -> LabTraps | None:
        """A sender when the inventory receives traps, else None."""
        return cls(inventory) if inventory.traps is not None else None

    def __call__(self, injector: FaultInjector, action: str, target: str) -> None:
        """Send what `action` on `target` makes the affected devices say (never raises)."""
        try:
            self._fault_traps(injector, action, target)
        except Exception:  # the fault is applied; its traps are a courtesy
            log.exception("traps of fault %s %s not sent", action, target)

    def _fault_traps(self, injector: FaultInjector, action: str, target: str) -> None:
        from borderwatch.lab import (
            faults as f,  # the injector's module (it imports this one's user)
        )

        live = [d for d in injector.agents if d not in injector.down
                and d not in injector.cut_off]
        if action in ("cut_link", "restore_link", "_flip") and target in injector.topology.links:
            spans = injector.cuts.get(target, [])
            cut = bool(spans) and spans[-1][1] is None
            for device, ifname in injector.topology.links[target]:
                if device not in live:
                    continue
                recs = {r.oid: r for r in injector._base(device)}
                for index in f.interface_indexes(recs, ifname):
                    self._send(injector, device, m.LINK_DOWN if cut else m.LINK_UP,
                               [((*m.IF_INDEX, *index), Tag.INTEGER, index[-1]),
                                ((*m.IF_OPER_STATUS, *index), Tag.INTEGER, 2 if cut else 1)])
        elif action in ("fail_mains", "restore_mains"):
            lost = action == "fail_mains"
            for device in injector._site_devices(target):
                if device not in live:
                    continue
                oids = {r.oid for r in injector._base(device)}
                if f.UPS_OUTPUT_SOURCE in oids:
                    alarm = [((*UPS_ALARM_ID, 1), Tag.INTEGER, 1),
                             ((*m.UPS_ALARM_DESCR, 1), Tag.OBJECT_IDENTIFIER,
                              m.UPS_ALARM_ON_BATTERY)]
                    self._send(injector, device, m.UPS_TRAP_ON_BATTERY if lost
                               else m.UPS_TRAP_ALARM_REMOVED, [] if lost else alarm)
                if f.DC_MAINS in oids:
                    self._send(injector, device, m.LAB_MAINS_LOST if lost
                               else m.LAB_MAINS_RESTORED,
                               [(f.DC_MAINS, Tag.INTEGER, 2 if lost else 1)])
        elif action in ("fade_link", "unfade_link") and target in injector.topology.links:
            db = injector.fades.get(target, 0.0)
            for device, ifname in injector.topology.links[target]:
                if device not in live:
                    continue
                recs = {r.oid: r for r in injector._base(device)}
                for index in f.interface_indexes(recs, ifname):
                    rec = recs.get((*f.RADIO_RSL, *index))
                    base = f._base_number(rec) if rec is not None else None
                    if base is None:
                        continue
                    self._send(injector, device, m.LAB_RADIO_FADE if db else m.LAB_RADIO_CLEAR,
                               [((*f.RADIO_RSL, *index), Tag.INTEGER, round(base - 10 * db))])
        elif action == "_boot" and target in live:
            self._send(injector, target, m.COLD_START, [])

    def _send(self, injector: FaultInjector, device: str, trap_oid: OID,
              varbinds: list[tuple[OID, int, Value]]) -> None:
        spec = injector.agents[device].spec
        self._request_id = self._request_id % 0x7FFFFFFF + 1
        uptime = int((injector.clock() - injector.origin[device]) * 100) % 2**32
        community = spec.community.reveal().encode()
        if spec.usm is not None:
            data = self._v3_trap(device, spec.usm, uptime,
                                 [(SYS_UPTIME, Tag.TIMETICKS, uptime),
                                  (SNMP_TRAP_OID, Tag.OBJECT_IDENTIFIER, trap_oid), *varbinds])
        elif self.versions.get(device) == "1":
            recs = {r.oid: r for r in injector._base(device)}
            rec = recs.get(SYS_OBJECT_ID)
            sys_object_id = parse_oid(rec.value) if rec is not None and rec.tag == "6" \
                else LAB_ENTERPRISE
            enterprise, generic, specific = v1_form(trap_oid, sys_object_id)
            data = encode_v1_trap(community, enterprise, spec.address, generic, specific,
                                  uptime, varbinds)
        else:
            data = encode_message(VERSION_2C, community, SNMPV2_TRAP, self._request_id, 0, 0,
                                  [(SYS_UPTIME, Tag.TIMETICKS, uptime),
                                   (SNMP_TRAP_OID, Tag.OBJECT_IDENTIFIER, trap_oid), *varbinds])
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((spec.address, 0))
                s.sendto(data, self.destination)
        except OSError as exc:
            log.warning("trap from %s to %s:%d not sent: %s", device, *self.destination,
                        exc.strerror or exc)
            return
        self.sent.append((time.time(), device, ".".join(map(str, trap_oid))))
        del self.sent[:-1000]

    def _v3_trap(self, device: str, usm: LabUsm, uptime: int,
                 varbinds: list[tuple[OID, int, Value]]) -> bytes:
        """An SNMPv3 Trap of the device's engine: boots 1 and its time in seconds (a
        receiver checks no time window on a trap, RFC 3414 §3.2 step 7 applies to informs
        sent to its own engine); context engine ID = the device's engine."""
        keys = self._keys.get(device)
        if keys is None:
            keys = self._keys[device] = EngineKeys(
                usm.engine_id,
                AUTH_PROTOCOLS[usm.auth_protocol] if usm.auth_protocol else None,
                usm.auth_key.reveal().encode() if usm.auth_key is not None else None,
                PRIV_PROTOCOLS[usm.priv_protocol] if usm.priv_protocol else None,
                usm.priv_key.reveal().encode() if usm.priv_key is not None else None)
        flags = (FLAG_AUTH if usm.auth_protocol else 0) | (FLAG_PRIV if usm.priv_protocol else 0)
        pdu = tlv(SNMPV2_TRAP, tlv(Tag.INTEGER, encode_signed(self._request_id))
                  + b"\x02\x01\x00\x02\x01\x00"
                  + tlv(0x30, b"".join(encode_varbind(o, t, v) for o, t, v in varbinds)))
        return encode_v3_message(self._request_id, flags,
                                 UsmParams(usm.engine_id, 1, uptime // 100, usm.user.encode()),
                                 pdu, context_engine_id=usm.engine_id, context_name=b"",
                                 keys=keys if flags else None)

