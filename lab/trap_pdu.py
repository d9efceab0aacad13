"""An SNMPv1 Trap-PDU (RFC 1157 §4.1.6) for the lab's devices, from the v2 trap they mean.

The v2 → v1 form is RFC 3584 §3.2: a generic trap (snmpTraps.1..6: coldStart .. linkUp)
becomes generic-trap 0..5 with the device's sysObjectID as enterprise; any other trap OID
`E.0.S` (or `E.S` when there is no 0 before its last number, as the UPS-MIB's) becomes
enterpriseSpecific(6) with enterprise E and specific-trap S. The receiver maps it back the
same way (collector.traps.message.v1_trap_oid, collector.traps.mapping).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from borderwatch.collector.snmp.ber import (
    TRAP_V1,
    VERSION_1,
    encode_signed,
    encode_unsigned,
    encode_value,
    encode_varbind,
    tlv,
)
from borderwatch.collector.snmp.types import OID, Tag, Value

SNMP_TRAPS = (1, 3, 6, 1, 6, 3, 1, 1, 5)  # coldStart.1 .. egpNeighborLoss.6
_SEQUENCE = 0x30


def v1_form(trap_oid: OID, sys_object_id: OID) -> tuple[OID, int, int]:
    """(enterprise, generic-trap, specific-trap) of a v2 trap OID."""
    if trap_oid[:-1] == SNMP_TRAPS and 1 <= trap_oid[-1] <= 6:
        return sys_object_id, trap_oid[-1] - 1, 0
    if len(trap_oid) > 2 and trap_oid[-2] == 0:
        return trap_oid[:-2], 6, trap_oid[-1]
    return trap_oid[:-1], 6, trap_oid[-1]


def encode_v1_trap(community: bytes, enterprise: OID, agent_address: str, generic: int,
                   specific: int, uptime: int,
                   varbinds: Iterable[tuple[OID, int, Value]]) -> bytes:
    """A whole v1 message carrying a Trap-PDU."""
    pdu = (encode_value(Tag.OBJECT_IDENTIFIER, enterprise)
           + tlv(Tag.IP_ADDRESS, ipaddress.IPv4Address(agent_address).packed)
           + tlv(Tag.INTEGER, encode_signed(generic))
           + tlv(Tag.INTEGER, encode_signed(specific))
           + tlv(Tag.TIMETICKS, encode_unsigned(uptime))
           + tlv(_SEQUENCE, b"".join(encode_varbind(o, t, v) for o, t, v in varbinds)))
    return tlv(_SEQUENCE, tlv(Tag.INTEGER, encode_signed(VERSION_1))
               + tlv(Tag.OCTET_STRING, community) + tlv(TRAP_V1, pdu))
