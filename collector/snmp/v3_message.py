"""SNMPv3 message framing (RFC 3412 msgGlobalData, RFC 3414 USM parameters) over our BER.

    SNMPv3Message ::= SEQUENCE { msgVersion INTEGER (3),
        msgGlobalData SEQUENCE { msgID, msgMaxSize INTEGER, msgFlags OCTET STRING (1 byte),
                                 msgSecurityModel INTEGER (3 = USM) },
        msgSecurityParameters OCTET STRING containing SEQUENCE {
            engineID OCTET STRING, engineBoots INTEGER, engineTime INTEGER,
            userName OCTET STRING, authParameters OCTET STRING, privParameters OCTET STRING },
        msgData: ScopedPDU, or OCTET STRING (the encrypted ScopedPDU) }
    ScopedPDU ::= SEQUENCE { contextEngineID OCTET STRING, contextName OCTET STRING, PDU }

The PDU inside is the v2c PDU that collector.snmp.ber encodes and decodes; this module
only adds the v3 envelope and calls `usm` for the MAC and the cipher. Decoding is as strict
as ber.py's: every length is checked against its enclosing element, and nothing of a
response is believed before its MAC is checked (`open_response`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from borderwatch.collector.snmp.ber import (
    GET_BULK_REQUEST,
    REPORT,
    VERSION_2C,
    MalformedPacket,
    Message,
    decode_message,
    element,
    encode_signed,
    encode_varbind,
    tlv,
)
from borderwatch.collector.snmp.types import Tag
from borderwatch.collector.snmp.usm import EngineKeys

VERSION_3 = 3
USM = 3
MAX_SIZE = 65507  # the largest UDP payload over IPv4

FLAG_AUTH = 0x01
FLAG_PRIV = 0x02
FLAG_REPORTABLE = 0x04

_SEQ = 0x30
_INT = Tag.INTEGER
_OCTETS = Tag.OCTET_STRING


class UsmParams(NamedTuple):
    """msgSecurityParameters of a message (authParameters/privParameters excluded)."""

    engine_id: bytes
    boots: int
    time: int
    user: bytes


class Envelope(NamedTuple):
    """A v3 datagram taken apart, before its MAC is checked or its PDU decrypted."""

    msg_id: int
    flags: int
    usm: UsmParams
    auth_params: bytes
    auth_offset: int  # where auth_params' content starts in the datagram
    priv_params: bytes
    data: bytes  # the ScopedPDU, or the encrypted ScopedPDU when FLAG_PRIV is set


def encode_pdu(pdu_type: int, request_id: int, oids: Iterable[Sequence[int]], *,
               max_repetitions: int = 0) -> bytes:
    """A Get/GetNext/GetBulk PDU (NULL values) as the v2c codec would put it in a message."""
    index = max_repetitions if pdu_type == GET_BULK_REQUEST else 0
    vbl = b"".join([encode_varbind(oid) for oid in oids])
    return tlv(pdu_type, tlv(_INT, encode_signed(request_id)) + b"\x02\x01\x00"
               + tlv(_INT, encode_signed(index)) + tlv(_SEQ, vbl))


def encode_message(msg_id: int, flags: int, usm: UsmParams, pdu: bytes, *,
                   context_engine_id: bytes, context_name: bytes,
                   keys: EngineKeys | None) -> bytes:
    """A whole v3 message: encrypted if FLAG_PRIV, then signed if FLAG_AUTH (with `keys`)."""
    scoped = tlv(_SEQ, tlv(_OCTETS, context_engine_id) + tlv(_OCTETS, context_name) + pdu)
    priv_params = b""
    if flags & FLAG_PRIV:
        assert keys is not None
        encrypted, priv_params = keys.encrypt(scoped, usm.boots, usm.time)
        msg_data = tlv(_OCTETS, encrypted)
    else:
        msg_data = scoped
    mac_length = keys.auth.mac_length if flags & FLAG_AUTH and keys and keys.auth else 0
    before_mac = (tlv(_OCTETS, usm.engine_id) + tlv(_INT, encode_signed(usm.boots))
                  + tlv(_INT, encode_signed(usm.time)) + tlv(_OCTETS, usm.user))
    after_mac = tlv(_OCTETS, priv_params)
    security = tlv(_SEQ, before_mac + tlv(_OCTETS, bytes(mac_length)) + after_mac)
    header = (b"\x02\x01\x03"
              + tlv(_SEQ, tlv(_INT, encode_signed(msg_id)) + tlv(_INT, encode_signed(MAX_SIZE))
                    + tlv(_OCTETS, bytes((flags,))) + b"\x02\x01\x03"))
    body = header + tlv(_OCTETS, security) + msg_data
    whole = tlv(_SEQ, body)
    if not mac_length:
        return whole
    assert keys is not None
    # The MAC field's content ends where the privacy parameters' element begins.
    end = len(whole) - len(msg_data) - len(after_mac)
    return whole[:end - mac_length] + keys.mac(whole) + whole[end:]


# --------------------------------------------------------------------------- decoding


def _integer(data: bytes, pos: int, end: int, what: str, limit: int = 0x7FFFFFFF) -> tuple[int,
                                                                                          int]:
    start, stop = element(data, pos, end, _INT, what)
    if not 1 <= stop - start <= 5:
        raise MalformedPacket(f"{what} of {stop - start} bytes at offset {pos}")
    value = int.from_bytes(data[start:stop], "big", signed=True)
    if not 0 <= value <= limit:
        raise MalformedPacket(f"{what} out of range at offset {pos}")
    return value, stop


def _octets(data: bytes, pos: int, end: int, what: str) -> tuple[bytes, int, int]:
    start, stop = element(data, pos, end, _OCTETS, what)
    return data[start:stop], start, stop


def peek_msg_id(data: bytes) -> int | None:
    """The msgID of a v3 datagram, or None if it is not one (for routing answers only)."""
    try:
        end = len(data)
        pos, stop = element(data, 0, end, _SEQ, "message")
        version, pos = _integer(data, pos, stop, "msgVersion")
        if version != VERSION_3:
            return None
        pos, stop = element(data, pos, stop, _SEQ, "msgGlobalData")
        return _integer(data, pos, stop, "msgID")[0]
    except MalformedPacket:
        return None


def decode_envelope(data: bytes) -> Envelope:
    """Take a v3 datagram apart (MalformedPacket if it is not a well-formed USM message)."""
    end = len(data)
    pos, stop = element(data, 0, end, _SEQ, "message SEQUENCE")
    if stop != end:
        raise MalformedPacket(f"{end - stop} bytes of trailing garbage")
    version, pos = _integer(data, pos, end, "msgVersion")
    if version != VERSION_3:
        raise MalformedPacket(f"msgVersion {version}, not 3")
    pos, header_end = element(data, pos, end, _SEQ, "msgGlobalData")
    msg_id, pos = _integer(data, pos, header_end, "msgID")
    _max_size, pos = _integer(data, pos, header_end, "msgMaxSize")
    flags, _, pos = _octets(data, pos, header_end, "msgFlags")
    model, pos = _integer(data, pos, header_end, "msgSecurityModel")
    if len(flags) != 1 or model != USM:
        raise MalformedPacket(f"msgFlags of {len(flags)} bytes or security model {model}")
    pos = header_end
    start, params_end = element(data, pos, end, _OCTETS, "msgSecurityParameters")
    pos, stop = element(data, start, params_end, _SEQ, "UsmSecurityParameters")
    if stop != params_end:
        raise MalformedPacket("extra bytes in msgSecurityParameters")
    engine_id, _, pos = _octets(data, pos, stop, "msgAuthoritativeEngineID")
    boots, pos = _integer(data, pos, stop, "msgAuthoritativeEngineBoots")
    engine_time, pos = _integer(data, pos, stop, "msgAuthoritativeEngineTime")
    user, _, pos = _octets(data, pos, stop, "msgUserName")
    auth_params, auth_offset, pos = _octets(data, pos, stop, "msgAuthenticationParameters")
    priv_params, _, pos = _octets(data, pos, stop, "msgPrivacyParameters")
    if pos != stop:
        raise MalformedPacket("extra bytes in UsmSecurityParameters")
    pos = params_end
    tag = _OCTETS if flags[0] & FLAG_PRIV else _SEQ
    start, stop = element(data, pos, end, tag, "msgData")
    if stop != end:
        raise MalformedPacket(f"extra bytes after msgData at offset {stop}")
    msg_data = data[start:stop] if tag == _OCTETS else data[pos:stop]
    return Envelope(msg_id, flags[0], UsmParams(engine_id, boots, engine_time, user),
                    auth_params, auth_offset, priv_params, msg_data)


def authentic(data: bytes, envelope: Envelope, keys: EngineKeys) -> bool:
    """Whether the datagram's MAC is right for `keys` (the MAC field zeroed, then HMAC)."""
    off, size = envelope.auth_offset, len(envelope.auth_params)
    return keys.verify(data[:off] + bytes(size) + data[off + size:], envelope.auth_params)


