"""Compact BER codec for SNMP v1/v2c messages: the hot path that must not touch pyasn1.

Scope: Message ::= SEQUENCE { version INTEGER, community OCTET STRING, PDU } with the PDUs
that share the request/response layout (Get, GetNext, Response, Set, GetBulk, Inform,
SNMPv2-Trap, Report). v1 Trap-PDU and SNMPv3 messages are refused.

Decoding is strict about structure and lenient nowhere it matters for safety:
every length is checked against its enclosing element, indefinite lengths (0x80) and
lengths over 4 bytes are refused, trailing bytes are refused, and because the parser
walks the fixed SNMP shape iteratively (message → PDU → varbind list → varbind), nesting
depth is bounded by construction (a 10,000-deep SEQUENCE fails at the first wrong tag).
Structural faults raise `MalformedPacket` (an `SnmpMalformed`) with a short reason and,
when the header was readable, the request-id, so the transport can fail the right request.

A *value* that is well framed but unacceptable (Counter32 wider than 32 bits, Counter64
wider than 64, INTEGER outside Integer32, an IpAddress of 5 bytes, an unknown type, ...)
does not sink the message: that varbind comes back as tag `Tag.BAD_VALUE` with a `BadValue`
(wire tag + reason) and every other varbind is kept (reliability test A12).

Unsigned types (Counter32, Gauge32, TimeTicks, Counter64) encoded as a *negative* number
are read as two's complement of their width, as net-snmp does: some agents put a uint32
into a signed int32 before encoding it, and this reading gives the value they meant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from borderwatch.collector.snmp.types import OID, BadValue, SnmpMalformed, Tag, Value, VarBind

VERSION_1 = 0
VERSION_2C = 1

GET_REQUEST = 0xA0
GET_NEXT_REQUEST = 0xA1
RESPONSE = 0xA2
SET_REQUEST = 0xA3
GET_BULK_REQUEST = 0xA5
INFORM_REQUEST = 0xA6
TRAP_V1 = 0xA4  # SNMPv1 Trap-PDU (RFC 1157): its own layout, decoded by decode_v1_trap
SNMPV2_TRAP = 0xA7
REPORT = 0xA8
PDU_TYPES = frozenset(
    {GET_REQUEST, GET_NEXT_REQUEST, RESPONSE, SET_REQUEST, GET_BULK_REQUEST,
     INFORM_REQUEST, SNMPV2_TRAP, REPORT}
)

MAX_OID_LENGTH = 128  # RFC 2578 §7.1.3: at most 128 sub-identifiers
MAX_SUBID = 0xFFFFFFFF  # each sub-identifier is at most 2^32-1

_SEQUENCE = 0x30
_INT32_MIN, _INT32_MAX = -0x80000000, 0x7FFFFFFF
_BAD = Tag.BAD_VALUE


class MalformedPacket(SnmpMalformed):
    """A datagram that is not a well-formed SNMP message; `request_id` if it was readable."""

    def __init__(self, reason: str, request_id: int | None = None) -> None:
        super().__init__(reason)
        self.request_id = request_id


class Message(NamedTuple):
    """One decoded v1/v2c message. For GetBulk the two error fields are the bulk fields."""

    version: int
    community: bytes
    pdu_type: int
    request_id: int
    error_status: int  # non-repeaters in a GetBulkRequest
    error_index: int  # max-repetitions in a GetBulkRequest
    varbinds: list[VarBind]


# --------------------------------------------------------------------------- decoding


def _long_length(data: bytes, pos: int, first: int, end: int) -> tuple[int, int]:
    """Read the long form of a length whose first octet (at pos-1) is `first`."""
    count = first & 0x7F
    if count == 0:
        raise MalformedPacket(f"indefinite length at offset {pos - 1}")
    if count > 4:
        raise MalformedPacket(f"{count}-byte length at offset {pos - 1}")
    if pos + count > end:
        raise MalformedPacket(f"length field runs past data at offset {pos - 1}")
    return int.from_bytes(data[pos:pos + count], "big"), pos + count


def element(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    """Check for a `tag` element at pos within end; return (content start, content end).

    Public because the SNMPv3 message format (v3_message.py) is parsed with it too."""
    if pos + 2 > end:
        raise MalformedPacket(f"{what} missing at offset {pos}")
    if data[pos] != tag:
        raise MalformedPacket(f"expected {what} at offset {pos}, got tag 0x{data[pos]:02x}")
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        length, start = _long_length(data, start, length, end)
    stop = start + length
    if stop > end:
        raise MalformedPacket(f"length exceeds data at offset {pos}")
    return start, stop


def _header_int(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """An INTEGER field of the header (version, request-id, error fields), Integer32 range."""
    start, stop = element(data, pos, end, Tag.INTEGER, what)
    if not 1 <= stop - start <= 5:
        raise MalformedPacket(f"{what} of {stop - start} bytes at offset {pos}")
    value = int.from_bytes(data[start:stop], "big", signed=True)
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise MalformedPacket(f"{what} out of range at offset {pos}")
    return value, stop


def _oid_slow(raw: bytes) -> OID | str:
    """Decode OID content with multi-byte sub-identifiers; a reason string if invalid."""
    subids: list[int] = []
    value = 0
    fresh = True  # at the first octet of a sub-identifier
    for octet in raw:
        if fresh and octet == 0x80:
            return "non-minimal sub-identifier"  # X.690 8.19.2: leading 0x80 is forbidden
        value = (value << 7) | (octet & 0x7F)
        if value > MAX_SUBID + 80:  # +80: the first one holds 2.X; also bounds the work
            return "sub-identifier too large"
        if octet & 0x80:
            fresh = False
            continue
        subids.append(value)
        value = 0
        fresh = True
    if not fresh:
        return "OID ends inside a sub-identifier"
    first = subids[0]
    head = divmod(first, 40) if first < 80 else (2, first - 80)
    oid = head + tuple(subids[1:])
    if max(oid) > MAX_SUBID:
        return "sub-identifier too large"
    if len(oid) > MAX_OID_LENGTH:
        return "OID longer than 128 sub-identifiers"
    return oid


def oid_from_ber(raw: bytes) -> OID | str:
    """Decode OID content octets; returns the OID tuple, or a short reason if invalid."""
    if not raw:
        return "empty OID"
    if raw.isascii():
        # Every octet < 0x80: one octet per sub-identifier, which is the common case and
        # lets C code build the tuple (bytes iterate as ints).
        if len(raw) > MAX_OID_LENGTH - 1:
            return "OID longer than 128 sub-identifiers"
        first = raw[0]
        return (first // 40, first % 40, *raw[1:]) if first < 80 else (2, first - 80, *raw[1:])
    return _oid_slow(raw)


# Decoded OIDs by their content octets. The same OIDs come back every poll (and from every
# device of a kind), so this turns most OID decodes into one dict lookup. Bounded: cleared
# when full, which costs one round of re-decoding.
_OID_CACHE: dict[bytes, OID] = {}
_OID_CACHE_MAX = 50_000


def _unsigned(data: bytes, start: int, stop: int, tag: int, bits: int) -> Value:
    """Counter32/Gauge32/TimeTicks (bits=32) or Counter64 (bits=64) content, or BadValue."""
    size = stop - start
    if size == 0 or size > bits // 8 + 1:
        return BadValue(tag, f"{_TYPE_NAMES[tag]} out of range ({size} bytes)")
    value = int.from_bytes(data[start:stop], "big", signed=True)
    limit = 1 << bits
    if value < 0:
        if value < -(limit >> 1):
            return BadValue(tag, f"{_TYPE_NAMES[tag]} out of range")
        return value + limit  # an agent that encoded it as signed: read like net-snmp
    if value >= limit:
        return BadValue(tag, f"{_TYPE_NAMES[tag]} out of range ({size} bytes)")
    return value


def _integer32(data: bytes, start: int, stop: int) -> Value:
    """INTEGER content off the fast path: empty, or 5+ bytes (valid only if non-minimal)."""
    size = stop - start
    if 0 < size <= 9:
        value = int.from_bytes(data[start:stop], "big", signed=True)
        if _INT32_MIN <= value <= _INT32_MAX:
            return value
    return BadValue(Tag.INTEGER, f"INTEGER out of Integer32 range ({size} bytes)")


_TYPE_NAMES = {
    Tag.INTEGER: "INTEGER", Tag.OCTET_STRING: "OCTET STRING", Tag.NULL: "NULL",
    Tag.OBJECT_IDENTIFIER: "OBJECT IDENTIFIER", Tag.IP_ADDRESS: "IpAddress",
    Tag.COUNTER32: "Counter32", Tag.GAUGE32: "Gauge32", Tag.TIMETICKS: "TimeTicks",
    Tag.OPAQUE: "Opaque", Tag.COUNTER64: "Counter64", Tag.NO_SUCH_OBJECT: "noSuchObject",
    Tag.NO_SUCH_INSTANCE: "noSuchInstance", Tag.END_OF_MIB_VIEW: "endOfMibView",
}


def _other_value(data: bytes, start: int, stop: int, tag: int) -> tuple[int, Value]:
    """Values off the fast path: NULL, OID, IpAddress, Opaque, exceptions, unknown tags."""
    size = stop - start
    if tag == Tag.NULL or tag in (0x80, 0x81, 0x82):
        if size:
            return _BAD, BadValue(tag, f"{_TYPE_NAMES[tag]} with {size} content bytes")
        return tag, None
    if tag == Tag.OBJECT_IDENTIFIER:
        oid = oid_from_ber(data[start:stop])
        if isinstance(oid, str):
            return _BAD, BadValue(tag, oid)
        return tag, oid
    if tag == Tag.IP_ADDRESS:
        if size != 4:
            return _BAD, BadValue(tag, f"IpAddress of {size} bytes")
        return tag, data[start:stop]
    if tag == Tag.OPAQUE:
        return tag, data[start:stop]
    return _BAD, BadValue(tag, f"unknown value type 0x{tag:02x}")


def _varbinds(data: bytes, pos: int, end: int) -> list[VarBind]:
    """Decode a varbind list's content (pos..end). The hot loop: keep it flat."""
    out: list[VarBind] = []
    append = out.append
    cache = _OID_CACHE
    # VarBind(...) runs NamedTuple's Python-level __new__; tuple.__new__ builds the same
    # object in C (a third of the cost of making one varbind).
    new, varbind = tuple.__new__, VarBind
    while pos < end:
        at = pos
        if pos + 2 > end or data[pos] != _SEQUENCE:
            raise MalformedPacket(f"expected varbind at offset {pos}")
        length = data[pos + 1]
        pos += 2
        if length & 0x80:
            length, pos = _long_length(data, pos, length, end)
        vb_end = pos + length
        if vb_end > end:
            raise MalformedPacket(f"length exceeds data at offset {at}")

        # name
        if pos + 2 > vb_end or data[pos] != 0x06:
            raise MalformedPacket(f"expected OID at offset {pos}")
        length = data[pos + 1]
        pos += 2
        if length & 0x80:
            length, pos = _long_length(data, pos, length, vb_end)
        stop = pos + length
        if stop > vb_end:
            raise MalformedPacket(f"length exceeds data at offset {at}")
        raw = data[pos:stop]
        oid = cache.get(raw)
        if oid is None:
            oid = oid_from_ber(raw)
            if isinstance(oid, str):
                raise MalformedPacket(f"bad varbind OID at offset {pos} ({oid})")
            if len(cache) >= _OID_CACHE_MAX:
                cache.clear()
            cache[raw] = oid
        pos = stop

        # value
        if pos + 2 > vb_end:
            raise MalformedPacket(f"value missing at offset {pos}")
        tag = data[pos]
        length = data[pos + 1]
        pos += 2
        if length & 0x80:
            length, pos = _long_length(data, pos, length, vb_end)
        stop = pos + length
        if stop != vb_end:
            if stop > vb_end:
                raise MalformedPacket(f"length exceeds data at offset {at}")
            raise MalformedPacket(f"extra bytes in varbind at offset {stop}")
        if tag == 0x41 or tag == 0x42 or tag == 0x43:
            if 0 < length <= 4 and data[pos] < 0x80:
                value = int.from_bytes(data[pos:stop], "big")
            else:
                value = _unsigned(data, pos, stop, tag, 32)
                if type(value) is BadValue:
                    tag = _BAD
        elif tag == 0x04:
            value = data[pos:stop]
        elif tag == 0x02:
            if 0 < length <= 4:
                value = int.from_bytes(data[pos:stop], "big", signed=True)
            else:
                value = _integer32(data, pos, stop)
                if type(value) is BadValue:
                    tag = _BAD
        elif tag == 0x46:
            if 0 < length <= 8 and data[pos] < 0x80:
                value = int.from_bytes(data[pos:stop], "big")
            else:
                value = _unsigned(data, pos, stop, tag, 64)
                if type(value) is BadValue:
                    tag = _BAD
        else:
            tag, value = _other_value(data, pos, stop, tag)
        append(new(varbind, (oid, tag, value)))
        pos = vb_end
    return out


