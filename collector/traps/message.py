"""Decoding and authenticating one trap datagram (v1, v2c; v3 in usm_receiver) into a `Trap`.

A trap is believed only from a device of the inventory and only with that device's
credential: the community of a v1/v2c credential (compared in constant time), the user,
security level and keys of a v3 one. Everything else is a `Rejected` with a reason fit
for a log line and a metric label: no secret, no device string.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Literal

from borderwatch.collector.inventory import EffectiveDeviceSettings
from borderwatch.collector.secret import Secret
from borderwatch.collector.snmp.ber import (
    INFORM_REQUEST,
    RESPONSE,
    SNMPV2_TRAP,
    TRAP_V1,
    VERSION_1,
    VERSION_2C,
    MalformedPacket,
    decode_message,
    decode_v1_trap,
    encode_message,
    encode_varbind,
)
from borderwatch.collector.snmp.types import OID, Tag, VarBind

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SNMP_TRAPS = (1, 3, 6, 1, 6, 3, 1, 1, 5)  # coldStart.1 .. egpNeighborLoss.6 (RFC 3584 §3.1)

Reason = Literal["malformed", "bad_credentials", "unsupported", "discovery", "time_window"]


@dataclass(frozen=True, slots=True)
class TrapCredential:
    """What a device must prove for its traps to count (from its inventory credential)."""

    version: str  # "1", "2c" or "3"
    community: Secret | None = None
    user: bytes = b""
    auth_protocol: str | None = None
    auth_key: Secret | None = None
    priv_protocol: str | None = None
    priv_key: Secret | None = None

    @classmethod
    def of(cls, eff: EffectiveDeviceSettings) -> TrapCredential:
        """The credential a device polls with is the one its traps must carry."""
        c = eff.credential
        return cls(version=c.version, community=c.community,
                   user=(c.user or "").encode(), auth_protocol=c.auth_protocol,
                   auth_key=c.auth_key, priv_protocol=c.priv_protocol, priv_key=c.priv_key)


@dataclass(frozen=True, slots=True)
class Trap:
    """An authenticated notification: which kind, its trap OID and its other varbinds."""

    version: str  # "1", "2c", "3"
    pdu: Literal["trap", "inform"]
    trap_oid: OID
    varbinds: tuple[VarBind, ...]  # without sysUpTime.0 and snmpTrapOID.0
    uptime: int | None = None  # sysUpTime (hundredths) the device stamped on it
    response: bytes | None = field(default=None, repr=False)  # the inform's acknowledgement
    engine_id: bytes | None = None  # v3: the authoritative engine ID the message carried


@dataclass(frozen=True, slots=True)
class Rejected:
    """A datagram that is not acted on, and why (a metric label and a secret-free detail)."""

    reason: Reason
    detail: str
    response: bytes | None = None  # a v3 discovery Report: not a trap, but answered


def v1_trap_oid(enterprise: OID, generic: int, specific: int) -> OID:
    """The v2 trap OID of a v1 trap (RFC 3584 §3.1.1)."""
    if generic < 6:
        return (*SNMP_TRAPS, generic + 1)
    return (*enterprise, 0, specific)


def split_v2(varbinds: list[VarBind]) -> tuple[OID, int | None, tuple[VarBind, ...]] | None:
    """(trap OID, sysUpTime, the rest) of a v2 notification; None without snmpTrapOID.0."""
    uptime: int | None = None
    trap_oid: OID | None = None
    rest = []
    for vb in varbinds:
        if vb.oid == SYS_UPTIME and vb.tag == Tag.TIMETICKS and uptime is None:
            uptime = int(vb.value)  # type: ignore[arg-type]
        elif vb.oid == SNMP_TRAP_OID and vb.tag == Tag.OBJECT_IDENTIFIER and trap_oid is None:
            trap_oid = vb.value  # type: ignore[assignment]
        else:
            rest.append(vb)
    return None if trap_oid is None else (trap_oid, uptime, tuple(rest))


def _community_ok(got: bytes, cred: TrapCredential) -> bool:
    if cred.version == "3" or cred.community is None:
        return False
    return hmac.compare_digest(got, cred.community.reveal().encode())


def acknowledgement_varbinds(varbinds: list[VarBind]) -> bytes:
    """The inform's varbinds re-encoded for its Response (RFC 3416 §4.2.7); none if one of
    them cannot be (net-snmp matches the answer by its request-id)."""
    try:
        return b"".join(encode_varbind(vb.oid, vb.tag, vb.value) for vb in varbinds)
    except ValueError:
        return b""


def decode_community(data: bytes, cred: TrapCredential) -> Trap | Rejected:
    """A v1 or v2c datagram from a device with `cred`: the trap, or why not."""
    if _looks_v1_trap(data):
        try:
            v1 = decode_v1_trap(data)
        except MalformedPacket as exc:
            return Rejected("malformed", f"v1 trap: {exc}")
        if not _community_ok(v1.community, cred):
            return Rejected("bad_credentials", "v1 trap with a wrong community")
        return Trap("1", "trap", v1_trap_oid(v1.enterprise, v1.generic_trap, v1.specific_trap),
                    tuple(v1.varbinds), v1.time_stamp)
    try:
        msg = decode_message(data)
    except MalformedPacket as exc:
        return Rejected("malformed", str(exc))
    if msg.pdu_type not in (SNMPV2_TRAP, INFORM_REQUEST) or msg.version != VERSION_2C:
        return Rejected("unsupported", f"PDU 0x{msg.pdu_type:02x} in a v"
                        f"{'1' if msg.version == VERSION_1 else '2c'} message")
    if not _community_ok(msg.community, cred):
        return Rejected("bad_credentials", "v2c notification with a wrong community")
    parts = split_v2(msg.varbinds)
    if parts is None:
        return Rejected("malformed", "v2c notification without snmpTrapOID.0")
    trap_oid, uptime, rest = parts
    if msg.pdu_type == INFORM_REQUEST:
        ack = encode_message(VERSION_2C, msg.community, RESPONSE, msg.request_id, 0, 0,
                             acknowledgement_varbinds(msg.varbinds))
        return Trap("2c", "inform", trap_oid, rest, uptime, ack)
    return Trap("2c", "trap", trap_oid, rest, uptime)


def _looks_v1_trap(data: bytes) -> bool:
    """Whether the PDU after version and community is a v1 Trap-PDU (tag 0xA4)."""
    try:
        pos = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
        pos += 2 + data[pos + 1]  # version INTEGER (short)
        if data[pos + 1] & 0x80:
            n = data[pos + 1] & 0x7F
            pos += 2 + n + int.from_bytes(data[pos + 2:pos + 2 + n], "big")
        else:
            pos += 2 + data[pos + 1]
        return data[pos] == TRAP_V1
    except IndexError:
        return False