class ScopedPdu(NamedTuple):
    """The decoded ScopedPDU: context and the v2c-shaped PDU (as a ber.Message)."""

    context_engine_id: bytes
    context_name: bytes
    message: Message


def decode_scoped_pdu(plain: bytes) -> ScopedPdu:
    """Decode a ScopedPDU; bytes after it are ignored (DES pads to 8, RFC 3414 8.3.2)."""
    pos, stop = element(plain, 0, len(plain), _SEQ, "ScopedPDU")
    context_engine_id, _, pos = _octets(plain, pos, stop, "contextEngineID")
    context_name, _, pos = _octets(plain, pos, stop, "contextName")
    if pos + 2 > stop:
        raise MalformedPacket("PDU missing in ScopedPDU")
    _, pdu_end = element(plain, pos, stop, plain[pos], "PDU")
    if pdu_end != stop:
        raise MalformedPacket("extra bytes in ScopedPDU")
    # ber.py decodes whole v1/v2c messages: wrap the PDU in a v2c header with an empty
    # community, one copy of ~1.5 kB, to reuse its decoder unchanged.
    message = decode_message(tlv(_SEQ, b"\x02\x01\x01\x04\x00" + plain[pos:stop]))
    assert message.version == VERSION_2C
    return ScopedPdu(context_engine_id, context_name, message)


def report_oid(message: Message) -> tuple[int, ...] | None:
    """The counter OID a Report PDU names (its first varbind), None for other PDUs."""
    if message.pdu_type != REPORT or not message.varbinds:
        return None
    return message.varbinds[0].oid