def decode_message(data: bytes) -> Message:
    """Decode one v1/v2c datagram; raises MalformedPacket (an SnmpMalformed) if it is not one."""
    end = len(data)
    if end == 0:
        raise MalformedPacket("empty datagram")
    pos, stop = element(data, 0, end, _SEQUENCE, "message SEQUENCE")
    if stop != end:
        raise MalformedPacket(f"{end - stop} bytes of trailing garbage")
    version, pos = _header_int(data, pos, end, "version")
    if version not in (VERSION_1, VERSION_2C):
        raise MalformedPacket(f"unsupported SNMP version field {version}")
    start, pos = element(data, pos, end, Tag.OCTET_STRING, "community")
    community = data[start:pos]
    if pos + 2 > end:
        raise MalformedPacket(f"PDU missing at offset {pos}")
    pdu_type = data[pos]
    if pdu_type not in PDU_TYPES:
        raise MalformedPacket(f"unsupported PDU type 0x{pdu_type:02x}")
    pos, stop = element(data, pos, end, pdu_type, "PDU")
    if stop != end:
        raise MalformedPacket(f"extra bytes after PDU at offset {stop}")
    request_id, pos = _header_int(data, pos, end, "request-id")
    try:
        error_status, pos = _header_int(data, pos, end, "error-status")
        error_index, pos = _header_int(data, pos, end, "error-index")
        if error_status < 0 or error_index < 0:
            raise MalformedPacket("negative error-status or error-index")
        pos, stop = element(data, pos, end, _SEQUENCE, "varbind list")
        if stop != end:
            raise MalformedPacket(f"extra bytes after varbind list at offset {stop}")
        varbinds = _varbinds(data, pos, stop)
    except MalformedPacket as exc:
        exc.request_id = request_id
        raise
    return Message(version, community, pdu_type, request_id, error_status, error_index, varbinds)


class V1Trap(NamedTuple):
    """One decoded SNMPv1 Trap-PDU (RFC 1157 §4.1.6)."""

    community: bytes
    enterprise: OID
    agent_address: bytes  # 4 bytes, as the agent claims it (the datagram's source is what counts)
    generic_trap: int  # coldStart(0) .. enterpriseSpecific(6)
    specific_trap: int
    time_stamp: int  # sysUpTime of the agent in hundredths of a second
    varbinds: list[VarBind]


def decode_v1_trap(data: bytes) -> V1Trap:
    """Decode a v1 datagram carrying a Trap-PDU; MalformedPacket if it is not one."""
    end = len(data)
    if end == 0:
        raise MalformedPacket("empty datagram")
    pos, stop = element(data, 0, end, _SEQUENCE, "message SEQUENCE")
    if stop != end:
        raise MalformedPacket(f"{end - stop} bytes of trailing garbage")
    version, pos = _header_int(data, pos, end, "version")
    if version != VERSION_1:
        raise MalformedPacket(f"a Trap-PDU in a message of version field {version}")
    start, pos = element(data, pos, end, Tag.OCTET_STRING, "community")
    community = data[start:pos]
    pos, stop = element(data, pos, end, TRAP_V1, "Trap-PDU")
    if stop != end:
        raise MalformedPacket(f"extra bytes after the Trap-PDU at offset {stop}")
    start, pos = element(data, pos, end, Tag.OBJECT_IDENTIFIER, "enterprise")
    enterprise = oid_from_ber(data[start:pos])
    if isinstance(enterprise, str):
        raise MalformedPacket(f"bad enterprise OID ({enterprise})")
    start, pos = element(data, pos, end, Tag.IP_ADDRESS, "agent-addr")
    if pos - start != 4:
        raise MalformedPacket(f"agent-addr of {pos - start} bytes")
    agent_address = data[start:pos]
    generic, pos = _header_int(data, pos, end, "generic-trap")
    specific, pos = _header_int(data, pos, end, "specific-trap")
    start, pos = element(data, pos, end, Tag.TIMETICKS, "time-stamp")
    stamp = _unsigned(data, start, pos, Tag.TIMETICKS, 32)
    if not isinstance(stamp, int) or not 0 <= generic <= 6:
        raise MalformedPacket("bad time-stamp or generic-trap")
    pos, stop = element(data, pos, end, _SEQUENCE, "varbind list")
    if stop != end:
        raise MalformedPacket(f"extra bytes after varbind list at offset {stop}")
    return V1Trap(community, enterprise, agent_address, generic, specific, stamp,
                  _varbinds(data, pos, stop))


# --------------------------------------------------------------------------- encoding


def encode_length(length: int) -> bytes:
    """Definite-form BER length octets."""
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One element: tag, length, content. Also the tool for crafting odd packets in tests."""
    return bytes((tag,)) + encode_length(len(content)) + content


def encode_oid(oid: Sequence[int]) -> bytes:
    """Content octets of an OBJECT IDENTIFIER; raises ValueError for an invalid OID."""
    if len(oid) < 2 or len(oid) > MAX_OID_LENGTH:
        raise ValueError("an OID has 2 to 128 sub-identifiers")
    first, second = oid[0], oid[1]
    if first not in (0, 1, 2) or second < 0 or (first < 2 and second >= 40):
        raise ValueError(f"invalid OID start {first}.{second}")
    if min(oid) < 0 or max(oid) > MAX_SUBID:
        raise ValueError("sub-identifier out of range 0..4294967295")
    subids = (first * 40 + second, *oid[2:])
    if max(subids) < 0x80:
        return bytes(subids)
    out = bytearray()
    for subid in subids:
        if subid < 0x80:
            out.append(subid)
            continue
        chunk = [subid & 0x7F]
        subid >>= 7
        while subid:
            chunk.append(0x80 | (subid & 0x7F))
            subid >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def encode_signed(value: int) -> bytes:
    """Minimal two's-complement content of an INTEGER."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def encode_unsigned(value: int) -> bytes:
    """Minimal content of an unsigned type (a 0x00 lead octet when the top bit is set)."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


_UNSIGNED_LIMITS = {Tag.COUNTER32: 32, Tag.GAUGE32: 32, Tag.TIMETICKS: 32, Tag.COUNTER64: 64}


def encode_value(tag: int, value: Value) -> bytes:
    """A value element of the given tag; raises ValueError for a value the type cannot hold."""
    if tag == Tag.INTEGER:
        if not isinstance(value, int) or not _INT32_MIN <= value <= _INT32_MAX:
            raise ValueError("INTEGER needs an Integer32 int")
        return tlv(tag, encode_signed(value))
    if tag in _UNSIGNED_LIMITS:
        if not isinstance(value, int) or not 0 <= value < (1 << _UNSIGNED_LIMITS[tag]):
            raise ValueError(f"{_TYPE_NAMES[tag]} out of range")
        return tlv(tag, encode_unsigned(value))
    if tag in (Tag.OCTET_STRING, Tag.OPAQUE, Tag.IP_ADDRESS):
        if not isinstance(value, bytes | bytearray):
            raise ValueError(f"{_TYPE_NAMES[tag]} needs bytes")
        if tag == Tag.IP_ADDRESS and len(value) != 4:
            raise ValueError("IpAddress needs 4 bytes")
        return tlv(tag, bytes(value))
    if tag == Tag.OBJECT_IDENTIFIER:
        if not isinstance(value, tuple):
            raise ValueError("OBJECT IDENTIFIER needs a tuple")
        return tlv(tag, encode_oid(value))
    if tag in (Tag.NULL, Tag.NO_SUCH_OBJECT, Tag.NO_SUCH_INSTANCE, Tag.END_OF_MIB_VIEW):
        return bytes((tag, 0))
    raise ValueError(f"cannot encode tag 0x{tag:02x}")


_NULL_VARBIND_CACHE: dict[OID, bytes] = {}


def encode_varbind(oid: Sequence[int], tag: int = Tag.NULL, value: Value = None) -> bytes:
    """One varbind element (a NULL value by default, as requests carry)."""
    if tag == Tag.NULL:
        key = tuple(oid)
        cached = _NULL_VARBIND_CACHE.get(key)
        if cached is None:
            cached = tlv(_SEQUENCE, tlv(Tag.OBJECT_IDENTIFIER, encode_oid(key)) + b"\x05\x00")
            if len(_NULL_VARBIND_CACHE) >= _OID_CACHE_MAX:
                _NULL_VARBIND_CACHE.clear()
            _NULL_VARBIND_CACHE[key] = cached
        return cached
    return tlv(_SEQUENCE, tlv(Tag.OBJECT_IDENTIFIER, encode_oid(oid)) + encode_value(tag, value))


def encode_message(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    error_status: int,
    error_index: int,
    varbinds: Iterable[VarBind | tuple[OID, int, Value]] | bytes,
) -> bytes:
    """A whole message. `varbinds` may be pre-encoded bytes (the varbind list's content),
    which is how tests and the evil agent craft odd values."""
    if version not in (VERSION_1, VERSION_2C) or pdu_type not in PDU_TYPES:
        raise ValueError("unsupported version or PDU type")
    if isinstance(varbinds, bytes | bytearray):
        vbl = bytes(varbinds)
    else:
        vbl = b"".join(encode_varbind(oid, tag, value) for oid, tag, value in varbinds)
    pdu = (
        tlv(Tag.INTEGER, encode_signed(request_id))
        + tlv(Tag.INTEGER, encode_signed(error_status))
        + tlv(Tag.INTEGER, encode_signed(error_index))
        + tlv(_SEQUENCE, vbl)
    )
    return tlv(
        _SEQUENCE,
        tlv(Tag.INTEGER, encode_signed(version))
        + tlv(Tag.OCTET_STRING, bytes(community))
        + tlv(pdu_type, pdu),
    )


def encode_request(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: Iterable[Sequence[int]],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """A Get/GetNext/GetBulk request with NULL values; bulk fields only for GetBulk."""
    if pdu_type == GET_BULK_REQUEST:
        if version == VERSION_1:
            raise ValueError("GetBulk does not exist in SNMPv1")
        status, index = non_repeaters, max_repetitions
    else:
        status = index = 0
    vbl = b"".join([encode_varbind(oid) for oid in oids])
    return encode_message(version, community, pdu_type, request_id, status, index, vbl)
